package feed

import (
	"context"
	"fmt"

	"bollard.dev/bollard/channel"
)

// Provider is one channel and platform of a feed as a channel.Provider: the ChannelRelease step
// engine drives it like a store. Nothing is reviewed; the signed pointer moves at each step.
type Provider struct {
	Repo              *Repo
	Channel, Platform string
	// File is the artifact's file (a key of channel.Artifact.Files) to publish; "" the only one.
	File string
}

var (
	_ channel.Provider   = (*Provider)(nil)
	_ channel.RollerBack = (*Provider)(nil)
)

// Submit publishes a's file and points the channel at it for percent of installations. A
// version the channel offers already is not published again (the percent is left alone); a
// halted one is refused: only a resume lifts a halt.
func (p *Provider) Submit(_ context.Context, a channel.Artifact, percent int) (channel.Ref, error) {
	ref := channel.Ref{Version: a.Version}
	if cur, err := p.Repo.Pointer(p.Channel, p.Platform); err == nil && cur.Version == a.Version && cur.Withdrawn == "" {
		if cur.Halted {
			return ref, fmt.Errorf("channel %s (%s) is halted at %d%% of %s: resume it (bollard channel resume) rather than ship it again", p.Channel, p.Platform, cur.Percent, a.Version)
		}
		return ref, nil
	}
	file, ok := a.Files[p.File]
	if p.File == "" && len(a.Files) == 1 {
		for _, f := range a.Files {
			file, ok = f, true
		}
	}
	if !ok {
		return ref, fmt.Errorf("the artifact has no file %q to publish (it has %d)", p.File, len(a.Files))
	}
	_, err := p.Repo.Publish(p.Channel, p.Platform, a.Version, percent, file)
	return ref, err
}

// Review: a feed has none.
func (p *Provider) Review(context.Context, channel.Ref) (channel.Review, string, error) {
	return channel.NotReviewed, "", nil
}

// SetPercent moves the pointer to percent, only while the channel still offers r, not halted.
func (p *Provider) SetPercent(_ context.Context, r channel.Ref, percent int) (string, error) {
	ptr, err := p.Repo.MoveOf(p.Channel, p.Platform, r.Version, percent)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s offered to %d%% of installations (signed pointer)", ptr.Version, ptr.Percent), nil
}

// Halt offers r to nobody new. A channel that took r back already (a rollback) is halted as
// far as r goes.
func (p *Provider) Halt(_ context.Context, r channel.Ref) (string, error) {
	if cur, err := p.Repo.Pointer(p.Channel, p.Platform); err == nil && cur.Withdrawn == r.Version {
		return fmt.Sprintf("feed: %s was rolled back already (the channel offers %s)", r.Version, cur.Version), nil
	}
	if _, err := p.Repo.HaltOf(p.Channel, p.Platform, r.Version); err != nil {
		return "", err
	}
	return fmt.Sprintf("feed halted: %s is offered to nobody new; installations that updated keep it until a rollback", r.Version), nil
}

// Resume lifts a halt at percent.
func (p *Provider) Resume(_ context.Context, r channel.Ref, percent int) error {
	_, err := p.Repo.SetPercentOf(p.Channel, p.Platform, r.Version, percent)
	return err
}

// Complete offers r to every installation (lifting a halt: a person asked, or the last step
// held).
func (p *Provider) Complete(_ context.Context, r channel.Ref) error {
	_, err := p.Repo.SetPercentOf(p.Channel, p.Platform, r.Version, 100)
	return err
}

// Rollback points the channel back at the version before r, for everyone.
func (p *Provider) Rollback(_ context.Context, r channel.Ref) (string, error) {
	if cur, err := p.Repo.Pointer(p.Channel, p.Platform); err == nil && cur.Withdrawn == r.Version { // done already (a retry)
		return fmt.Sprintf("the channel offers %s again; installations on %s are offered it back", cur.Version, r.Version), nil
	}
	back, err := p.Repo.RollbackOf(p.Channel, p.Platform, r.Version)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("the channel offers %s again; installations on %s are offered it back", back.Version, r.Version), nil
}
