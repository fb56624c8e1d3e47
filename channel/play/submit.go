package play

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"

	androidpublisher "google.golang.org/api/androidpublisher/v3"
	"google.golang.org/api/googleapi"

	"bollard.dev/bollard/channel"
)

// TrackRelease.status values (the discovery document's enum).
const (
	statusInProgress = "inProgress"
	statusHalted     = "halted"
	statusCompleted  = "completed"
)

// bundleMediaType is what edits.bundles.upload accepts (its mediaUpload.accept).
const bundleMediaType = "application/octet-stream"

// Submit uploads the artifact's bundle (Files["bundle"], an .aab) unless the app already
// has its versionCode, and releases it on the track at percent — inProgress with
// userFraction percent/100, or completed at 100 — in one edit. Everything it can check
// locally it checks before sending anything. When the track already holds a release of
// the versionCode, an earlier Submit committed and Submit changes nothing: a repeated call
// must not lift a halt or shrink a rollout that moved on since.
func (p *Provider) Submit(ctx context.Context, a channel.Artifact, percent int) (channel.Ref, error) {
	rel, err := newRelease(a, percent)
	if err != nil {
		return channel.Ref{}, fmt.Errorf("play: submit: %w", err)
	}
	path := a.Files["bundle"]
	if path == "" {
		return channel.Ref{}, errors.New(`play: submit: the artifact has no "bundle" file`)
	}
	if fi, err := os.Stat(path); err != nil {
		return channel.Ref{}, fmt.Errorf("play: submit: %w", err)
	} else if !fi.Mode().IsRegular() {
		return channel.Ref{}, fmt.Errorf("play: submit: bundle %s is not a regular file", path)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	err = p.inEdit(ctx, func(editID string) (bool, error) {
		t, err := p.getTrack(ctx, editID)
		if err != nil {
			return false, err
		}
		for _, r := range t.Releases {
			if holds(r, a.VersionCode) {
				// An earlier Submit committed; the rollout may have moved since.
				return false, nil
			}
		}
		if err := p.ensureBundle(ctx, editID, path, a.VersionCode); err != nil {
			return false, err
		}
		// The listings go live with the release, in the same commit.
		for _, lang := range slices.Sorted(maps.Keys(a.Listings)) {
			l := a.Listings[lang]
			if _, err := p.svc.Edits.Listings.Update(p.pkg, editID, lang, &androidpublisher.Listing{Language: lang, Title: l.Title,
				ShortDescription: l.ShortDescription, FullDescription: l.FullDescription, Video: l.Video}).Context(ctx).Do(); err != nil {
				return false, fmt.Errorf("edits.listings.update %s: %w", lang, err)
			}
		}
		return true, p.updateTrack(ctx, editID, withRelease(t.Releases, rel))
	})
	if err != nil {
		return channel.Ref{}, fmt.Errorf("play: submit versionCode %d: %w", a.VersionCode, err)
	}
	return channel.Ref{Version: a.Version, VersionCode: a.VersionCode}, nil
}

// newRelease is the release Submit puts on the track, checked against what Play
// documents: a positive versionCode, a percent Play can express, release notes per
// language of at most MaxReleaseNoteChars.
func newRelease(a channel.Artifact, percent int) (*androidpublisher.TrackRelease, error) {
	if a.VersionCode <= 0 {
		return nil, fmt.Errorf("versionCode %d is not positive", a.VersionCode)
	}
	if err := checkPercent(percent); err != nil {
		return nil, err
	}
	rel := &androidpublisher.TrackRelease{Name: a.Version, VersionCodes: googleapi.Int64s{a.VersionCode}}
	setPercent(rel, percent)
	for _, l := range slices.Sorted(maps.Keys(a.ReleaseNotes)) {
		text := a.ReleaseNotes[l]
		if n := utf8.RuneCountInString(text); n > MaxReleaseNoteChars {
			return nil, fmt.Errorf("release notes for %s have %d characters; Play allows %d per language", l, n, MaxReleaseNoteChars)
		}
		if text != "" {
			rel.ReleaseNotes = append(rel.ReleaseNotes, &androidpublisher.LocalizedText{Language: l, Text: text})
		}
	}
	for _, lang := range slices.Sorted(maps.Keys(a.Listings)) {
		if err := checkListing(lang, a.Listings[lang]); err != nil {
			return nil, err
		}
	}
	return rel, nil
}

func checkPercent(percent int) error {
	if percent < 1 || percent > 100 {
		return fmt.Errorf("percent %d is outside 1–100", percent)
	}
	return nil
}

// setPercent makes rel served to percent of users: inProgress with userFraction
// percent/100, or completed — which may carry no userFraction — at 100.
func setPercent(rel *androidpublisher.TrackRelease, percent int) {
	if percent == 100 {
		rel.Status, rel.UserFraction = statusCompleted, 0
		return
	}
	rel.Status, rel.UserFraction = statusInProgress, float64(percent)/100
}

// describe says what Play was told, for SetPercent's answer.
func describe(rel *androidpublisher.TrackRelease) string {
	if rel.Status == statusCompleted {
		return "completed (userFraction unset: all users)"
	}
	return "userFraction " + strconv.FormatFloat(rel.UserFraction, 'g', -1, 64)
}

// withRelease is the track's releases with rel in place of any release of its versionCode.
// A completed rel stands alone: fastlane supply's update_rollout drops the other releases
// when it completes one ("only allowed one completed version in a release"). A staged rel
// keeps the track's completed releases of other versions, which serve the users outside
// the fraction (TrackRelease.versionCodes: "Must include version codes to retain from
// previous releases"); fastlane notes Play keeps them even when an update leaves them out,
// and sending them is right either way. Older staged, halted or draft releases of other
// versions are superseded.
func withRelease(existing []*androidpublisher.TrackRelease, rel *androidpublisher.TrackRelease) []*androidpublisher.TrackRelease {
	out := []*androidpublisher.TrackRelease{rel}
	if rel.Status == statusCompleted {
		return out
	}
	for _, r := range existing {
		if r.Status == statusCompleted && !holds(r, rel.VersionCodes[0]) {
			out = append(out, r)
		}
	}
	return out
}

// ensureBundle uploads the bundle into the edit unless the app already has its
// versionCode (bundles.list covers the app and the edit), so a repeated Submit uploads
// nothing — Play refuses a versionCode twice. An uploaded bundle whose manifest says
// another versionCode fails the edit, which is then deleted with the upload.
func (p *Provider) ensureBundle(ctx context.Context, editID, path string, versionCode int64) error {
	list, err := p.svc.Edits.Bundles.List(p.pkg, editID).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("edits.bundles.list: %w", err)
	}
	for _, b := range list.Bundles {
		if b.VersionCode == versionCode {
			return nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	media := []googleapi.MediaOption{googleapi.ContentType(bundleMediaType)}
	if p.chunk > 0 {
		media = append(media, googleapi.ChunkSize(p.chunk))
	}
	b, err := p.svc.Edits.Bundles.Upload(p.pkg, editID).Media(f, media...).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("edits.bundles.upload: %w", err)
	}
	if b.VersionCode != versionCode {
		return fmt.Errorf("edits.bundles.upload: Play read versionCode %d from %s, the artifact says %d", b.VersionCode, path, versionCode)
	}
	return nil
}
