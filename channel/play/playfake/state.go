package playfake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// app is one package's state: what its edits committed (the "deployed state" an edit
// copies), the review outcome the test set per versionCode, and its edits.
type app struct {
	name    string
	bundles []bundle
	tracks  map[string]*track
	review  map[int64]string
	edits   map[string]*edit
	// listings are the store listings by language.
	listings map[string]listing
}

type editState int

const (
	editOpen editState = iota
	editCommitted
	editDeleted
)

// edit holds a copy of the app's tracks taken at edits.insert plus the bundles uploaded
// into it; edits.commit replaces the app's state with it in one step.
type edit struct {
	id      string
	expiry  time.Time
	state   editState
	bundles []bundle
	tracks  map[string]*track
	// listings: the app's at edits.insert, changed by edits.listings.update.
	listings map[string]listing
}

// bundle is the Bundle resource (discovery schema "Bundle") plus the manifest's
// versionName, which names releases.
type bundle struct {
	VersionCode int64  `json:"versionCode"`
	Sha1        string `json:"sha1"`
	Sha256      string `json:"sha256"`
	versionName string
}

// track and release are the fake's own decoding of the discovery schemas "Track" and
// "TrackRelease"; every property the schema has is here, so strict decoding refuses only
// names the schema lacks.
type track struct {
	Track    string    `json:"track"`
	Releases []release `json:"releases,omitempty"`
}

type release struct {
	Name                string            `json:"name,omitempty"`
	VersionCodes        int64s            `json:"versionCodes,omitempty"`
	ReleaseNotes        []localizedText   `json:"releaseNotes,omitempty"`
	Status              string            `json:"status,omitempty"`
	UserFraction        *float64          `json:"userFraction,omitempty"`
	CountryTargeting    *countryTargeting `json:"countryTargeting,omitempty"`
	InAppUpdatePriority *int64            `json:"inAppUpdatePriority,omitempty"`
}

type localizedText struct {
	Language string `json:"language"`
	Text     string `json:"text"`
}

type countryTargeting struct {
	Countries          []string `json:"countries,omitempty"`
	IncludeRestOfWorld bool     `json:"includeRestOfWorld,omitempty"`
}

// int64s is a list of int64 in the JSON form the discovery document gives them
// ("type": "string", "format": "int64"); numbers are accepted too, as proto3 JSON does.
type int64s []int64

func (s int64s) MarshalJSON() ([]byte, error) {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.FormatInt(v, 10)
	}
	return json.Marshal(out)
}

func (s *int64s) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = (*s)[:0]
	for _, r := range raw {
		v, err := strconv.ParseInt(strings.Trim(string(r), `"`), 10, 64)
		if err != nil {
			return fmt.Errorf("versionCodes: %s is not an int64", r)
		}
		*s = append(*s, v)
	}
	return nil
}

func cloneTracks(in map[string]*track) map[string]*track {
	b, err := json.Marshal(in)
	if err != nil {
		panic("playfake: copying tracks: " + err.Error())
	}
	out := map[string]*track{}
	if err := json.Unmarshal(b, &out); err != nil {
		panic("playfake: copying tracks: " + err.Error())
	}
	return out
}

// AddApp creates an app with empty tracks and no bundles. Google's Edits page says the
// API only changes an existing app — one created in the Play Console — so a test adds the
// apps it calls for; calls for any other package answer 404.
func (f *Fake) AddApp(packageName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &app{name: packageName, tracks: map[string]*track{}, review: map[int64]string{}, edits: map[string]*edit{}}
	for _, t := range f.opts.Tracks {
		a.tracks[t] = &track{Track: t}
	}
	f.apps[packageName] = a
}

// SetReview sets the review outcome Play reports for a versionCode through
// applications.tracks.releases.list, as a ReleaseSummary.releaseLifecycleState
// ("NOT_APPROVED" or "RELEASE_LIFECYCLE_STATE_NOT_APPROVED"; the discovery document's enum).
// Until a test sets one, a committed release is IN_REVIEW (DRAFT for a draft release): the
// fake never decides a review by itself.
func (f *Fake) SetReview(packageName string, versionCode int64, state string) error {
	full := state
	if !strings.HasPrefix(full, "RELEASE_LIFECYCLE_STATE_") {
		full = "RELEASE_LIFECYCLE_STATE_" + state
	}
	if !contains(f.doc.enum("ReleaseSummary", "releaseLifecycleState"), full) {
		return fmt.Errorf("playfake: %q is not a releaseLifecycleState of the discovery document", state)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[packageName]
	if !ok {
		return fmt.Errorf("playfake: no app %s", packageName)
	}
	a.review[versionCode] = full
	return nil
}

// CommittedTrack is the JSON of a track as the last committed edit left it — what
// edits.tracks.get answers in a fresh edit. Tests read the fake's state through it, not
// through the client under test.
func (f *Fake) CommittedTrack(packageName, trackName string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[packageName]
	if !ok {
		return nil, fmt.Errorf("playfake: no app %s", packageName)
	}
	t, ok := a.tracks[trackName]
	if !ok {
		return nil, fmt.Errorf("playfake: app %s has no track %s", packageName, trackName)
	}
	return json.Marshal(t)
}

// CommittedBundles are the versionCodes of the bundles committed to an app.
func (f *Fake) CommittedBundles(packageName string) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[packageName]
	if !ok {
		return nil
	}
	var out []int64
	for _, b := range a.bundles {
		out = append(out, b.VersionCode)
	}
	return out
}

func (f *Fake) app(packageName string) (*app, *apiError) {
	a, ok := f.apps[packageName]
	if !ok {
		return nil, notFound("Package not found: %s.", packageName)
	}
	return a, nil
}

// openEdit finds the request's edit and refuses one that can no longer be used. The
// AppEdit schema: expiryTimeSeconds is when the edit "will expire and will be no longer
// valid for use"; the Edits page: an edit is "a copy of the current deployed state" that
// is discarded when the app changes elsewhere (its summary: "Using the Play Console to make
// changes while an edit is in progress will discard your current edit"), and the API's
// older discovery text said calls fail once an edit is "deleted, superseded or expired".
// The messages are the ones Play answers, as quoted in public bug reports
// (Triple-T/gradle-play-publisher#998, r0adkll/upload-google-play#48, tramlinehq/tramline#335).
func (f *Fake) openEdit(c *request) (*app, *edit, *apiError) {
	a, e := f.app(c.params["packageName"])
	if e != nil {
		return nil, nil, e
	}
	ed, ok := a.edits[c.params["editId"]]
	if !ok {
		return nil, nil, notFound("Edit not found: %s.", c.params["editId"])
	}
	switch {
	case ed.state == editCommitted:
		return nil, nil, badRequest("This edit has already been successfully committed, please create a new Edit.")
	case ed.state == editDeleted:
		return nil, nil, badRequest("This Edit has been deleted.")
	case !f.now().Before(ed.expiry):
		return nil, nil, badRequest("This edit has expired, please create a new Edit.")
	}
	return a, ed, nil
}

type appEdit struct {
	ID                string `json:"id"`
	ExpiryTimeSeconds string `json:"expiryTimeSeconds,omitempty"`
}

func (ed *edit) resource() appEdit {
	return appEdit{ID: ed.id, ExpiryTimeSeconds: strconv.FormatInt(ed.expiry.Unix(), 10)}
}

func (f *Fake) editsInsert(c *request) (any, *apiError) {
	a, e := f.app(c.params["packageName"])
	if e != nil {
		return nil, e
	}
	// The request body is an AppEdit whose fields are all output-only.
	if len(strings.TrimSpace(string(c.body))) > 0 {
		var ignored appEdit
		if e := decodeStrict(c.body, &ignored); e != nil {
			return nil, e
		}
	}
	ed := &edit{id: f.newID(), expiry: f.now().Add(f.opts.EditLifetime), tracks: cloneTracks(a.tracks), listings: cloneListings(a.listings)}
	a.edits[ed.id] = ed
	return ed.resource(), nil
}

func (f *Fake) editsGet(c *request) (any, *apiError) {
	_, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	return ed.resource(), nil
}

// editsDelete: "If successful, the response body is an empty JSON object."
func (f *Fake) editsDelete(c *request) (any, *apiError) {
	_, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	ed.state = editDeleted
	return struct{}{}, nil
}

func (f *Fake) editsValidate(c *request) (any, *apiError) {
	a, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	if e := f.validateEdit(a, ed); e != nil {
		return nil, e
	}
	return ed.resource(), nil
}

// editsCommit makes the edit the app's deployed state in one step ("When the edit is
// ready to go, you commit it, making the changes live" — Edits page) and discards every
// other open edit of the app, which copied a state that no longer is.
func (f *Fake) editsCommit(c *request) (any, *apiError) {
	a, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	if e := f.validateEdit(a, ed); e != nil {
		return nil, e
	}
	a.tracks = cloneTracks(ed.tracks)
	a.listings = cloneListings(ed.listings)
	a.bundles = append(a.bundles, ed.bundles...)
	ed.state = editCommitted
	for _, other := range a.edits {
		if other != ed && other.state == editOpen {
			other.state = editDeleted
		}
	}
	return appEdit{ID: ed.id}, nil
}

// validateEdit re-checks every release of the edit (edits.validate and edits.commit).
func (f *Fake) validateEdit(a *app, ed *edit) *apiError {
	for _, name := range sortedKeys(ed.tracks) {
		for i := range ed.tracks[name].Releases {
			if e := f.validateRelease(a, ed, name, &ed.tracks[name].Releases[i]); e != nil {
				return e
			}
		}
	}
	return nil
}
