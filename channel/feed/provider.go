package feed

import (
	"context"
	"errors"
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
// version the channel offers already is not published again (the percent is left alone).
func (p *Provider) Submit(_ context.Context, a channel.Artifact, percent int) (channel.Ref, error) {
	ref := channel.Ref{Version: a.Version}
	if cur, err := p.Repo.Pointer(p.Channel, p.Platform); err == nil && cur.Version == a.Version && cur.Withdrawn == "" {
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

// SetPercent moves the pointer to percent, only while the channel still offers r.
func (p *Provider) SetPercent(_ context.Context, r channel.Ref, percent int) (string, error) {
	ptr, err := p.Repo.SetPercentOf(p.Channel, p.Platform, r.Version, percent)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s offered to %d%% of installations (signed pointer)", ptr.Version, ptr.Percent), nil
}

// Halt offers r to nobody new.
func (p *Provider) Halt(_ context.Context, r channel.Ref) (string, error) {
	cur, err := p.Repo.Pointer(p.Channel, p.Platform)
	if err != nil {
		return "", err
	}
	if cur.Version != r.Version {
		return "", fmt.Errorf("channel %s (%s) offers %s, not %s: nothing of %s to halt", p.Channel, p.Platform, cur.Version, r.Version, r.Version)
	}
	if _, err := p.Repo.Halt(p.Channel, p.Platform); err != nil {
		return "", err
	}
	return fmt.Sprintf("feed halted: %s is offered to nobody new; installations that updated keep it until a rollback", r.Version), nil
}

// Resume lifts a halt at percent.
func (p *Provider) Resume(ctx context.Context, r channel.Ref, percent int) error {
	_, err := p.SetPercent(ctx, r, percent)
	return err
}

// Complete offers r to every installation.
func (p *Provider) Complete(ctx context.Context, r channel.Ref) error {
	_, err := p.SetPercent(ctx, r, 100)
	return err
}

// Rollback points the channel back at the version before r, for everyone.
func (p *Provider) Rollback(_ context.Context, r channel.Ref) (string, error) {
	cur, err := p.Repo.Pointer(p.Channel, p.Platform)
	if err != nil {
		return "", err
	}
	if cur.Withdrawn == r.Version { // done already (a retry)
		return fmt.Sprintf("the channel offers %s again; installations on %s are offered it back", cur.Version, r.Version), nil
	}
	if cur.Version != r.Version {
		return "", errors.New("the channel offers another version now: not rolled back")
	}
	back, err := p.Repo.Rollback(p.Channel, p.Platform)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("the channel offers %s again; installations on %s are offered it back", back.Version, r.Version), nil
}
