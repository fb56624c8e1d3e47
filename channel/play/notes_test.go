package play_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"bollard.dev/bollard/channel/play"
)

func TestReleaseNotesFromFastlaneLayout(t *testing.T) {
	for _, tc := range []struct {
		name        string
		versionCode int64
		want        map[string]string
	}{
		{"versioned file first, default.txt else", 42, map[string]string{
			"en-US": "Checkout is two taps faster.\nFixed a crash when the basket is empty.",
			"de-DE": "Fehlerbehebungen und Leistungsverbesserungen.",
		}},
		{"default.txt only", 43, map[string]string{
			"en-US": "Bug fixes and performance improvements.",
			"de-DE": "Fehlerbehebungen und Leistungsverbesserungen.",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := play.ReleaseNotes(filepath.Join("testdata", "metadata", "android"), tc.versionCode)
			if err != nil {
				t.Fatal(err)
			}
			// fr-FR has a listing but no changelogs: no note.
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("notes %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReleaseNoteOverTheLimitNamesItsFile(t *testing.T) {
	_, err := play.ReleaseNotes(filepath.Join("testdata", "toolong"), 42)
	file := filepath.Join("testdata", "toolong", "en-US", "changelogs", "42.txt")
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "541 characters") {
		t.Fatalf("error %v, want one naming %s and its 541 characters", err, file)
	}
}

// The limit counts characters, not bytes: 500 two-byte characters pass, 501 do not.
func TestReleaseNoteLimitCountsCharacters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fr-FR", "changelogs", "default.txt")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n  int
		ok bool
	}{{500, true}, {501, false}} {
		if err := os.WriteFile(path, []byte(strings.Repeat("é", tc.n)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := play.ReleaseNotes(dir, 42)
		if tc.ok && (err != nil || len([]rune(got["fr-FR"])) != tc.n) {
			t.Errorf("%d characters: %v %d", tc.n, err, len([]rune(got["fr-FR"])))
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), path)) {
			t.Errorf("%d characters: error %v, want one naming %s", tc.n, err, path)
		}
	}
}

func TestReleaseNotesOfAMissingDirectory(t *testing.T) {
	if _, err := play.ReleaseNotes(filepath.Join(t.TempDir(), "nope"), 42); err == nil {
		t.Fatal("no error for a missing metadata directory")
	}
}

// Notes read from the metadata reach the committed release.
func TestSubmitCarriesReleaseNotes(t *testing.T) {
	r := newRig(t)
	notes, err := play.ReleaseNotes(filepath.Join("testdata", "metadata", "android"), 42)
	if err != nil {
		t.Fatal(err)
	}
	a := r.artifact(42, nil)
	a.ReleaseNotes = notes
	if _, err := r.p.Submit(ctx(), a, 1); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range r.release(42).ReleaseNotes {
		got[n.Language] = n.Text
	}
	if !reflect.DeepEqual(got, notes) {
		t.Errorf("committed notes %q, want %q", got, notes)
	}
}
