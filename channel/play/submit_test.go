package play_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"bollard.dev/bollard/channel"
	"bollard.dev/bollard/channel/play"
)

func TestResubmitUploadsNothing(t *testing.T) {
	r := newRig(t)
	a := r.artifact(42, nil)
	a.ReleaseNotes = map[string]string{"en-US": "Faster checkout.", "de-DE": "Schnellere Kasse."}
	if _, err := r.p.Submit(ctx(), a, 1); err != nil {
		t.Fatal(err)
	}
	if r.count(upload) != 1 {
		t.Fatalf("first submit: %d uploads", r.count(upload))
	}
	// The engine lost the outcome and submits again.
	ref, err := r.p.Submit(ctx(), a, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.count(upload) != 1 {
		t.Errorf("resubmit uploaded again: %d uploads", r.count(upload))
	}
	if got := r.fake.CommittedBundles(pkg); len(got) != 1 || got[0] != 42 {
		t.Errorf("committed bundles %v", got)
	}
	rel := r.release(ref.VersionCode)
	if rel.Status != "inProgress" || *rel.UserFraction != 0.01 || rel.Name != "1.0.42" {
		t.Errorf("release %+v", rel)
	}
	notes := map[string]string{}
	for _, n := range rel.ReleaseNotes {
		notes[n.Language] = n.Text
	}
	if len(notes) != 2 || notes["en-US"] != "Faster checkout." || notes["de-DE"] != "Schnellere Kasse." {
		t.Errorf("release notes %v", notes)
	}
}

// A bundle the app already has — here from the internal track — is not uploaded again:
// bundles.list covers the app, and Play refuses a versionCode twice.
func TestSubmitReusesABundleTheAppHas(t *testing.T) {
	r := newRig(t)
	internal, err := play.New(ctx(), play.Config{PackageName: pkg, Track: "internal", Credentials: r.fake.ServiceAccountJSON(), Endpoint: r.fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	a := r.artifact(42, nil)
	if _, err := internal.Submit(ctx(), a, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Submit(ctx(), a, 5); err != nil {
		t.Fatal(err)
	}
	if r.count(upload) != 1 {
		t.Errorf("%d uploads, want 1", r.count(upload))
	}
	if rel := r.release(42); rel.Status != "inProgress" || *rel.UserFraction != 0.05 {
		t.Errorf("production release %+v", rel)
	}
}

// A repeated Submit must not undo what happened since the first one committed.
func TestResubmitLeavesAMovedRolloutAlone(t *testing.T) {
	r := newRig(t)
	a := r.artifact(42, nil)
	ref, err := r.p.Submit(ctx(), a, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.SetPercent(ctx(), ref, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Halt(ctx(), ref); err != nil {
		t.Fatal(err)
	}
	commits, uploads := r.count(commit), r.count(upload)
	if _, err := r.p.Submit(ctx(), a, 1); err != nil {
		t.Fatal(err)
	}
	if r.count(commit) != commits || r.count(upload) != uploads {
		t.Errorf("resubmit: %d commits, %d uploads", r.count(commit)-commits, r.count(upload)-uploads)
	}
	if rel := r.release(42); rel.Status != "halted" || *rel.UserFraction != 0.5 {
		t.Errorf("after resubmit: %+v", rel)
	}
}

func TestSubmitKeepsTheServingRelease(t *testing.T) {
	r := newRig(t)
	if _, err := r.p.Submit(ctx(), r.artifact(41, nil), 100); err != nil {
		t.Fatal(err)
	}
	ref, err := r.p.Submit(ctx(), r.artifact(42, nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.committed(); len(got) != 2 {
		t.Fatalf("track holds %+v, want 42 staged and 41 completed", got)
	}
	if rel := r.release(41); rel.Status != "completed" {
		t.Errorf("41: %+v", rel)
	}
	if rel := r.release(42); rel.Status != "inProgress" || *rel.UserFraction != 0.01 {
		t.Errorf("42: %+v", rel)
	}
	if err := r.p.Complete(ctx(), ref); err != nil {
		t.Fatal(err)
	}
	if got := r.committed(); len(got) != 1 || got[0].VersionCodes[0] != "42" || got[0].Status != "completed" {
		t.Errorf("after complete: %+v", got)
	}
}

// A bundle larger than one chunk goes up with the resumable protocol, as real bundles over
// 16 MiB do with the default chunk size.
func TestLargeBundleUploadsResumably(t *testing.T) {
	const chunk = 256 << 10
	r := newRig(t, func(c *play.Config) { c.UploadChunkSize = chunk })
	dex := make([]byte, 2*chunk+chunk/2) // random, so the zip stays this large
	if _, err := rand.Read(dex); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Submit(ctx(), r.artifact(42, map[string][]byte{"base/dex/classes.dex": dex}), 1); err != nil {
		t.Fatal(err)
	}
	var start, chunks int
	for _, c := range r.fake.Calls() {
		if c.ID != upload {
			continue
		}
		switch {
		case strings.Contains(c.Query, "upload_id="):
			chunks++
		case strings.Contains(c.Query, "uploadType=resumable"):
			start++
		default:
			t.Errorf("non-resumable upload call %+v", c)
		}
	}
	if start != 1 || chunks != 3 {
		t.Errorf("resumable upload: %d session starts, %d chunks; want 1 and 3", start, chunks)
	}
	if got := r.fake.CommittedBundles(pkg); len(got) != 1 || got[0] != 42 {
		t.Errorf("committed bundles %v", got)
	}
}

// Play reads the versionCode from the bundle's manifest; when it is not the artifact's,
// the edit is deleted and nothing is committed.
func TestBundleOfAnotherVersionIsNotCommitted(t *testing.T) {
	r := newRig(t)
	a := r.artifact(42, nil)
	a.VersionCode = 43
	_, err := r.p.Submit(ctx(), a, 1)
	if err == nil || !strings.Contains(err.Error(), "edits.bundles.upload: Play read versionCode 42") {
		t.Fatalf("submit: %v", err)
	}
	if r.count(commit) != 0 || r.count(del) != 1 {
		t.Errorf("commits %d (want 0), deletes %d (want 1)", r.count(commit), r.count(del))
	}
	if got := r.fake.CommittedBundles(pkg); len(got) != 0 {
		t.Errorf("committed bundles %v", got)
	}
}

// What Submit can check locally it checks before sending anything: the fake records no
// call at all, not even the token exchange.
func TestInvalidSubmitSendsNothing(t *testing.T) {
	r := newRig(t)
	good := r.artifact(42, nil)
	tooLong := strings.Repeat("é", play.MaxReleaseNoteChars+1)
	for _, tc := range []struct {
		name    string
		a       func() channel.Artifact
		percent int
		err     string
	}{
		{"percent 0", func() channel.Artifact { return good }, 0, "percent 0"},
		{"percent 101", func() channel.Artifact { return good }, 101, "percent 101"},
		{"no versionCode", func() channel.Artifact { a := good; a.VersionCode = 0; return a }, 1, "versionCode 0"},
		{"no bundle file", func() channel.Artifact {
			a := good
			a.Files = map[string]string{"linux-amd64": "x"}
			return a
		}, 1, `no "bundle" file`},
		{"bundle missing on disk", func() channel.Artifact {
			a := good
			a.Files = map[string]string{"bundle": filepath.Join(t.TempDir(), "gone.aab")}
			return a
		}, 1, "gone.aab"},
		{"release note over 500 characters", func() channel.Artifact {
			a := good
			a.ReleaseNotes = map[string]string{"fr-FR": tooLong}
			return a
		}, 1, "fr-FR have 501 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.p.Submit(ctx(), tc.a(), tc.percent)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			if calls := r.fake.Calls(); len(calls) != 0 {
				t.Fatalf("sent %d calls: %+v", len(calls), calls)
			}
		})
	}
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"SetPercent 0", func() error { _, err := r.p.SetPercent(ctx(), channel.Ref{VersionCode: 42}, 0); return err }},
		{"Resume 101", func() error { return r.p.Resume(ctx(), channel.Ref{VersionCode: 42}, 101) }},
		{"Halt without versionCode", func() error { _, err := r.p.Halt(ctx(), channel.Ref{Version: "1.0"}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil {
				t.Fatal("no error")
			}
			if calls := r.fake.Calls(); len(calls) != 0 {
				t.Fatalf("sent %d calls: %+v", len(calls), calls)
			}
		})
	}
}

// TestSubmitWithListingsFromFastlaneLayout: the store listing texts and release notes read from
// fastlane's layout go live with the release in the same commit — the fake's committed listings
// and track say so; a title over Play's 30 characters is refused before anything is sent.
func TestSubmitWithListingsFromFastlaneLayout(t *testing.T) {
	r := newRig(t)
	dir := filepath.Join("testdata", "metadata", "android")
	notes, listings, err := play.Metadata(os.DirFS(dir), dir, 42)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]channel.Listing{
		"en-US": {Title: "Bollard Shop", ShortDescription: "Checkout in two taps.", FullDescription: "The shop that ships safely.\n\nStaged, watched, halted when it hurts."},
		"fr-FR": {Title: "Boutique plus rapide."},
	}
	if !reflect.DeepEqual(listings, want) || notes["en-US"] == "" {
		t.Fatalf("listings %+v (want %+v), notes %q", listings, want, notes)
	}
	a := r.artifact(42, nil)
	a.ReleaseNotes, a.Listings = notes, listings
	if _, err := r.p.Submit(context.Background(), a, 10); err != nil {
		t.Fatal(err)
	}
	b, err := r.fake.CommittedListings(pkg)
	if err != nil {
		t.Fatal(err)
	}
	var committed map[string]struct {
		Language, Title, ShortDescription, FullDescription string
	}
	if err := json.Unmarshal(b, &committed); err != nil {
		t.Fatal(err)
	}
	if en := committed["en-US"]; en.Language != "en-US" || en.Title != "Bollard Shop" || en.FullDescription != want["en-US"].FullDescription || committed["fr-FR"].Title != "Boutique plus rapide." || len(committed) != 2 {
		t.Errorf("committed listings %s", b)
	}
	if rel := r.committed(); len(rel) != 1 || len(rel[0].ReleaseNotes) != 2 {
		t.Errorf("committed track %+v", rel)
	}

	calls := len(r.fake.Calls())
	long := r.artifact(43, nil)
	long.Listings = map[string]channel.Listing{"de-DE": {Title: strings.Repeat("ß", 31)}}
	if _, err := r.p.Submit(context.Background(), long, 10); err == nil || !strings.Contains(err.Error(), "listing title for de-DE has 31 characters; Play allows 30") {
		t.Errorf("a 31-character title: %v", err)
	}
	if n := len(r.fake.Calls()); n != calls {
		t.Errorf("%d calls were made for a listing Play would refuse", n-calls)
	}
}

// TestMetadataOverTheLimitNamesItsFile: a listing text over Play's limit is an error naming
// its file; a file that is not UTF-8 too.
func TestMetadataOverTheLimitNamesItsFile(t *testing.T) {
	for file, content := range map[string]string{"short_description.txt": strings.Repeat("x", 81), "title.txt": "\xff\xfe"} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "en-US"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "en-US", file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := play.Metadata(os.DirFS(dir), "repo/metadata", 1)
		if err == nil || !strings.Contains(err.Error(), "repo/metadata/en-US/"+file) {
			t.Errorf("%s: %v", file, err)
		}
	}
}
