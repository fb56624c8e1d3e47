package imagesig

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// BenchmarkVerifyCold verifies a digest with an empty cache each time, against the in-process
// registry on loopback: a classic signature by a key, a classic signature by a private CA's
// certificate (keyless), a Sigstore bundle, and an SLSA attestation passing a Rego policy.
func BenchmarkVerifyCold(b *testing.B) {
	reg := newRegistry(b)
	release, bundles, ca := newSigner(b), imagesigtest.NewBundleSigner(b), imagesigtest.NewCA(b)
	keyless, err := NewKeyless("ci", ca.ChainPEM, []Identity{{Issuer: ciIssuer, Subject: ciIdentity}}, true)
	if err != nil {
		b.Fatal(err)
	}
	attesting, err := release.key(b, "release").WithAttestations([]AttestationSpec{{Name: "provenance", PredicateType: "slsaprovenance1", PolicyType: "rego", Policy: slsaPolicy}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		sign func(name.Digest)
		auth Authority
	}{
		{"key", func(d name.Digest) { release.Sign(b, d) }, release.key(b, "release")},
		{"keyless", func(d name.Digest) { ca.Signer(b, ciIdentity, ciIssuer).Sign(b, d) }, keyless},
		{"bundle", func(d name.Digest) { bundles.Sign(b, d) }, bundleKey(b, bundles, "release")},
		{"attestation", func(d name.Digest) {
			release.Attest(b, d, "https://slsa.dev/provenance/v1", `{"runDetails":{"builder":{"id":"https://ci.example/builder"}}}`)
		}, attesting},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := reg.Push(b, "shop/web:"+bc.name)
			bc.sign(d)
			before := reg.Requests.Load()
			for b.Loop() {
				if got := New(Options{}).Verify(context.Background(), d.String(), []Authority{bc.auth}); !got.Verified {
					b.Fatal(got)
				}
			}
			b.ReportMetric(float64(reg.Requests.Load()-before)/float64(b.N), "registry-req/op")
		})
	}
}

// BenchmarkVerifyWarm is the admission hot path: a digest whose verdict is cached.
func BenchmarkVerifyWarm(b *testing.B) {
	reg := newRegistry(b)
	release := newSigner(b)
	keys := []Authority{release.key(b, "release")}
	d := reg.Push(b, "shop/web:v1")
	release.Sign(b, d)
	v := New(Options{})
	v.Verify(context.Background(), d.String(), keys)
	before := reg.Requests.Load()
	for b.Loop() {
		if got := v.Verify(context.Background(), d.String(), keys); !got.Verified || !got.Cached {
			b.Fatal(got)
		}
	}
	b.ReportMetric(float64(reg.Requests.Load()-before)/float64(b.N), "registry-req/op")
}
