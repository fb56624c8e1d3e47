package playfake

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"sync"
	"time"
)

// Options shape a Fake. The zero value is usable.
type Options struct {
	// Tracks every app has, empty, from the start. Default: the tracks Google's "APKs and
	// Tracks" page (https://developers.google.com/android-publisher/tracks) names —
	// production, beta, alpha, internal. Tracks created through edits.tracks.create are
	// not supported (that method answers 501).
	Tracks []string
	// EditLifetime sets each edit's expiryTimeSeconds. Google documents that an edit
	// expires, not after how long; the default, one hour, is the fake's own choice.
	EditLifetime time.Duration
	// Now is the fake's clock (token and edit expiry). Default: time.Now.
	Now func() time.Time
}

// Call is one HTTP request the fake received.
type Call struct {
	// ID is the discovery document's method id ("androidpublisher.edits.commit"),
	// "oauth2.token" for the token endpoint, "" for a path the document does not have.
	ID     string
	Method string
	Path   string
	Query  string
	Status int
}

// Fake is the contract fake: an HTTP server on loopback that answers the Android
// Publisher API v3 as its discovery document describes it.
type Fake struct {
	// URL is the server's base URL ("http://127.0.0.1:port"). Point a client at URL+"/"
	// with option.WithEndpoint and authenticate it with ServiceAccountJSON.
	URL string

	srv      *httptest.Server
	doc      *discovery
	routes   []route
	handlers map[string]handler
	opts     Options
	key      *rsa.PrivateKey
	keyID    string

	mu      sync.Mutex
	apps    map[string]*app
	tokens  map[string]accessToken
	uploads map[string]*upload
	calls   []Call
	nextID  uint64
}

// handler serves one implemented method with f.mu held; it returns the JSON response
// body (or a bodiless answer) or an error in Google's shape. It writes nothing itself.
type handler func(f *Fake, c *request) (any, *apiError)

// bodiless is a handler's answer without a body: the upload protocol's session start and
// "resume incomplete" answers.
type bodiless struct {
	status int
	header http.Header
}

// request is one routed API call.
type request struct {
	r      *http.Request
	m      *method
	upload bool
	params map[string]string
	body   []byte
}

// New builds the route table from the embedded discovery document and starts the fake on
// a loopback port. Close it when done.
func New(opts Options) (*Fake, error) {
	if len(opts.Tracks) == 0 {
		opts.Tracks = []string{"production", "beta", "alpha", "internal"}
	}
	if opts.EditLifetime <= 0 {
		opts.EditLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	doc, err := loadDiscovery()
	if err != nil {
		return nil, err
	}
	routes, err := doc.routes()
	if err != nil {
		return nil, err
	}
	k, err := serviceAccountKey()
	if err != nil {
		return nil, fmt.Errorf("playfake: generating the service account's key: %w", err)
	}
	sum := sha256.Sum256(k.PublicKey.N.Bytes())
	f := &Fake{
		doc:      doc,
		routes:   routes,
		handlers: implemented(),
		opts:     opts,
		key:      k,
		keyID:    hex.EncodeToString(sum[:20]),
		apps:     map[string]*app{},
		tokens:   map[string]accessToken{},
		uploads:  map[string]*upload{},
	}
	for id := range f.handlers {
		if !f.documented(id) {
			return nil, fmt.Errorf("playfake: handler for %s, which the discovery document does not have", id)
		}
	}
	f.srv = httptest.NewServer(f)
	f.URL = f.srv.URL
	return f, nil
}

// implemented is the fake's method table; every other documented method answers 501.
func implemented() map[string]handler {
	return map[string]handler{
		"androidpublisher.edits.insert":                      (*Fake).editsInsert,
		"androidpublisher.edits.get":                         (*Fake).editsGet,
		"androidpublisher.edits.delete":                      (*Fake).editsDelete,
		"androidpublisher.edits.validate":                    (*Fake).editsValidate,
		"androidpublisher.edits.commit":                      (*Fake).editsCommit,
		"androidpublisher.edits.bundles.upload":              (*Fake).bundlesUpload,
		"androidpublisher.edits.bundles.list":                (*Fake).bundlesList,
		"androidpublisher.edits.tracks.get":                  (*Fake).tracksGet,
		"androidpublisher.edits.tracks.list":                 (*Fake).tracksList,
		"androidpublisher.edits.tracks.update":               (*Fake).tracksUpdate,
		"androidpublisher.applications.tracks.releases.list": (*Fake).releasesList,
		"androidpublisher.edits.listings.update":             (*Fake).listingsUpdate,
		"androidpublisher.edits.listings.get":                (*Fake).listingsGet,
	}
}

func (f *Fake) documented(id string) bool {
	for _, m := range f.doc.methods() {
		if m.ID == id {
			return true
		}
	}
	return false
}

// Close stops the server.
func (f *Fake) Close() { f.srv.Close() }

// Revision is the discovery document's revision ("20260528").
func (f *Fake) Revision() string { return f.doc.Revision }

// Methods lists every method id of the discovery document and whether the fake
// implements it.
func (f *Fake) Methods() map[string]bool {
	out := map[string]bool{}
	for _, m := range f.doc.methods() {
		_, ok := f.handlers[m.ID]
		out[m.ID] = ok
	}
	return out
}

// Calls returns every request received so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

func (f *Fake) now() time.Time { return f.opts.Now() }

// recorder records the call when the status is written — before any byte of the
// response, so a client that has the response finds its call in Calls.
type recorder struct {
	http.ResponseWriter
	record func(status int)
	wrote  bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.record(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP routes by the discovery document: the token endpoint; a path the document
// does not have → 404; a documented method without a valid token → 401; a documented
// method the fake does not implement → 501; otherwise the method's handler.
func (f *Fake) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	id := ""
	w := &recorder{ResponseWriter: rw, record: func(status int) {
		f.mu.Lock()
		f.calls = append(f.calls, Call{ID: id, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status})
		f.mu.Unlock()
	}}
	defer func() {
		if !w.wrote {
			w.WriteHeader(http.StatusOK)
		}
	}()
	if r.URL.Path == tokenPath {
		id = "oauth2.token"
		f.serveToken(w, r)
		return
	}
	rt, params, pathKnown := lookup(f.routes, r.Method, r.URL.EscapedPath())
	if rt == nil && r.Method == http.MethodPut && r.URL.Query().Get("upload_id") != "" {
		// Google's resumable protocol continues a session with PUT to the session URI
		// (https://developers.google.com/android-publisher/upload#resumable); the Go
		// client POSTs, the Java client PUTs.
		if up, p, _ := lookup(f.routes, http.MethodPost, r.URL.EscapedPath()); up != nil && up.upload {
			rt, params = up, p
		}
	}
	if rt == nil {
		what := "is not in the Android Publisher API v3 discovery document"
		if pathKnown {
			what = "is documented for another HTTP method"
		}
		writeError(w, notFound("%s %s %s.", r.Method, r.URL.Path, what))
		return
	}
	id = rt.m.ID
	if e := f.authenticate(r, rt.m); e != nil {
		writeError(w, e)
		return
	}
	h, ok := f.handlers[rt.m.ID]
	if !ok {
		writeError(w, errorf(http.StatusNotImplemented, "notImplemented",
			"%s is documented but the contract fake does not implement it.", rt.m.ID))
		return
	}
	if err := f.doc.checkQuery(rt.m, r.URL.Query()); err != nil {
		writeError(w, badRequest("%s", err.Error()))
		return
	}
	// An upload may be as large as the method's mediaUpload.maxSize; other bodies are
	// JSON, which the fake caps at its own 32 MiB.
	limit := int64(32 << 20)
	if rt.m.MediaUpload != nil {
		limit = rt.m.MediaUpload.MaxSize
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeError(w, badRequest("reading the request body: %v", err))
		return
	}
	if int64(len(body)) > limit {
		writeError(w, errorf(http.StatusRequestEntityTooLarge, "uploadTooLarge", "The body exceeds %d bytes.", limit))
		return
	}
	req := &request{r: r, m: rt.m, upload: rt.upload, params: params, body: body}
	// The handler and the encoding of its answer, which may point into the state, both
	// run under the lock.
	f.mu.Lock()
	resp, e := h(f, req)
	var out []byte
	if e == nil {
		if _, raw := resp.(bodiless); !raw {
			if out, err = json.Marshal(resp); err != nil {
				e = errorf(http.StatusInternalServerError, "internalError", "encoding the response: %v", err)
			}
		}
	}
	f.mu.Unlock()
	if e != nil {
		writeError(w, e)
		return
	}
	if raw, ok := resp.(bodiless); ok {
		for k, v := range raw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(raw.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(out)
}

// decodeStrict decodes a request body into v, refusing fields the schema does not have:
// Google's JSON mapping answers 400 "Invalid JSON payload received. Unknown name …".
func decodeStrict(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("Invalid JSON payload received. %v", err)
	}
	return nil
}

// newID is an id in the style Google's edit ids have: a long decimal number.
func (f *Fake) newID() string {
	f.nextID++
	return fmt.Sprintf("%d%012d", 1700000000+f.nextID, f.now().UnixNano()%1e12)
}

// uploadURL is the session URL a resumable upload continues at: the same upload path,
// with an upload_id, as Google's upload endpoint answers in Location.
func (f *Fake) uploadURL(r *http.Request, id string) string {
	q := url.Values{"uploadType": {"resumable"}, "upload_id": {id}}
	return f.URL + r.URL.EscapedPath() + "?" + q.Encode()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
