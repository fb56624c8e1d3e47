package imagesig

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
)

// testRegistry is go-containerregistry's in-process OCI registry on loopback, counting the
// requests it serves and able to go down.
type testRegistry struct {
	*httptest.Server
	host     string
	requests atomic.Int64
	down     atomic.Bool
}

func newRegistry(t testing.TB) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		r.requests.Add(1)
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	r.host = strings.TrimPrefix(r.URL, "http://")
	return r
}

// push writes a random image under repo:tag and returns its digest reference.
func (r *testRegistry) push(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(h.String())
}

// signer is a cosign key pair.
type signer struct {
	sv     signature.SignerVerifier
	pubPEM []byte
}

func newSigner(t testing.TB) signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signer{sv: sv, pubPEM: pub}
}

func (s signer) key(t testing.TB, keyName string) Key {
	t.Helper()
	k, err := ParseKey(keyName, s.pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign attaches a classic cosign signature (the sha256-<hex>.sig tag), as `cosign sign --key`
// with --tlog-upload=false writes it.
func (s signer) sign(t testing.TB, d name.Digest) {
	t.Helper()
	pl, err := sigpayload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.sv.SignMessage(bytes.NewReader(pl))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := static.NewSignature(pl, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(d)
	if err != nil {
		t.Fatal(err)
	}
	if se, err = mutate.AttachSignatureToEntity(se, sig); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(d.Repository, se); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	reg := newRegistry(t)
	release, other := newSigner(t), newSigner(t)
	signed := reg.push(t, "shop/web:v1")
	release.sign(t, signed)
	unsigned := reg.push(t, "shop/web:v2")
	wrongKey := reg.push(t, "shop/web:v3")
	other.sign(t, wrongKey)
	ctx := context.Background()

	cases := []struct {
		name     string
		image    string
		keys     []Key
		verified bool
		digest   string
		reason   string
	}{
		{"signed, by digest", signed.String(), []Key{release.key(t, "release")}, true, signed.DigestStr(), ""},
		{"signed, by tag: resolved to the digest", reg.host + "/shop/web:v1", []Key{release.key(t, "release")}, true, signed.DigestStr(), ""},
		{"signed, one of two keys", signed.String(), []Key{other.key(t, "other"), release.key(t, "release")}, true, signed.DigestStr(), ""},
		{"unsigned", unsigned.String(), []Key{release.key(t, "release")}, false, unsigned.DigestStr(), "no signatures found"},
		{"signed by another key", wrongKey.String(), []Key{release.key(t, "release")}, false, wrongKey.DigestStr(), "signature does not match key release"},
		{"tag that does not exist", reg.host + "/shop/web:v9", []Key{release.key(t, "release")}, false, "", "resolve " + reg.host + "/shop/web:v9 to a digest"},
		{"not an image reference", "shop/WEB:@@", []Key{release.key(t, "release")}, false, "", `image "shop/WEB:@@"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := New(Options{}).Verify(ctx, tc.image, tc.keys)
			if got.Verified != tc.verified || got.Digest != tc.digest || !strings.Contains(got.Reason, tc.reason) || got.Image != tc.image {
				t.Errorf("Verify = %+v, want verified %v digest %s reason ~%q", got, tc.verified, tc.digest, tc.reason)
			}
			if tc.verified && got.Key != "release" {
				t.Errorf("verified by %q, want release", got.Key)
			}
		})
	}
}

func TestVerdictCache(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Key{release.key(t, "release")}
	d := reg.push(t, "shop/web:v1")
	ctx := context.Background()
	v := New(Options{NegativeTTL: 100 * time.Millisecond})

	if got := v.Verify(ctx, d.String(), keys); got.Verified || got.Cached {
		t.Fatalf("unsigned image: %+v", got)
	}
	release.sign(t, d)
	before := reg.requests.Load()
	if got := v.Verify(ctx, d.String(), keys); got.Verified || !got.Cached {
		t.Fatalf("within the negative TTL: %+v, want the cached denial", got)
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("a cached verdict made %d registry requests", n)
	}
	time.Sleep(150 * time.Millisecond)
	if got := v.Verify(ctx, d.String(), keys); !got.Verified || got.Cached {
		t.Fatalf("after the negative TTL: %+v, want a fresh verification", got)
	}
	before = reg.requests.Load()
	for range 10 {
		if got := v.Verify(ctx, d.String(), keys); !got.Verified || !got.Cached {
			t.Fatalf("warm: %+v", got)
		}
	}
	if n := reg.requests.Load() - before; n != 0 {
		t.Errorf("10 warm verifications made %d registry requests, want 0", n)
	}
	// Another key set is another question.
	if got := v.Verify(ctx, d.String(), []Key{newSigner(t).key(t, "other")}); got.Verified || got.Cached {
		t.Errorf("other key: %+v", got)
	}
}

func TestRegistryDown(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Key{release.key(t, "release")}
	d := reg.push(t, "shop/web:v1")
	release.sign(t, d)
	ctx := context.Background()

	cold := New(Options{Timeout: time.Second})
	warm := New(Options{Timeout: time.Second})
	if got := warm.Verify(ctx, d.String(), keys); !got.Verified {
		t.Fatalf("warm-up: %+v", got)
	}
	reg.down.Store(true)
	if got := cold.Verify(ctx, d.String(), keys); got.Verified || !strings.Contains(got.Reason, "registry unreachable") {
		t.Errorf("registry down, nothing cached: %+v, want a denial saying registry unreachable", got)
	}
	if got := cold.Verify(ctx, reg.host+"/shop/web:v1", keys); got.Verified || !strings.Contains(got.Reason, "registry unreachable") {
		t.Errorf("registry down, by tag: %+v", got)
	}
	if got := warm.Verify(ctx, d.String(), keys); !got.Verified || !got.Cached {
		t.Errorf("registry down, verdict cached: %+v, want the cached verification", got)
	}
	reg.down.Store(false)
	if got := cold.Verify(ctx, d.String(), keys); !got.Verified {
		t.Errorf("registry back: %+v (an outage must not be cached as a verdict)", got)
	}
}

func TestConcurrentVerificationsShareOne(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Key{release.key(t, "release")}
	d := reg.push(t, "shop/web:v1")
	release.sign(t, d)
	v := New(Options{})
	before := reg.requests.Load()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if got := v.Verify(context.Background(), d.String(), keys); !got.Verified {
				t.Errorf("%+v", got)
			}
		})
	}
	wg.Wait()
	single := reg.requests.Load() - before
	// One verification alone, for comparison.
	before = reg.requests.Load()
	New(Options{}).Verify(context.Background(), d.String(), keys)
	if one := reg.requests.Load() - before; single != one {
		t.Errorf("16 concurrent verifications made %d registry requests, one alone makes %d", single, one)
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(2)
	now := time.Now()
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, Verdict{Image: k}, now.Add(time.Hour))
	}
	if _, ok := c.get("a", now); ok || c.len() != 2 {
		t.Errorf("the oldest entry survived a full cache (len %d)", c.len())
	}
	if _, ok := c.get("c", now.Add(2*time.Hour)); ok {
		t.Error("an expired entry was returned")
	}
}

func TestParseKeyErrors(t *testing.T) {
	if _, err := ParseKey("release", []byte("not a key")); err == nil || !strings.Contains(err.Error(), "key release") {
		t.Errorf("ParseKey = %v", err)
	}
}
