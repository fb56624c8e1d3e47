package imagesig

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

func bundleKey(t testing.TB, s imagesigtest.BundleSigner, keyName string) Authority {
	t.Helper()
	k, err := ParseKey(keyName, s.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestBundleFormat verifies the Sigstore bundles cosign v3 writes by default, stored as OCI
// referrers or, on registries without the referrers API, under the sha256-<hex> fallback tag.
func TestBundleFormat(t *testing.T) {
	for _, referrers := range []bool{false, true} {
		name := "fallback tag"
		if referrers {
			name = "referrers API"
		}
		t.Run(name, func(t *testing.T) {
			reg := imagesigtest.NewRegistry(t, registry.WithReferrersSupport(referrers))
			release, other := imagesigtest.NewBundleSigner(t), imagesigtest.NewBundleSigner(t)
			signed := reg.Push(t, "shop/web:v1")
			release.Sign(t, signed)
			attestedOnly := reg.Push(t, "shop/web:v2")
			release.Attest(t, attestedOnly, "https://slsa.dev/provenance/v1", "{}")
			wrongKey := reg.Push(t, "shop/web:v3")
			other.Sign(t, wrongKey)
			ctx := context.Background()
			keys := []Authority{bundleKey(t, release, "release")}

			if got := New(Options{}).Verify(ctx, reg.Host+"/shop/web:v1", keys); !got.Verified || got.Format != "bundle" || got.Authority != "release" || got.Digest != signed.DigestStr() {
				t.Errorf("signed: %+v", got)
			}
			if got := New(Options{}).Verify(ctx, attestedOnly.String(), keys); got.Verified || got.Reason != "no signatures found" {
				t.Errorf("an SLSA attestation is not a signature: %+v", got)
			}
			if got := New(Options{}).Verify(ctx, wrongKey.String(), keys); got.Verified || !strings.Contains(got.Reason, "signature bundle does not match key release") {
				t.Errorf("signed by another key: %+v", got)
			}
		})
	}
}

func TestBothFormatsOnOneImage(t *testing.T) {
	reg := imagesigtest.NewRegistry(t)
	classic, bundled := newSigner(t), imagesigtest.NewBundleSigner(t)
	d := reg.Push(t, "shop/web:v1")
	classic.Sign(t, d)
	bundled.Sign(t, d)
	ctx := context.Background()
	if got := New(Options{}).Verify(ctx, d.String(), []Authority{bundleKey(t, bundled, "v3")}); !got.Verified || got.Format != "bundle" {
		t.Errorf("bundle key with a classic signature present: %+v", got)
	}
	if got := New(Options{}).Verify(ctx, d.String(), []Authority{classic.key(t, "v2")}); !got.Verified || got.Format != "classic" {
		t.Errorf("classic key with a bundle present: %+v", got)
	}
}
