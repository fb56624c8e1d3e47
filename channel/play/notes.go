package play

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"bollard.dev/bollard/channel"
)

// MaxReleaseNoteChars is Play's limit on a release's "What's new" text per language
// (Play Console Help, "Prepare and roll out a release": 500 characters).
const MaxReleaseNoteChars = 500

// Store listing limits (Play Console Help, "Create and set up your app", answer 9859152: app
// name up to 30 characters, short description up to 80, full description up to 4,000).
const (
	MaxTitleChars            = 30
	MaxShortDescriptionChars = 80
	MaxFullDescriptionChars  = 4000
)

// DefaultMetadataPath is where fastlane supply keeps an Android app's metadata in a repository.
const DefaultMetadataPath = "fastlane/metadata/android"

// locale is a metadata directory's name: a BCP-47 tag as fastlane and Play write them ("en-US").
var locale = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)

// ReleaseNotes reads release notes in fastlane supply's metadata layout on disk (see Metadata).
func ReleaseNotes(dir string, versionCode int64) (map[string]string, error) {
	notes, _, err := Metadata(os.DirFS(dir), dir, versionCode)
	return notes, err
}

// Metadata reads an Android app's store metadata in fastlane supply's layout, the one F-Droid
// reads too, from fsys (a directory of a git revision): <locale>/changelogs/<versionCode>.txt,
// else that locale's changelogs/default.txt, as the release notes; <locale>/title.txt,
// short_description.txt, full_description.txt and video.txt as the store listing. A locale
// with none of them has no note or listing; other files (images/) are not read. Texts are
// trimmed of surrounding whitespace and must be UTF-8 within Play's limits: an error names the
// file (as name/…). Directories that are not locales are skipped.
func Metadata(fsys fs.FS, name string, versionCode int64) (notes map[string]string, listings map[string]channel.Listing, err error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("play: metadata %s: %w", name, err)
	}
	notes, listings = map[string]string{}, map[string]channel.Listing{}
	for _, e := range entries {
		if !e.IsDir() || !locale.MatchString(e.Name()) {
			continue
		}
		read := func(max int, files ...string) (string, error) {
			for _, f := range files {
				p := path.Join(e.Name(), f)
				b, err := fs.ReadFile(fsys, p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return "", fmt.Errorf("play: metadata %s: %w", path.Join(name, p), err)
				}
				if !utf8.Valid(b) {
					return "", fmt.Errorf("play: metadata %s: not UTF-8", path.Join(name, p))
				}
				text := strings.TrimSpace(string(b))
				if n := utf8.RuneCountInString(text); n > max {
					return "", fmt.Errorf("play: metadata %s: %d characters; Play allows %d", path.Join(name, p), n, max)
				}
				return text, nil
			}
			return "", nil
		}
		note, err := read(MaxReleaseNoteChars, path.Join("changelogs", strconv.FormatInt(versionCode, 10)+".txt"), path.Join("changelogs", "default.txt"))
		if err != nil {
			return nil, nil, err
		}
		if note != "" {
			notes[e.Name()] = note
		}
		var l channel.Listing
		for _, f := range []struct {
			file string
			max  int
			to   *string
		}{{"title.txt", MaxTitleChars, &l.Title}, {"short_description.txt", MaxShortDescriptionChars, &l.ShortDescription},
			{"full_description.txt", MaxFullDescriptionChars, &l.FullDescription}, {"video.txt", 2048, &l.Video}} {
			if *f.to, err = read(f.max, f.file); err != nil {
				return nil, nil, err
			}
		}
		if l != (channel.Listing{}) {
			listings[e.Name()] = l
		}
	}
	return notes, listings, nil
}

// checkListing checks one language's listing against Play's limits before anything is sent.
func checkListing(lang string, l channel.Listing) error {
	if !locale.MatchString(lang) {
		return fmt.Errorf("listing language %q is not a BCP-47 tag", lang)
	}
	for _, f := range []struct {
		name, text string
		max        int
	}{{"title", l.Title, MaxTitleChars}, {"short description", l.ShortDescription, MaxShortDescriptionChars}, {"full description", l.FullDescription, MaxFullDescriptionChars}} {
		if n := utf8.RuneCountInString(f.text); n > f.max {
			return fmt.Errorf("listing %s for %s has %d characters; Play allows %d", f.name, lang, n, f.max)
		}
	}
	return nil
}
