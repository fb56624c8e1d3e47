package play_test

import (
	"strings"
	"testing"

	"bollard.dev/bollard/channel"
)

func TestReviewMapsTheReleaseLifecycleState(t *testing.T) {
	r := newRig(t)
	ref, err := r.p.Submit(ctx(), r.artifact(42, nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Before the test sets an outcome the fake reports the release in review.
	got, why, err := r.p.Review(ctx(), ref)
	if err != nil || got != channel.InReview || why != "" {
		t.Fatalf("default review: %q %q %v", got, why, err)
	}
	for _, tc := range []struct {
		state string
		want  channel.Review
		why   []string
	}{
		{"IN_REVIEW", channel.InReview, nil},
		{"NOT_SENT_FOR_REVIEW", channel.InReview, []string{"not sent for review", "Play Console"}},
		{"DRAFT", channel.InReview, []string{"draft"}},
		{"APPROVED_NOT_PUBLISHED", channel.Approved, []string{"not published", "publish it in the Play Console"}},
		{"PUBLISHED", channel.Approved, nil},
		{"NOT_APPROVED", channel.Rejected, []string{`release "1.0.42"`, "versionCode 42", "not approved", "RELEASE_LIFECYCLE_STATE_NOT_APPROVED", "no reason"}},
		{"UNSPECIFIED", channel.InReview, []string{"does not know"}},
	} {
		t.Run(tc.state, func(t *testing.T) {
			if err := r.fake.SetReview(pkg, 42, tc.state); err != nil {
				t.Fatal(err)
			}
			got, why, err := r.p.Review(ctx(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("review %q, want %q", got, tc.want)
			}
			if len(tc.why) == 0 && why != "" {
				t.Errorf("reason %q, want none", why)
			}
			for _, w := range tc.why {
				if !strings.Contains(why, w) {
					t.Errorf("reason %q lacks %q", why, w)
				}
			}
		})
	}
	if _, _, err := r.p.Review(ctx(), channel.Ref{VersionCode: 7}); err == nil || !strings.Contains(err.Error(), "versionCode 7") {
		t.Errorf("review of a version not on the track: %v", err)
	}
}
