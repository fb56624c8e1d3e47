package play

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxReleaseNoteChars is Play's limit on a release's "What's new" text per language
// (Play Console Help, "Prepare and roll out a release": 500 characters).
const MaxReleaseNoteChars = 500

// ReleaseNotes reads release notes in fastlane supply's metadata layout, the one F-Droid
// reads too: <dir>/<locale>/changelogs/<versionCode>.txt, else that locale's
// changelogs/default.txt. A locale with neither has no note. Notes are trimmed of
// surrounding whitespace; one longer than MaxReleaseNoteChars characters is an error that
// names its file.
func ReleaseNotes(dir string, versionCode int64) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("play: release notes: %w", err)
	}
	notes := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		changelogs := filepath.Join(dir, e.Name(), "changelogs")
		path := filepath.Join(changelogs, strconv.FormatInt(versionCode, 10)+".txt")
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			path = filepath.Join(changelogs, "default.txt")
			b, err = os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("play: release notes: %w", err)
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("play: release notes %s: not UTF-8", path)
		}
		text := strings.TrimSpace(string(b))
		if n := utf8.RuneCountInString(text); n > MaxReleaseNoteChars {
			return nil, fmt.Errorf("play: release notes %s: %d characters; Play allows %d per language", path, n, MaxReleaseNoteChars)
		}
		if text != "" {
			notes[e.Name()] = text
		}
	}
	return notes, nil
}
