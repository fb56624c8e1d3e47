package playfake_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"bollard.dev/bollard/channel/play/playfake"
)

type release struct {
	Name         string   `json:"name,omitempty"`
	VersionCodes []string `json:"versionCodes,omitempty"`
	Status       string   `json:"status,omitempty"`
	UserFraction *float64 `json:"userFraction,omitempty"`
}

type track struct {
	Track    string    `json:"track"`
	Releases []release `json:"releases"`
}

func fraction(f float64) *float64 { return &f }

// stage uploads versionCode and puts it on production in a new edit; it returns the edit.
func (c *client) stage(versionCode int64, rel release) string {
	c.t.Helper()
	id := c.insertEdit()
	must(c.t, c.upload(id, bundle(c.t, pkg, versionCode), "application/octet-stream"), "bundles.upload")
	must(c.t, c.call(http.MethodPut, editsPath("/"+id+"/tracks/production"), track{Releases: []release{rel}}), "tracks.update")
	return id
}

func committed(t *testing.T, f *playfake.Fake) track {
	t.Helper()
	b, err := f.CommittedTrack(pkg, "production")
	if err != nil {
		t.Fatal(err)
	}
	var tr track
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestCommitIsAtomicAndEndsTheEdit(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	id := c.stage(42, release{VersionCodes: []string{"42"}, Status: "inProgress", UserFraction: fraction(0.1)})

	if got := committed(t, f); len(got.Releases) != 0 {
		t.Fatalf("before commit the app changed: %+v", got)
	}
	if bs := f.CommittedBundles(pkg); len(bs) != 0 {
		t.Fatalf("before commit the app has bundles %v", bs)
	}
	must(t, c.call(http.MethodPost, editsPath("/"+id+":validate"), nil), "edits.validate")
	must(t, c.call(http.MethodPost, editsPath("/"+id+":commit"), nil), "edits.commit")

	got := committed(t, f)
	if len(got.Releases) != 1 || got.Releases[0].Status != "inProgress" || *got.Releases[0].UserFraction != 0.1 || got.Releases[0].Name != "1.0.42" {
		t.Fatalf("committed track %+v", got)
	}
	for _, path := range []string{"/" + id, "/" + id + ":commit", "/" + id + "/tracks/production"} {
		method := http.MethodGet
		if path == "/"+id+":commit" {
			method = http.MethodPost
		}
		r := c.call(method, editsPath(path), nil)
		if r.code != http.StatusBadRequest || r.googleError(t).Error.Message != "This edit has already been successfully committed, please create a new Edit." {
			t.Errorf("%s %s after commit: %d %s", method, path, r.code, r.body)
		}
	}
}

func TestAnotherCommitDiscardsOpenEdits(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	stale := c.insertEdit()
	id := c.stage(42, release{VersionCodes: []string{"42"}, Status: "completed"})
	must(t, c.call(http.MethodPost, editsPath("/"+id+":commit"), nil), "edits.commit")
	r := c.call(http.MethodGet, editsPath("/"+stale+"/tracks/production"), nil)
	if r.code != http.StatusBadRequest || r.googleError(t).Error.Message != "This Edit has been deleted." {
		t.Fatalf("stale edit: %d %s", r.code, r.body)
	}
}

func TestDeletedAndExpiredEdits(t *testing.T) {
	clock := time.Now()
	f := startFake(t, playfake.Options{Now: func() time.Time { return clock }, EditLifetime: time.Minute})
	c := newClient(t, f)

	deleted := c.insertEdit()
	must(t, c.call(http.MethodDelete, editsPath("/"+deleted), nil), "edits.delete")
	if r := c.call(http.MethodPost, editsPath("/"+deleted+":commit"), nil); r.code != http.StatusBadRequest {
		t.Errorf("commit of a deleted edit: %d %s", r.code, r.body)
	}

	expiring := c.insertEdit()
	must(t, c.call(http.MethodGet, editsPath("/"+expiring), nil), "edits.get")
	clock = clock.Add(2 * time.Minute)
	r := c.call(http.MethodGet, editsPath("/"+expiring), nil)
	if r.code != http.StatusBadRequest || r.googleError(t).Error.Message != "This edit has expired, please create a new Edit." {
		t.Errorf("expired edit: %d %s", r.code, r.body)
	}
}

func TestAnEditCopiesTheDeployedState(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	id := c.stage(42, release{VersionCodes: []string{"42"}, Status: "inProgress", UserFraction: fraction(0.05)})
	must(t, c.call(http.MethodPost, editsPath("/"+id+":commit"), nil), "edits.commit")

	next := c.insertEdit()
	r := c.call(http.MethodGet, editsPath("/"+next+"/tracks/production"), nil)
	must(t, r, "tracks.get")
	var tr track
	r.json(t, &tr)
	if len(tr.Releases) != 1 || tr.Releases[0].VersionCodes[0] != "42" {
		t.Fatalf("new edit's track: %s", r.body)
	}
	r = c.call(http.MethodGet, editsPath("/"+next+"/bundles"), nil)
	must(t, r, "bundles.list")
	var list struct {
		Bundles []struct {
			VersionCode int64  `json:"versionCode"`
			Sha256      string `json:"sha256"`
		} `json:"bundles"`
	}
	r.json(t, &list)
	if len(list.Bundles) != 1 || list.Bundles[0].VersionCode != 42 || len(list.Bundles[0].Sha256) != 64 {
		t.Fatalf("bundles.list: %s", r.body)
	}
	r = c.call(http.MethodGet, editsPath("/"+next+"/tracks"), nil)
	must(t, r, "tracks.list")
	var tracks struct {
		Tracks []track `json:"tracks"`
	}
	r.json(t, &tracks)
	if len(tracks.Tracks) != 4 {
		t.Fatalf("tracks.list: %s", r.body)
	}
}
