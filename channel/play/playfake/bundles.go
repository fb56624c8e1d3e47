package playfake

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// upload is a resumable upload session.
type upload struct {
	packageName, editID string
	mediaType           string
	data                []byte
}

func (f *Fake) bundlesList(c *request) (any, *apiError) {
	a, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	type bundlesListResponse struct {
		Kind    string   `json:"kind"`
		Bundles []bundle `json:"bundles,omitempty"`
	}
	// "Lists all current Android App Bundles of the app and edit."
	resp := bundlesListResponse{Kind: "androidpublisher#bundlesListResponse"}
	resp.Bundles = append(append(resp.Bundles, a.bundles...), ed.bundles...)
	return resp, nil
}

// bundlesUpload speaks Google's media-upload protocols
// (https://developers.google.com/android-publisher/upload): uploadType=media (the body is
// the bundle), multipart (multipart/related: JSON metadata, then the bundle) and
// resumable (a session started by a POST, continued by chunks with Content-Range). The
// Go client sends multipart when the bundle fits one chunk (16 MiB by default) and
// resumable otherwise.
func (f *Fake) bundlesUpload(c *request) (any, *apiError) {
	if !c.upload {
		return nil, badRequest("Media is required: upload the bundle to the /upload path.")
	}
	a, ed, e := f.openEdit(c)
	if e != nil {
		return nil, e
	}
	q := c.r.URL.Query()
	switch q.Get("uploadType") {
	case "media":
		if e := f.accepts(c.m, c.r.Header.Get("Content-Type")); e != nil {
			return nil, e
		}
		return f.addBundle(a, ed, c.body)
	case "multipart":
		media, e := f.multipartMedia(c)
		if e != nil {
			return nil, e
		}
		return f.addBundle(a, ed, media)
	case "resumable":
		if id := q.Get("upload_id"); id != "" {
			return f.uploadChunk(c, a, ed, id)
		}
		mt := c.r.Header.Get("X-Upload-Content-Type")
		if e := f.accepts(c.m, mt); e != nil {
			return nil, e
		}
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, errorf(http.StatusInternalServerError, "internalError", "no randomness")
		}
		sid := hex.EncodeToString(id)
		f.uploads[sid] = &upload{packageName: a.name, editID: ed.id, mediaType: mt}
		return bodiless{status: http.StatusOK, header: http.Header{"Location": {f.uploadURL(c.r, sid)}}}, nil
	default:
		return nil, badRequest("Invalid uploadType %q: media, multipart or resumable.", q.Get("uploadType"))
	}
}

// accepts checks a media type against the method's mediaUpload.accept list of the
// discovery document (bundles.upload: "application/octet-stream").
func (f *Fake) accepts(m *method, contentType string) *apiError {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return badRequest("Media type %q is not valid.", contentType)
	}
	for _, a := range m.MediaUpload.Accept {
		if a == mt || a == "*/*" || (strings.HasSuffix(a, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(a, "*"))) {
			return nil
		}
	}
	return badRequest("Media type %q is not supported. Valid media types: %s", mt, strings.Join(m.MediaUpload.Accept, ", "))
}

func (f *Fake) multipartMedia(c *request) ([]byte, *apiError) {
	mt, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		return nil, badRequest("A multipart upload is multipart/related with a boundary.")
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	var parts [][]byte
	var mediaType string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("Malformed multipart body: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, badRequest("Malformed multipart body: %v", err)
		}
		parts = append(parts, b)
		mediaType = p.Header.Get("Content-Type")
	}
	if len(parts) != 2 {
		return nil, badRequest("A multipart upload has two parts, metadata and media; got %d.", len(parts))
	}
	if e := f.accepts(c.m, mediaType); e != nil {
		return nil, e
	}
	return parts[1], nil
}

// uploadChunk appends one chunk to a resumable session. A chunk names its bytes with
// Content-Range: "bytes a-b/*", "bytes a-b/total" or "bytes */total". Until the last
// byte arrives the upload endpoint answers "308 Resume Incomplete" — as 200 with
// X-HTTP-Status-Code-Override: 308 when the client sent X-GUploader-No-308: yes, as the Go
// client does.
func (f *Fake) uploadChunk(c *request, a *app, ed *edit, id string) (any, *apiError) {
	s, ok := f.uploads[id]
	if !ok || s.packageName != a.name || s.editID != ed.id {
		return nil, notFound("No upload session %s for this edit.", id)
	}
	start, end, total, ok := contentRange(c.r.Header.Get("Content-Range"))
	if !ok {
		return nil, badRequest("Invalid Content-Range %q.", c.r.Header.Get("Content-Range"))
	}
	if start >= 0 {
		if start != int64(len(s.data)) || end-start+1 != int64(len(c.body)) {
			return nil, badRequest("Content-Range %q does not continue the %d bytes received.", c.r.Header.Get("Content-Range"), len(s.data))
		}
		s.data = append(s.data, c.body...)
	}
	if total >= 0 && int64(len(s.data)) == total {
		delete(f.uploads, id)
		return f.addBundle(a, ed, s.data)
	}
	if total >= 0 && int64(len(s.data)) > total {
		return nil, badRequest("Received %d bytes of a %d-byte upload.", len(s.data), total)
	}
	answer := bodiless{status: http.StatusPermanentRedirect, header: http.Header{}}
	if len(s.data) > 0 {
		answer.header.Set("Range", fmt.Sprintf("bytes=0-%d", len(s.data)-1))
	}
	if c.r.Header.Get("X-GUploader-No-308") == "yes" {
		answer.status = http.StatusOK
		answer.header.Set("X-HTTP-Status-Code-Override", "308")
	}
	return answer, nil
}

// contentRange parses "bytes a-b/total" (start a, end b), "bytes a-b/*" (total -1) and
// "bytes */total" (start -1).
func contentRange(h string) (start, end, total int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t < 0 {
			return 0, 0, 0, false
		}
		total = t
	}
	if rng == "*" {
		return -1, -1, total, total >= 0
	}
	s, e, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	a, err1 := strconv.ParseInt(s, 10, 64)
	b, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return 0, 0, 0, false
	}
	return a, b, total, true
}

// maxVersionCode: "The greatest value Google Play allows for versionCode is 2100000000"
// (https://developer.android.com/studio/publish/versioning); versionCode is "A positive
// integer" there too.
const maxVersionCode = 2100000000

// addBundle reads the uploaded bundle's base manifest and adds it to the edit.
func (f *Fake) addBundle(a *app, ed *edit, data []byte) (any, *apiError) {
	m, err := readManifest(data)
	if err != nil {
		return nil, badRequest("The Android App Bundle is invalid: %v", err)
	}
	// The application id is the app's identity on Play: "If you change the application
	// ID, Google Play Store treats the upload as a completely different app"
	// (https://developer.android.com/build/configure-app-module#set-application-id).
	if m.packageName != a.name {
		return nil, errorf(http.StatusForbidden, "forbidden", "The bundle's package name %s does not match the app %s.", m.packageName, a.name)
	}
	if m.versionCode < 1 || m.versionCode > maxVersionCode {
		return nil, badRequest("versionCode %d is outside 1..%d.", m.versionCode, maxVersionCode)
	}
	// Play Console Help, "Version codes" (answer 17367361): "Android requires that app
	// version codes increase with each release"; Play refuses a code already used with
	// "Version code N has already been used." (as reported publicly, e.g. criticalAY/Neer#53).
	if _, used := findBundle(a, ed, m.versionCode); used {
		return nil, errorf(http.StatusForbidden, "forbidden", "Version code %d has already been used.", m.versionCode)
	}
	s1, s256 := sha1.Sum(data), sha256.Sum256(data)
	b := bundle{VersionCode: m.versionCode, Sha1: hex.EncodeToString(s1[:]), Sha256: hex.EncodeToString(s256[:]), versionName: m.versionName}
	ed.bundles = append(ed.bundles, b)
	return b, nil
}
