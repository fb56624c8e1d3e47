package playfake_test

import (
	"net/http"
	"testing"

	"bollard.dev/bollard/channel/play/playfake"
)

func TestRoutingAnswersGoogleErrors(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	anon := &client{t: t, f: f}
	for _, tc := range []struct {
		name   string
		c      *client
		method string
		path   string
		code   int
		reason string
		id     string
	}{
		{"path not in the discovery document", c, http.MethodGet, "/androidpublisher/v3/applications/" + pkg + "/nothing", http.StatusNotFound, "notFound", ""},
		{"another API version", c, http.MethodGet, "/androidpublisher/v2/applications/" + pkg + "/purchases/products/p/tokens/t", http.StatusNotFound, "notFound", ""},
		{"documented path, undocumented HTTP method", c, http.MethodPatch, editsPath("/1:commit"), http.StatusNotFound, "notFound", ""},
		{"documented, not implemented", c, http.MethodGet, "/androidpublisher/v3/applications/" + pkg + "/reviews", http.StatusNotImplemented, "notImplemented", "androidpublisher.reviews.list"},
		{"no token", anon, http.MethodPost, editsPath(""), http.StatusUnauthorized, "authError", "androidpublisher.edits.insert"},
		{"token the fake never issued", &client{t: t, f: f, token: "ya29.forged"}, http.MethodPost, editsPath(""), http.StatusUnauthorized, "authError", "androidpublisher.edits.insert"},
		{"unknown package", c, http.MethodPost, "/androidpublisher/v3/applications/com.example.other/edits", http.StatusNotFound, "notFound", "androidpublisher.edits.insert"},
		{"unknown edit", c, http.MethodGet, editsPath("/12345"), http.StatusNotFound, "notFound", "androidpublisher.edits.get"},
		{"enum query parameter out of its enum", c, http.MethodPost, editsPath("/1:commit?changesInReviewBehavior=LATER"), http.StatusBadRequest, "badRequest", "androidpublisher.edits.commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Calls())
			r := tc.c.call(tc.method, tc.path, nil)
			if r.code != tc.code {
				t.Fatalf("%s %s: %d %s", tc.method, tc.path, r.code, r.body)
			}
			if e := r.googleError(t); e.Error.Errors[0].Reason != tc.reason {
				t.Errorf("reason %q, want %q", e.Error.Errors[0].Reason, tc.reason)
			}
			if tc.code == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			calls := f.Calls()
			if len(calls) != before+1 || calls[before].ID != tc.id || calls[before].Status != tc.code {
				t.Errorf("recorded %+v, want one call %q with status %d", calls[before:], tc.id, tc.code)
			}
		})
	}
}

func TestMethodsListsTheWholeDocument(t *testing.T) {
	f := startFake(t, playfake.Options{})
	methods := f.Methods()
	implemented := 0
	for _, ok := range methods {
		if ok {
			implemented++
		}
	}
	if len(methods) < 100 || implemented != 13 {
		t.Errorf("%d documented methods, %d implemented", len(methods), implemented)
	}
	if !methods["androidpublisher.edits.tracks.update"] || methods["androidpublisher.edits.tracks.patch"] {
		t.Errorf("tracks.update implemented: %v, tracks.patch implemented: %v",
			methods["androidpublisher.edits.tracks.update"], methods["androidpublisher.edits.tracks.patch"])
	}
	if f.Revision() != "20260528" {
		t.Errorf("revision %q", f.Revision())
	}
}
