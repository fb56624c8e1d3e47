package play_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"bollard.dev/bollard/channel"
	"bollard.dev/bollard/channel/play"
	"bollard.dev/bollard/channel/play/playfake"
)

// The tests run the provider — the real generated client, the real OAuth 2.0 JWT exchange
// — against the contract fake over loopback, and read outcomes from the fake's state
// through its own JSON, never through the provider.

const pkg = "dev.bollard.shop"

type rig struct {
	t    *testing.T
	fake *playfake.Fake
	p    *play.Provider
	dir  string
}

func newRig(t *testing.T, mutate ...func(*play.Config)) *rig {
	t.Helper()
	f, err := playfake.New(playfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	f.AddApp(pkg)
	cfg := play.Config{PackageName: pkg, Credentials: f.ServiceAccountJSON(), Endpoint: f.URL}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := play.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, fake: f, p: p, dir: t.TempDir()}
}

// artifact writes an AAB-shaped bundle for versionCode and returns the artifact naming it.
func (r *rig) artifact(versionCode int64, files map[string][]byte) channel.Artifact {
	r.t.Helper()
	version := fmt.Sprintf("1.0.%d", versionCode)
	b, err := playfake.NewBundle(playfake.BundleSpec{Package: pkg, VersionCode: versionCode, VersionName: version, Files: files})
	if err != nil {
		r.t.Fatal(err)
	}
	path := filepath.Join(r.dir, fmt.Sprintf("app-%d.aab", versionCode))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return channel.Artifact{Version: version, VersionCode: versionCode, Files: map[string]string{"bundle": path}}
}

// committedRelease is a release as the fake's committed track holds it.
type committedRelease struct {
	Name         string   `json:"name"`
	VersionCodes []string `json:"versionCodes"`
	Status       string   `json:"status"`
	UserFraction *float64 `json:"userFraction"`
	ReleaseNotes []struct {
		Language string `json:"language"`
		Text     string `json:"text"`
	} `json:"releaseNotes"`
}

// committed is the production track as the fake's last commit left it.
func (r *rig) committed() []committedRelease {
	r.t.Helper()
	b, err := r.fake.CommittedTrack(pkg, "production")
	if err != nil {
		r.t.Fatal(err)
	}
	var t struct {
		Releases []committedRelease `json:"releases"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		r.t.Fatal(err)
	}
	return t.Releases
}

// release is the committed release holding versionCode; it fails the test if none does.
func (r *rig) release(versionCode int64) committedRelease {
	r.t.Helper()
	want := fmt.Sprint(versionCode)
	for _, rel := range r.committed() {
		for _, vc := range rel.VersionCodes {
			if vc == want {
				return rel
			}
		}
	}
	r.t.Fatalf("no committed release holds versionCode %d: %+v", versionCode, r.committed())
	return committedRelease{}
}

// count is how many recorded calls have the discovery method id.
func (r *rig) count(id string) int {
	n := 0
	for _, c := range r.fake.Calls() {
		if c.ID == id {
			n++
		}
	}
	return n
}

const (
	insert = "androidpublisher.edits.insert"
	commit = "androidpublisher.edits.commit"
	del    = "androidpublisher.edits.delete"
	upload = "androidpublisher.edits.bundles.upload"
)

func ctx() context.Context { return context.Background() }
