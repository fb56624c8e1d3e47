package playfake_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"testing"
	"time"

	"bollard.dev/bollard/channel/play/playfake"
)

// These tests speak raw HTTP to the fake, JWT exchange included, so that the fake is
// checked without the generated client the provider uses.

const pkg = "dev.bollard.shop"

const scope = "https://www.googleapis.com/auth/androidpublisher"

type serviceAccount struct {
	PrivateKey  string `json:"private_key"`
	ClientEmail string `json:"client_email"`
	TokenURI    string `json:"token_uri"`
}

func startFake(t *testing.T, opts playfake.Options) *playfake.Fake {
	t.Helper()
	f, err := playfake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	f.AddApp(pkg)
	return f
}

func parseServiceAccount(t *testing.T, f *playfake.Fake) (serviceAccount, *rsa.PrivateKey) {
	t.Helper()
	var sa serviceAccount
	if err := json.Unmarshal(f.ServiceAccountJSON(), &sa); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil {
		t.Fatal("service account has no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return sa, k.(*rsa.PrivateKey)
}

// assertion signs a JWT-bearer assertion; claims override the defaults.
func assertion(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func claims(sa serviceAccount) map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": sa.ClientEmail, "scope": scope, "aud": sa.TokenURI, "iat": now, "exp": now + 3600}
}

// exchange posts an assertion to the token endpoint and returns status and JSON body.
func exchange(t *testing.T, tokenURI, grant, jwt string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(tokenURI, url.Values{"grant_type": {grant}, "assertion": {jwt}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// client is an authenticated raw HTTP client of the fake.
type client struct {
	t     *testing.T
	f     *playfake.Fake
	token string
}

func newClient(t *testing.T, f *playfake.Fake) *client {
	t.Helper()
	sa, key := parseServiceAccount(t, f)
	code, body := exchange(t, sa.TokenURI, "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion(t, key, claims(sa)))
	if code != http.StatusOK || body["token_type"] != "Bearer" {
		t.Fatalf("token exchange: %d %v", code, body)
	}
	return &client{t: t, f: f, token: body["access_token"].(string)}
}

// googleError is Google's JSON error shape, decoded independently of googleapi.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Errors  []struct {
			Message string `json:"message"`
			Domain  string `json:"domain"`
			Reason  string `json:"reason"`
		} `json:"errors"`
	} `json:"error"`
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %s: %v", r.code, r.body, err)
	}
}

// googleError decodes the body as Google's error shape and checks the shape is whole.
func (r response) googleError(t *testing.T) googleError {
	t.Helper()
	var e googleError
	r.json(t, &e)
	if e.Error.Code != r.code || e.Error.Message == "" || e.Error.Status == "" ||
		len(e.Error.Errors) != 1 || e.Error.Errors[0].Domain != "global" || e.Error.Errors[0].Reason == "" {
		t.Fatalf("not Google's error shape: %d %s", r.code, r.body)
	}
	return e
}

func (c *client) do(method, path string, header http.Header, body []byte) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.f.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) call(method, path string, v any) response {
	c.t.Helper()
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	return c.do(method, path, http.Header{"Content-Type": {"application/json"}}, body)
}

func editsPath(rest string) string {
	return "/androidpublisher/v3/applications/" + pkg + "/edits" + rest
}

// insertEdit opens an edit and returns its id.
func (c *client) insertEdit() string {
	c.t.Helper()
	r := c.call(http.MethodPost, editsPath(""), map[string]any{})
	if r.code != http.StatusOK {
		c.t.Fatalf("edits.insert: %d %s", r.code, r.body)
	}
	var e struct {
		ID     string `json:"id"`
		Expiry string `json:"expiryTimeSeconds"`
	}
	r.json(c.t, &e)
	if e.ID == "" || e.Expiry == "" {
		c.t.Fatalf("edits.insert: %s", r.body)
	}
	return e.ID
}

// upload sends a bundle with uploadType=multipart, as the Go client does for small files.
func (c *client) upload(editID string, bundle []byte, mediaType string) response {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, part := range []struct {
		ctype string
		data  []byte
	}{{"application/json", []byte("{}")}, {mediaType, bundle}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.ctype}})
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := w.Write(part.data); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"multipart/related; boundary=" + mw.Boundary()}}
	return c.do(http.MethodPost, "/upload"+editsPath("/"+editID+"/bundles")+"?uploadType=multipart", h, buf.Bytes())
}

func bundle(t *testing.T, packageName string, versionCode int64) []byte {
	t.Helper()
	b, err := playfake.NewBundle(playfake.BundleSpec{Package: packageName, VersionCode: versionCode, VersionName: fmt.Sprintf("1.0.%d", versionCode)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t *testing.T, r response, what string) {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("%s: %d %s", what, r.code, r.body)
	}
}
