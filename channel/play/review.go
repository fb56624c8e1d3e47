package play

import (
	"context"
	"fmt"

	"bollard.dev/bollard/channel"
)

// ReleaseSummary.releaseLifecycleState values (the discovery document's enum).
const (
	stateDraft              = "RELEASE_LIFECYCLE_STATE_DRAFT"
	stateNotSentForReview   = "RELEASE_LIFECYCLE_STATE_NOT_SENT_FOR_REVIEW"
	stateInReview           = "RELEASE_LIFECYCLE_STATE_IN_REVIEW"
	stateApprovedNotPublish = "RELEASE_LIFECYCLE_STATE_APPROVED_NOT_PUBLISHED"
	stateNotApproved        = "RELEASE_LIFECYCLE_STATE_NOT_APPROVED"
	statePublished          = "RELEASE_LIFECYCLE_STATE_PUBLISHED"
)

// Review reads Play's review of the release holding r's versionCode from
// applications.tracks.releases.list. The string explains any state that needs a person —
// the API carries no rejection reason, only the state.
func (p *Provider) Review(ctx context.Context, r channel.Ref) (channel.Review, string, error) {
	parent := "applications/" + p.pkg + "/tracks/" + p.track
	resp, err := p.svc.Applications.Tracks.Releases.List(parent).Context(ctx).Do()
	if err != nil {
		return "", "", fmt.Errorf("play: review versionCode %d: applications.tracks.releases.list: %w", r.VersionCode, err)
	}
	for _, rel := range resp.Releases {
		for _, a := range rel.ActiveArtifacts {
			if a.VersionCode != r.VersionCode {
				continue
			}
			name := fmt.Sprintf("release %q (versionCode %d) on track %s", rel.ReleaseName, r.VersionCode, p.track)
			switch rel.ReleaseLifecycleState {
			case statePublished:
				return channel.Approved, "", nil
			case stateApprovedNotPublish:
				return channel.Approved, "Play reports " + name + " approved but not published: publish it in the Play Console (managed publishing)", nil
			case stateNotApproved:
				return channel.Rejected, "Play reports " + name + " not approved in review (" + stateNotApproved +
					"); the Developer API gives no reason — the Play Console shows it", nil
			case stateInReview:
				return channel.InReview, "", nil
			case stateNotSentForReview:
				return channel.InReview, "Play reports " + name + " ready but not sent for review: send it from the Play Console", nil
			case stateDraft:
				return channel.InReview, "Play reports " + name + " as a draft", nil
			default:
				return channel.InReview, fmt.Sprintf("Play reports %s in lifecycle state %q, which bollard does not know", name, rel.ReleaseLifecycleState), nil
			}
		}
	}
	return "", "", fmt.Errorf("play: review: no current release on track %s holds versionCode %d", p.track, r.VersionCode)
}
