package play

import (
	"context"
	"fmt"

	androidpublisher "google.golang.org/api/androidpublisher/v3"

	"bollard.dev/bollard/channel"
)

// Each verb below is one new edit: edits.tracks.get, the change to the release holding
// the Ref's versionCode, edits.tracks.update, edits.validate, edits.commit. A verb whose
// change is already in place commits nothing (and deletes its edit): the engine repeats
// calls whose outcome it lost, and a needless commit would send the app for review again.

// SetPercent offers the release to percent of users. It does not lift a halt — Resume
// does — and does not shrink a completed release.
func (p *Provider) SetPercent(ctx context.Context, r channel.Ref, percent int) (string, error) {
	if err := checkPercent(percent); err != nil {
		return "", fmt.Errorf("play: set percent: %w", err)
	}
	var said string
	err := p.change(ctx, r, func(rel *androidpublisher.TrackRelease) (bool, error) {
		switch rel.Status {
		case statusHalted:
			return false, fmt.Errorf("versionCode %d is halted: Resume lifts a halt", r.VersionCode)
		case statusCompleted:
			if percent != 100 {
				return false, fmt.Errorf("versionCode %d is completed: a completed release cannot go back to %d%%", r.VersionCode, percent)
			}
		}
		return stage(rel, percent, &said), nil
	})
	if err != nil {
		return "", fmt.Errorf("play: set percent %d for versionCode %d: %w", percent, r.VersionCode, err)
	}
	return said, nil
}

// Halt is the red button: status "halted". It returns what that means on Play.
func (p *Provider) Halt(ctx context.Context, r channel.Ref) (string, error) {
	err := p.change(ctx, r, func(rel *androidpublisher.TrackRelease) (bool, error) {
		if rel.Status == statusHalted {
			return false, nil
		}
		// userFraction stays as it was: a halted release may keep it ("Can only be set
		// when status is inProgress or halted"), and Resume sets its own.
		rel.Status = statusHalted
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("play: halt versionCode %d: %w", r.VersionCode, err)
	}
	return fmt.Sprintf("Play halted the rollout of versionCode %d on track %s: no new user is offered it. "+
		"Users who already updated keep the build — Play does not uninstall it or roll them back.", r.VersionCode, p.track), nil
}

// Resume lifts a halt at percent (100 completes the release).
func (p *Provider) Resume(ctx context.Context, r channel.Ref, percent int) error {
	if err := checkPercent(percent); err != nil {
		return fmt.Errorf("play: resume: %w", err)
	}
	err := p.change(ctx, r, func(rel *androidpublisher.TrackRelease) (bool, error) {
		if rel.Status == statusCompleted && percent != 100 {
			return false, fmt.Errorf("versionCode %d is completed, not halted", r.VersionCode)
		}
		var said string
		return stage(rel, percent, &said), nil
	})
	if err != nil {
		return fmt.Errorf("play: resume versionCode %d at %d%%: %w", r.VersionCode, percent, err)
	}
	return nil
}

// Complete offers the release to everyone: status "completed", no userFraction.
func (p *Provider) Complete(ctx context.Context, r channel.Ref) error {
	err := p.change(ctx, r, func(rel *androidpublisher.TrackRelease) (bool, error) {
		var said string
		return stage(rel, 100, &said), nil
	})
	if err != nil {
		return fmt.Errorf("play: complete versionCode %d: %w", r.VersionCode, err)
	}
	return nil
}

// stage sets rel to percent, reports whether that changed it and says what Play was told.
func stage(rel *androidpublisher.TrackRelease, percent int, said *string) bool {
	before := *rel
	setPercent(rel, percent)
	*said = describe(rel)
	return rel.Status != before.Status || rel.UserFraction != before.UserFraction
}

// change applies fn to the track's release holding r's versionCode in a new edit and
// commits it when fn reports a change.
func (p *Provider) change(ctx context.Context, r channel.Ref, fn func(rel *androidpublisher.TrackRelease) (bool, error)) error {
	if r.VersionCode <= 0 {
		return fmt.Errorf("ref has no versionCode")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inEdit(ctx, func(editID string) (bool, error) {
		t, err := p.getTrack(ctx, editID)
		if err != nil {
			return false, err
		}
		var rel *androidpublisher.TrackRelease
		for _, candidate := range t.Releases {
			if holds(candidate, r.VersionCode) {
				rel = candidate
				break
			}
		}
		if rel == nil {
			return false, fmt.Errorf("no release on track %s holds versionCode %d", p.track, r.VersionCode)
		}
		changed, err := fn(rel)
		if err != nil || !changed {
			return false, err
		}
		releases := t.Releases
		if rel.Status == statusCompleted {
			releases = withRelease(nil, rel)
		}
		return true, p.updateTrack(ctx, editID, releases)
	})
}
