package imagesig

import (
	"context"
	"testing"
)

// BenchmarkVerifyCold verifies a signed digest with an empty cache each time, against the
// in-process registry on loopback.
func BenchmarkVerifyCold(b *testing.B) {
	reg := newRegistry(b)
	release := newSigner(b)
	keys := []Authority{release.key(b, "release")}
	d := reg.Push(b, "shop/web:v1")
	release.Sign(b, d)
	before := reg.Requests.Load()
	for b.Loop() {
		if got := New(Options{}).Verify(context.Background(), d.String(), keys); !got.Verified {
			b.Fatal(got)
		}
	}
	b.ReportMetric(float64(reg.Requests.Load()-before)/float64(b.N), "registry-req/op")
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
