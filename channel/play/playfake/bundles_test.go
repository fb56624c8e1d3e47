package playfake_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"bollard.dev/bollard/channel/play/playfake"
)

func TestBundleUploadReadsTheManifest(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	id := c.insertEdit()
	aab := bundle(t, pkg, 42)
	r := c.upload(id, aab, "application/octet-stream")
	must(t, r, "bundles.upload")
	var b struct {
		VersionCode int64  `json:"versionCode"`
		Sha256      string `json:"sha256"`
		Sha1        string `json:"sha1"`
	}
	r.json(t, &b)
	sum := sha256.Sum256(aab)
	if b.VersionCode != 42 || b.Sha256 != hex.EncodeToString(sum[:]) || len(b.Sha1) != 40 {
		t.Fatalf("bundles.upload answered %s", r.body)
	}

	for _, tc := range []struct {
		name      string
		body      []byte
		mediaType string
		code      int
	}{
		{"versionCode used already", bundle(t, pkg, 42), "application/octet-stream", http.StatusForbidden},
		{"another app's bundle", bundle(t, "com.example.other", 43), "application/octet-stream", http.StatusForbidden},
		{"versionCode over Play's maximum", bundle(t, pkg, 2100000001), "application/octet-stream", http.StatusBadRequest},
		{"not a zip", []byte("PK? no"), "application/octet-stream", http.StatusBadRequest},
		{"zip without a base manifest", zipWithout(t), "application/octet-stream", http.StatusBadRequest},
		{"media type outside mediaUpload.accept", bundle(t, pkg, 44), "text/plain", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.upload(id, tc.body, tc.mediaType)
			if r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
			r.googleError(t)
		})
	}
}

func zipWithout(t *testing.T) []byte {
	t.Helper()
	// A bundle whose manifest sits in a feature module, not in base.
	b, err := playfake.NewBundle(playfake.BundleSpec{Package: pkg, VersionCode: 1, Files: map[string][]byte{"feature/x.txt": []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.Replace(string(b), "base/manifest/AndroidManifest.xml", "feat/manifest/AndroidManifest.xml", -1))
}

func TestResumableUpload(t *testing.T) {
	f := startFake(t, playfake.Options{})
	c := newClient(t, f)
	id := c.insertEdit()
	aab := bundle(t, pkg, 42)
	path := "/upload" + editsPath("/"+id+"/bundles")

	r := c.do(http.MethodPost, path+"?uploadType=resumable", http.Header{"X-Upload-Content-Type": {"application/octet-stream"}}, nil)
	must(t, r, "start session")
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, f.URL+path+"?") || !strings.Contains(loc, "upload_id=") {
		t.Fatalf("Location %q", loc)
	}
	session := strings.TrimPrefix(loc, f.URL)
	half := len(aab) / 2
	r = c.do(http.MethodPost, session, http.Header{
		"Content-Range":      {fmt.Sprintf("bytes 0-%d/*", half-1)},
		"X-Guploader-No-308": {"yes"},
	}, aab[:half])
	if r.code != http.StatusOK || r.header.Get("X-Http-Status-Code-Override") != "308" || r.header.Get("Range") != fmt.Sprintf("bytes=0-%d", half-1) {
		t.Fatalf("first chunk: %d %v %s", r.code, r.header, r.body)
	}
	// A chunk that does not continue the bytes received is refused.
	if r := c.do(http.MethodPut, session, http.Header{"Content-Range": {fmt.Sprintf("bytes 1-%d/%d", half, len(aab))}}, aab[1:half+1]); r.code != http.StatusBadRequest {
		t.Fatalf("overlapping chunk: %d %s", r.code, r.body)
	}
	r = c.do(http.MethodPut, session, http.Header{"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", half, len(aab)-1, len(aab))}}, aab[half:])
	must(t, r, "last chunk")
	var b struct {
		VersionCode int64 `json:"versionCode"`
	}
	r.json(t, &b)
	if b.VersionCode != 42 {
		t.Fatalf("last chunk answered %s", r.body)
	}
}
