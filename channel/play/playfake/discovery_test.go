package playfake

import (
	"net/http"
	"strings"
	"testing"
)

// Every method of the discovery document must route back to itself from its own path
// template — with sample values in every variable — or the fake would answer 404 for a
// documented call.
func TestEveryDocumentedMethodRoutesToItself(t *testing.T) {
	d, err := loadDiscovery()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := d.routes()
	if err != nil {
		t.Fatal(err)
	}
	methods := d.methods()
	if len(methods) < 100 {
		t.Fatalf("the discovery document has %d methods; expected the whole API", len(methods))
	}
	checked := 0
	for _, rt := range routes {
		var path []string
		for _, s := range rt.segments {
			if s.param == "" {
				path = append(path, s.prefix)
				continue
			}
			path = append(path, s.prefix+"x-"+s.param+s.suffix)
		}
		got, params, _ := lookup(routes, rt.m.HTTPMethod, "/"+strings.Join(path, "/"))
		if got == nil || got.m.ID != rt.m.ID || got.upload != rt.upload {
			t.Errorf("%s %s routes to %v", rt.m.HTTPMethod, rt.template, got)
			continue
		}
		for _, s := range rt.segments {
			if s.param != "" && params[s.param] != "x-"+s.param {
				t.Errorf("%s: parameter %s = %q", rt.template, s.param, params[s.param])
			}
		}
		checked++
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.m.ID] = true
	}
	for _, m := range methods {
		if !seen[m.ID] {
			t.Errorf("method %s has no route", m.ID)
		}
	}
	if checked < len(methods) {
		t.Errorf("checked %d routes for %d methods", checked, len(methods))
	}
}

// The upload paths come from mediaUpload.protocols, not from the plain path.
func TestBundleUploadRoutes(t *testing.T) {
	d, err := loadDiscovery()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := d.routes()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		upload bool
	}{
		{"/androidpublisher/v3/applications/p/edits/1/bundles", false},
		{"/upload/androidpublisher/v3/applications/p/edits/1/bundles", true},
		{"/resumable/upload/androidpublisher/v3/applications/p/edits/1/bundles", true},
	} {
		rt, params, _ := lookup(routes, http.MethodPost, tc.path)
		if rt == nil || rt.m.ID != "androidpublisher.edits.bundles.upload" || rt.upload != tc.upload {
			t.Errorf("POST %s → %+v", tc.path, rt)
			continue
		}
		if params["packageName"] != "p" || params["editId"] != "1" {
			t.Errorf("POST %s: params %v", tc.path, params)
		}
	}
	// A custom verb is a literal suffix: ":commit" must not route to edits.get/delete.
	rt, params, _ := lookup(routes, http.MethodPost, "/androidpublisher/v3/applications/p/edits/1:commit")
	if rt == nil || rt.m.ID != "androidpublisher.edits.commit" || params["editId"] != "1" {
		t.Errorf(":commit → %+v %v", rt, params)
	}
}
