package imagesig

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

func newRegistry(t testing.TB) *imagesigtest.Registry { return imagesigtest.NewRegistry(t) }
func newSigner(t testing.TB) signer                   { return signer{imagesigtest.NewSigner(t)} }

// signer adds the Authority of the package under test to a test key pair.
type signer struct{ imagesigtest.Signer }

func (s signer) key(t testing.TB, keyName string) Authority {
	t.Helper()
	k, err := ParseKey(keyName, s.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerify(t *testing.T) {
	reg := newRegistry(t)
	release, other := newSigner(t), newSigner(t)
	signed := reg.Push(t, "shop/web:v1")
	release.Sign(t, signed)
	unsigned := reg.Push(t, "shop/web:v2")
	wrongKey := reg.Push(t, "shop/web:v3")
	other.Sign(t, wrongKey)
	ctx := context.Background()

	cases := []struct {
		name     string
		image    string
		keys     []Authority
		verified bool
		digest   string
		reason   string
	}{
		{"signed, by digest", signed.String(), []Authority{release.key(t, "release")}, true, signed.DigestStr(), ""},
		{"signed, by tag: resolved to the digest", reg.Host + "/shop/web:v1", []Authority{release.key(t, "release")}, true, signed.DigestStr(), ""},
		{"signed, one of two keys", signed.String(), []Authority{other.key(t, "other"), release.key(t, "release")}, true, signed.DigestStr(), ""},
		{"unsigned", unsigned.String(), []Authority{release.key(t, "release")}, false, unsigned.DigestStr(), "no signatures found"},
		{"signed by another key", wrongKey.String(), []Authority{release.key(t, "release")}, false, wrongKey.DigestStr(), "signature does not match key release"},
		{"tag that does not exist", reg.Host + "/shop/web:v9", []Authority{release.key(t, "release")}, false, "", "resolve " + reg.Host + "/shop/web:v9 to a digest"},
		{"not an image reference", "shop/WEB:@@", []Authority{release.key(t, "release")}, false, "", `image "shop/WEB:@@"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := New(Options{}).Verify(ctx, tc.image, tc.keys)
			if got.Verified != tc.verified || got.Digest != tc.digest || !strings.Contains(got.Reason, tc.reason) || got.Image != tc.image {
				t.Errorf("Verify = %+v, want verified %v digest %s reason ~%q", got, tc.verified, tc.digest, tc.reason)
			}
			if tc.verified && got.Authority != "release" {
				t.Errorf("verified by %q, want release", got.Authority)
			}
		})
	}
}

func TestVerdictCache(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Authority{release.key(t, "release")}
	d := reg.Push(t, "shop/web:v1")
	ctx := context.Background()
	v := New(Options{NegativeTTL: 100 * time.Millisecond})

	if got := v.Verify(ctx, d.String(), keys); got.Verified || got.Cached {
		t.Fatalf("unsigned image: %+v", got)
	}
	release.Sign(t, d)
	before := reg.Requests.Load()
	if got := v.Verify(ctx, d.String(), keys); got.Verified || !got.Cached {
		t.Fatalf("within the negative TTL: %+v, want the cached denial", got)
	}
	if n := reg.Requests.Load() - before; n != 0 {
		t.Errorf("a cached verdict made %d registry requests", n)
	}
	time.Sleep(150 * time.Millisecond)
	if got := v.Verify(ctx, d.String(), keys); !got.Verified || got.Cached {
		t.Fatalf("after the negative TTL: %+v, want a fresh verification", got)
	}
	before = reg.Requests.Load()
	for range 10 {
		if got := v.Verify(ctx, d.String(), keys); !got.Verified || !got.Cached {
			t.Fatalf("warm: %+v", got)
		}
	}
	if n := reg.Requests.Load() - before; n != 0 {
		t.Errorf("10 warm verifications made %d registry requests, want 0", n)
	}
	// Another key set is another question.
	if got := v.Verify(ctx, d.String(), []Authority{newSigner(t).key(t, "other")}); got.Verified || got.Cached {
		t.Errorf("other key: %+v", got)
	}
}

func TestRegistryDown(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Authority{release.key(t, "release")}
	d := reg.Push(t, "shop/web:v1")
	release.Sign(t, d)
	ctx := context.Background()

	cold := New(Options{Timeout: time.Second})
	warm := New(Options{Timeout: time.Second})
	if got := warm.Verify(ctx, d.String(), keys); !got.Verified {
		t.Fatalf("warm-up: %+v", got)
	}
	reg.Down.Store(true)
	if got := cold.Verify(ctx, d.String(), keys); got.Verified || !strings.Contains(got.Reason, "registry unreachable") {
		t.Errorf("registry down, nothing cached: %+v, want a denial saying registry unreachable", got)
	}
	if got := cold.Verify(ctx, reg.Host+"/shop/web:v1", keys); got.Verified || !strings.Contains(got.Reason, "registry unreachable") {
		t.Errorf("registry down, by tag: %+v", got)
	}
	if got := warm.Verify(ctx, d.String(), keys); !got.Verified || !got.Cached {
		t.Errorf("registry down, verdict cached: %+v, want the cached verification", got)
	}
	reg.Down.Store(false)
	if got := cold.Verify(ctx, d.String(), keys); !got.Verified {
		t.Errorf("registry back: %+v (an outage must not be cached as a verdict)", got)
	}
}

func TestConcurrentVerificationsShareOne(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Authority{release.key(t, "release")}
	d := reg.Push(t, "shop/web:v1")
	release.Sign(t, d)
	v := New(Options{})
	before := reg.Requests.Load()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if got := v.Verify(context.Background(), d.String(), keys); !got.Verified {
				t.Errorf("%+v", got)
			}
		})
	}
	wg.Wait()
	single := reg.Requests.Load() - before
	// One verification alone, for comparison.
	before = reg.Requests.Load()
	New(Options{}).Verify(context.Background(), d.String(), keys)
	if one := reg.Requests.Load() - before; single != one {
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

// TestTagCache: a tag verified a moment ago is admitted from the cache — no registry request —
// also while the registry is down, until TagTTL; a tag never seen is denied as unreachable, and
// after TagTTL the tag is asked again (a moved tag is seen).
func TestTagCache(t *testing.T) {
	reg := newRegistry(t)
	release := newSigner(t)
	keys := []Authority{release.key(t, "release")}
	d := reg.Push(t, "shop/web:v1")
	release.Sign(t, d)
	reg.Push(t, "shop/web:never-seen")
	ctx := context.Background()
	v := New(Options{Timeout: time.Second, TagTTL: 300 * time.Millisecond})
	tag := reg.Host + "/shop/web:v1"
	if got := v.Verify(ctx, tag, keys); !got.Verified {
		t.Fatalf("first verification: %+v", got)
	}
	before := reg.Requests.Load()
	for range 10 {
		if got := v.Verify(ctx, tag, keys); !got.Verified || !got.Cached {
			t.Fatalf("warm by tag: %+v", got)
		}
	}
	if n := reg.Requests.Load() - before; n != 0 {
		t.Errorf("10 warm admissions by tag made %d registry requests, want 0", n)
	}
	reg.Down.Store(true)
	if got := v.Verify(ctx, tag, keys); !got.Verified {
		t.Errorf("registry down, tag seen a moment ago: %+v, want admitted", got)
	}
	if got := v.Verify(ctx, reg.Host+"/shop/web:never-seen", keys); got.Verified || !strings.Contains(got.Reason, "registry unreachable") {
		t.Errorf("registry down, tag never seen: %+v, want denied as unreachable", got)
	}
	time.Sleep(350 * time.Millisecond)
	if got := v.Verify(ctx, tag, keys); got.Verified || !strings.Contains(got.Reason, "registry unreachable") {
		t.Errorf("registry down after TagTTL: %+v, want the tag asked again (and denied)", got)
	}
	reg.Down.Store(false)
	moved := reg.Push(t, "shop/web:v1") // the tag now names an unsigned digest
	if got := v.Verify(ctx, tag, keys); got.Verified || !strings.HasSuffix(got.Digest, moved.DigestStr()) && got.Digest != moved.DigestStr() {
		t.Errorf("after the tag moved: %+v, want the new, unsigned digest %s", got, moved.DigestStr())
	}
	if New(Options{PositiveTTL: time.Second, TagTTL: time.Hour}).opts.TagTTL != time.Second {
		t.Error("TagTTL outlives the verdict TTL")
	}
}

// TestColdRegistryRequests: a new, key-signed digest costs the registry the signature's manifest
// and its payload blob — each read once however often cosign looks at it. A registry without
// per-repository tokens gets one transport for all its repositories, set up once (its ping and
// the handshake's) — before the first admission when its name was Prepared: then 3 images cost
// 6 requests, where policy-controller v0.15.1 makes 9 (a ping per image).
func TestColdRegistryRequests(t *testing.T) {
	reg := newRegistry(t)
	s := newSigner(t)
	keys := []Authority{s.key(t, "release")}
	push := func(repoTag string) string {
		d := reg.Push(t, repoTag)
		s.Sign(t, d)
		return d.String()
	}
	web, same, api, worker := push("shop/web:v1"), push("shop/web:v2"), push("shop/api:v1"), push("shop/worker:v1")
	var paths []string
	reg.Log = func(p string) { paths = append(paths, p) }
	ctx := context.Background()
	count := func(v *Verifier, images ...string) int64 {
		before := reg.Requests.Load()
		for _, image := range images {
			if got := v.Verify(ctx, image, keys); !got.Verified {
				t.Fatalf("%s: %+v", image, got)
			}
		}
		return reg.Requests.Load() - before
	}
	v := New(Options{})
	if n := count(v, web); n != 4 {
		t.Errorf("first image of a registry: %d requests, want 4 (its set-up: 2 pings; .sig manifest, payload): %v", n, paths)
	}
	if n := count(v, same, api, worker); n != 6 {
		t.Errorf("three more images of that registry: %d requests, want 6 (2 each): %v", n, paths)
	}
	prepared := New(Options{})
	prepared.Prepare(ctx, []string{reg.Host, "not a registry/"})
	paths = nil
	if n := count(prepared, web, api, worker); n != 6 {
		t.Errorf("3 images of a Prepared registry: %d requests, want 6: %v", n, paths)
	}
}
