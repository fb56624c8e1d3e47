package playfake_test

import (
	"net/http"
	"testing"

	"bollard.dev/bollard/channel/play/playfake"
)

func TestReleasesListReportsTheReviewTheTestSets(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	id := c.stage(42, release{VersionCodes: []string{"42"}, Status: "inProgress", UserFraction: fraction(0.01)})
	must(t, c.call(http.MethodPost, editsPath("/"+id+":commit"), nil), "edits.commit")

	list := func() (string, string) {
		r := c.call(http.MethodGet, "/androidpublisher/v3/applications/"+pkg+"/tracks/production/releases", nil)
		must(t, r, "releases.list")
		var resp struct {
			Releases []struct {
				ReleaseName           string `json:"releaseName"`
				ReleaseLifecycleState string `json:"releaseLifecycleState"`
				ActiveArtifacts       []struct {
					VersionCode int64 `json:"versionCode"`
				} `json:"activeArtifacts"`
			} `json:"releases"`
		}
		r.json(t, &resp)
		if len(resp.Releases) != 1 || len(resp.Releases[0].ActiveArtifacts) != 1 || resp.Releases[0].ActiveArtifacts[0].VersionCode != 42 {
			t.Fatalf("releases.list: %s", r.body)
		}
		return resp.Releases[0].ReleaseName, resp.Releases[0].ReleaseLifecycleState
	}
	if name, state := list(); state != "RELEASE_LIFECYCLE_STATE_IN_REVIEW" || name != "1.0.42" {
		t.Fatalf("before SetReview: %q %q", name, state)
	}
	if err := f.SetReview(pkg, 42, "NOT_APPROVED"); err != nil {
		t.Fatal(err)
	}
	if _, state := list(); state != "RELEASE_LIFECYCLE_STATE_NOT_APPROVED" {
		t.Fatalf("after SetReview: %q", state)
	}
	if err := f.SetReview(pkg, 42, "REJECTED"); err == nil {
		t.Fatal("SetReview took a state the discovery document does not have")
	}
}
