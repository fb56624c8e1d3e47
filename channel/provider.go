// Package channel ships signed artifacts to channels that are not Kubernetes — app stores and
// bollard's own desktop update feed — through one staged, SLO-guarded step engine. A Provider
// is one store's verbs; the engine (in the daemon) persists which step it stands at in the
// ChannelRelease's status and drives the provider, so a restarted daemon resumes.
package channel

import "context"

// Artifact is what a provider ships, already verified by pre-flight (digest signature,
// attestations, codesign).
type Artifact struct {
	Version string
	// VersionCode is Play's integer version (ignored elsewhere).
	VersionCode int64
	// Files are the artifact's local files by role: "bundle" (an Android App Bundle), or a
	// feed platform such as "linux-amd64".
	Files map[string]string
	// ReleaseNotes by BCP-47 locale ("en-US").
	ReleaseNotes map[string]string
	// Listings are the store listing texts by BCP-47 locale, submitted with the release (Play).
	Listings map[string]Listing
}

// Listing is a store listing's text in one language.
type Listing struct {
	Title            string `json:"title,omitempty"`
	ShortDescription string `json:"shortDescription,omitempty"`
	FullDescription  string `json:"fullDescription,omitempty"`
	Video            string `json:"video,omitempty"`
}

// Ref names what a provider submitted. It is persisted in the ChannelRelease's status: every
// later call gets it back, from this daemon or the next.
type Ref struct {
	Version     string `json:"version"`
	VersionCode int64  `json:"versionCode,omitempty"`
}

// Review is the store's review of a submission.
type Review string

const (
	InReview Review = "IN_REVIEW"
	Approved Review = "APPROVED"
	Rejected Review = "REJECTED"
	// NotReviewed: the channel has no review (bollard's feed).
	NotReviewed Review = "NOT_REVIEWED"
)

// Provider is one channel's verbs. Every call is idempotent: the engine repeats a call whose
// outcome a crash left unknown.
type Provider interface {
	// Submit uploads a and submits it at percent (the first step) — a version submitted
	// before is not uploaded again.
	Submit(ctx context.Context, a Artifact, percent int) (Ref, error)
	// Review reports the store's review state and, for a rejection, the store's reason.
	Review(ctx context.Context, r Ref) (Review, string, error)
	// SetPercent offers r to percent of users (1–100); the string says what the store made of
	// it ("userFraction 0.1").
	SetPercent(ctx context.Context, r Ref, percent int) (string, error)
	// Halt is the red button: nobody new is offered r. The string says honestly what halting
	// means on this channel (Play: users who updated keep the build).
	Halt(ctx context.Context, r Ref) (string, error)
	// Resume lifts a halt at percent.
	Resume(ctx context.Context, r Ref, percent int) error
	// Complete offers r to everyone.
	Complete(ctx context.Context, r Ref) error
}

// RollerBack is a channel that can also take a version back after a halt — installations on it
// are offered the earlier one (bollard's feed). A store cannot: there, halt is the end.
type RollerBack interface {
	// Rollback points the channel back at the version before r; the string says what users see.
	Rollback(ctx context.Context, r Ref) (string, error)
}
