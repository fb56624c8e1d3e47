package playfake_test

import (
	"net/http"
	"testing"

	"bollard.dev/bollard/channel/play/playfake"
)

// Each refused release breaks one rule the TrackRelease schema documents.
func TestTracksUpdateEnforcesTheSchemasRules(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	id := c.insertEdit()
	must(t, c.upload(id, bundle(t, pkg, 42), "application/octet-stream"), "bundles.upload")
	for _, tc := range []struct {
		name  string
		track string
		body  any
		code  int
	}{
		{"staged", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "inProgress", UserFraction: fraction(0.01)}}}, http.StatusOK},
		{"halted keeps its fraction", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "halted", UserFraction: fraction(0.5)}}}, http.StatusOK},
		{"completed", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "completed"}}}, http.StatusOK},
		{"fraction on a completed release", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "completed", UserFraction: fraction(0.5)}}}, http.StatusBadRequest},
		{"fraction on a draft", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "draft", UserFraction: fraction(0.5)}}}, http.StatusBadRequest},
		{"fraction 1", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "inProgress", UserFraction: fraction(1)}}}, http.StatusBadRequest},
		{"fraction 0", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "inProgress", UserFraction: fraction(0)}}}, http.StatusBadRequest},
		{"status outside the enum", "production", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "rolling"}}}, http.StatusBadRequest},
		{"versionCode never uploaded", "production", track{Releases: []release{{VersionCodes: []string{"43"}, Status: "completed"}}}, http.StatusBadRequest},
		{"field the schema lacks", "production", map[string]any{"releases": []any{map[string]any{"versionCodes": []string{"42"}, "status": "completed", "rolloutPercent": 5}}}, http.StatusBadRequest},
		{"countryTargeting off production", "beta", map[string]any{"releases": []any{map[string]any{"versionCodes": []string{"42"}, "status": "inProgress", "userFraction": 0.5, "countryTargeting": map[string]any{"countries": []string{"DE"}}}}}, http.StatusBadRequest},
		{"inAppUpdatePriority over 5", "production", map[string]any{"releases": []any{map[string]any{"versionCodes": []string{"42"}, "status": "completed", "inAppUpdatePriority": 6}}}, http.StatusBadRequest},
		{"track the app lacks", "staging", track{Releases: []release{{VersionCodes: []string{"42"}, Status: "completed"}}}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call(http.MethodPut, editsPath("/"+id+"/tracks/"+tc.track), tc.body)
			if r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
			if tc.code != http.StatusOK {
				r.googleError(t)
			}
		})
	}
}
