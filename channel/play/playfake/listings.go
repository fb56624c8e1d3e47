package playfake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"unicode/utf8"
)

// listing is the fake's own decoding of the discovery schema "Listing"; every property the
// schema has is here, so strict decoding refuses only names the schema lacks.
type listing struct {
	Language         string `json:"language,omitempty"`
	Title            string `json:"title,omitempty"`
	ShortDescription string `json:"shortDescription,omitempty"`
	FullDescription  string `json:"fullDescription,omitempty"`
	Video            string `json:"video,omitempty"`
}

// Store listing limits, from Play Console Help "Create and set up your app" (answer 9859152,
// "Store listing"): app name up to 30 characters, short description up to 80, full description
// up to 4,000.
const (
	maxTitle            = 30
	maxShortDescription = 80
	maxFullDescription  = 4000
)

// bcp47 is the shape of the Listing's language: "a BCP-47 language tag; for example, "de-AT"
// for Austrian German" (the discovery document). Only the shape is checked; Play's list of
// supported languages is not documented in the API.
var bcp47 = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)

// listingsUpdate: "Creates or updates a localized store listing" (edits.listings.update), in
// the edit; edits.commit makes it the app's.
func (f *Fake) listingsUpdate(c *request) (any, *apiError) {
	_, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	lang := c.params["language"]
	if !bcp47.MatchString(lang) {
		return nil, badRequest("Invalid language: %q.", lang)
	}
	var l listing
	if e := decodeStrict(c.body, &l); e != nil {
		return nil, e
	}
	l.Language = lang
	for _, field := range []struct {
		name, text string
		max        int
	}{{"title", l.Title, maxTitle}, {"shortDescription", l.ShortDescription, maxShortDescription}, {"fullDescription", l.FullDescription, maxFullDescription}} {
		if n := utf8.RuneCountInString(field.text); n > field.max {
			return nil, badRequest("Listing %s for %s is too long: %d characters (at most %d).", field.name, lang, n, field.max)
		}
	}
	if ed.listings == nil {
		ed.listings = map[string]listing{}
	}
	ed.listings[lang] = l
	return &l, nil
}

// listingsGet answers the edit's listing of a language.
func (f *Fake) listingsGet(c *request) (any, *apiError) {
	_, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	l, ok := ed.listings[c.params["language"]]
	if !ok {
		return nil, notFound("Listing not found: %s.", c.params["language"])
	}
	return &l, nil
}

// CommittedListings is the JSON of the app's store listings by language as the last committed
// edit left them. Tests read the fake's state through it, not through the client under test.
func (f *Fake) CommittedListings(packageName string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[packageName]
	if !ok {
		return nil, fmt.Errorf("playfake: no app %s", packageName)
	}
	return json.Marshal(a.listings)
}

func cloneListings(in map[string]listing) map[string]listing {
	out := make(map[string]listing, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
