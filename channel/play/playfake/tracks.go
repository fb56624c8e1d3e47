package playfake

import (
	"strconv"
)

func (f *Fake) tracksGet(c *request) (any, *apiError) {
	_, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	t, ok := ed.tracks[c.params["track"]]
	if !ok {
		return nil, notFound("Track not found: %s.", c.params["track"])
	}
	return t, nil
}

func (f *Fake) tracksList(c *request) (any, *apiError) {
	_, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	type tracksListResponse struct {
		Kind   string   `json:"kind"`
		Tracks []*track `json:"tracks"`
	}
	resp := tracksListResponse{Kind: "androidpublisher#tracksListResponse", Tracks: []*track{}}
	for _, name := range sortedKeys(ed.tracks) {
		resp.Tracks = append(resp.Tracks, ed.tracks[name])
	}
	return resp, nil
}

// tracksUpdate stores the request's releases as the track's releases in the edit. The
// Track schema calls an update's releases "desired changes" and TrackRelease.versionCodes
// "Must include version codes to retain from previous releases"; Google does not document
// how Play merges releases an update leaves out, so the fake does not merge: a client that
// counts on Play keeping a release it did not send is not covered by this fake.
func (f *Fake) tracksUpdate(c *request) (any, *apiError) {
	a, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	name := c.params["track"]
	if _, ok := ed.tracks[name]; !ok {
		return nil, notFound("Track not found: %s.", name)
	}
	var t track
	if e := decodeStrict(c.body, &t); e != nil {
		return nil, e
	}
	t.Track = name
	for i := range t.Releases {
		r := &t.Releases[i]
		if e := f.validateRelease(a, ed, name, r); e != nil {
			return nil, e
		}
		if r.Name == "" {
			r.Name = defaultName(a, ed, r.VersionCodes, f)
		}
	}
	ed.tracks[name] = &t
	return &t, nil
}

// defaultName follows TrackRelease.name: "If not set, the name is generated from the
// APK's version_name. If the release contains multiple APKs, the name is generated from
// the date."
func defaultName(a *app, ed *edit, codes int64s, f *Fake) string {
	if len(codes) != 1 {
		return f.now().UTC().Format("2006-01-02")
	}
	if b, ok := findBundle(a, ed, codes[0]); ok && b.versionName != "" {
		return b.versionName
	}
	return strconv.FormatInt(codes[0], 10)
}

func findBundle(a *app, ed *edit, versionCode int64) (bundle, bool) {
	for _, list := range [][]bundle{a.bundles, ed.bundles} {
		for _, b := range list {
			if b.VersionCode == versionCode {
				return b, true
			}
		}
	}
	return bundle{}, false
}

// validateRelease enforces what the discovery document's TrackRelease schema and the
// "APKs and Tracks" page say about a release — and nothing else.
func (f *Fake) validateRelease(a *app, ed *edit, trackName string, r *release) *apiError {
	// status: one of the schema's enum.
	if r.Status != "" && !contains(f.doc.enum("TrackRelease", "status"), r.Status) {
		return badRequest("Invalid value for release status: %q.", r.Status)
	}
	// userFraction: "Fraction of users who are eligible for a staged release.
	// 0 < fraction < 1. Can only be set when status is "inProgress" or "halted"."
	if r.UserFraction != nil {
		if r.Status != "inProgress" && r.Status != "halted" {
			return badRequest("userFraction can only be set when status is inProgress or halted, not %q.", r.Status)
		}
		if fr := *r.UserFraction; !(fr > 0 && fr < 1) {
			return badRequest("userFraction must be in (0, 1), got %v.", fr)
		}
	}
	// countryTargeting: "Note this is only allowed to be set for inProgress releases in
	// the production track."
	if r.CountryTargeting != nil && (r.Status != "inProgress" || trackName != "production") {
		return badRequest("countryTargeting is only allowed for inProgress releases in the production track.")
	}
	// inAppUpdatePriority: "Can take values in the range [0, 5]".
	if p := r.InAppUpdatePriority; p != nil && (*p < 0 || *p > 5) {
		return badRequest("inAppUpdatePriority must be in [0, 5], got %d.", *p)
	}
	// versionCodes name uploaded artifacts: the APKs and Tracks page uploads a bundle into
	// "a storage bucket, where it can be assigned to a track".
	for _, vc := range r.VersionCodes {
		if _, ok := findBundle(a, ed, vc); !ok {
			return badRequest("Version code %d has not been uploaded to this app.", vc)
		}
	}
	return nil
}

// releasesList answers applications.tracks.releases.list: "the list of all releases for
// a given track. This excludes any releases that are obsolete." — the releases of the
// committed track, each with the lifecycle state the test set (SetReview).
func (f *Fake) releasesList(c *request) (any, *apiError) {
	a, e := f.app(c.params["applicationsId"])
	if e != nil {
		return nil, e
	}
	name := c.params["tracksId"]
	t, ok := a.tracks[name]
	if !ok {
		return nil, notFound("Track not found: %s.", name)
	}
	type artifactSummary struct {
		VersionCode int64 `json:"versionCode"`
	}
	type releaseSummary struct {
		Track                 string            `json:"track"`
		ReleaseName           string            `json:"releaseName,omitempty"`
		ReleaseLifecycleState string            `json:"releaseLifecycleState"`
		ActiveArtifacts       []artifactSummary `json:"activeArtifacts,omitempty"`
	}
	type listReleaseSummariesResponse struct {
		Releases []releaseSummary `json:"releases,omitempty"`
	}
	var resp listReleaseSummariesResponse
	for _, r := range t.Releases {
		s := releaseSummary{Track: name, ReleaseName: r.Name, ReleaseLifecycleState: "RELEASE_LIFECYCLE_STATE_IN_REVIEW"}
		if r.Status == "draft" {
			s.ReleaseLifecycleState = "RELEASE_LIFECYCLE_STATE_DRAFT"
		}
		for _, vc := range r.VersionCodes {
			s.ActiveArtifacts = append(s.ActiveArtifacts, artifactSummary{VersionCode: vc})
			if st, ok := a.review[vc]; ok {
				s.ReleaseLifecycleState = st
			}
		}
		resp.Releases = append(resp.Releases, s)
	}
	// ListReleaseSummariesResponse.releases: "A maximum of 20 releases can be returned."
	if len(resp.Releases) > 20 {
		resp.Releases = resp.Releases[:20]
	}
	return resp, nil
}
