package webhook

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"testing"
	"time"

	"github.com/go-logr/logr"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"bollard.dev/bollard/internal/admissionload"
	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// BenchmarkAdmissionHTTPS is the load test of the signature path (internal/admissionload: the
// same reviews, client and measurements as the policy-controller peer in webhook/peerbench):
// a Deployment CREATE with 3 key-signed images posted to /validate over HTTPS with keep-alive;
// the registry is go-containerregistry's, in-process on loopback. Warm (8 concurrent clients,
// the digests verified before), by digest and by tag (warm tags cost no registry request within
// --tag-ttl); cold (new digests each admission, one at a time); and a fresh process's first
// admission.
func BenchmarkAdmissionHTTPS(b *testing.B) {
	b.Run("warm/by-digest", func(b *testing.B) { benchmarkWarm(b, false, admissionload.Warm) })
	b.Run("warm/by-tag", func(b *testing.B) { benchmarkWarm(b, true, admissionload.Warm) })
	b.Run("warm/sequential", func(b *testing.B) { benchmarkWarm(b, false, admissionload.Sequential) })
	b.Run("cold/new-digests", func(b *testing.B) {
		reg, signer := imagesigtest.NewRegistry(b), imagesigtest.NewSigner(b)
		ts, client := admissionload.Server(b, bollardServer(b, reg.Host, signer).Handler())
		admissionload.Cold(b, func(i int) admissionload.Target {
			return admissionload.Target{Client: client, URL: ts.URL + "/validate",
				Body: admissionload.Review("cold", admissionload.Images(b, reg, signer, 3, fmt.Sprintf("v%d", i), false))}
		}, reg.Requests.Load)
	})
	b.Run("cold/first-admission", func(b *testing.B) {
		// A fresh server (verifier, transports, compiled policies, TLS connection) per admission,
		// Ready before the timer starts: what the first admission after a start costs.
		reg, signer := imagesigtest.NewRegistry(b), imagesigtest.NewSigner(b)
		body := admissionload.Review("first", admissionload.Images(b, reg, signer, 3, "v1", false))
		admissionload.Cold(b, func(int) admissionload.Target {
			ts, client := admissionload.Server(b, bollardServer(b, reg.Host, signer).Handler())
			return admissionload.Target{Client: client, URL: ts.URL + "/validate", Body: body}
		}, reg.Requests.Load)
	})
}

func benchmarkWarm(b *testing.B, byTag bool, load func(*testing.B, *http.Client, string, []byte, func() int64)) {
	reg, signer := imagesigtest.NewRegistry(b), imagesigtest.NewSigner(b)
	body := admissionload.Review("load", admissionload.Images(b, reg, signer, 3, "v1", byTag))
	ts, client := admissionload.Server(b, bollardServer(b, reg.Host, signer).Handler())
	if ok, msg, err := admissionload.Post(client, ts.URL+"/validate", body); err != nil || !ok {
		b.Fatalf("warm-up admission: allowed %v, %q, %v", ok, msg, err)
	}
	before := reg.Requests.Load()
	load(b, client, ts.URL+"/validate", body, reg.Requests.Load)
	if n := reg.Requests.Load() - before; n != 0 {
		b.Errorf("warm admissions made %d registry requests, want 0", n)
	}
}

// bollardServer is bollard's admission server with one ClusterImagePolicy: the registry's shop/*
// images signed by signer's key; images no policy matches are denied.
func bollardServer(b *testing.B, host string, signer imagesigtest.Signer) *Server {
	return bollardServerT(b, host, signer)
}

func bollardServerT(b testing.TB, host string, signer imagesigtest.Signer) *Server {
	// As `bollard webhook` starts (the test process's client and registry share the setting).
	old := debug.SetGCPercent(-1)
	debug.SetGCPercent(old)
	TuneGC()
	b.Cleanup(func() { debug.SetGCPercent(old) })
	engine, err := admission.NewEngine(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	objects := &admission.Objects{ImagePolicyList: []policyv1beta1.ClusterImagePolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-signed", ResourceVersion: "1"},
		Spec: policyv1beta1.ClusterImagePolicySpec{
			Images:      []policyv1beta1.ImagePattern{{Glob: host + "/shop/*"}},
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(signer.PublicPEM)}}},
		},
	}}}
	s := &Server{gate: admission.NewGate(objects, engine, admission.WithImageVerification(imagesig.New(imagesig.Options{}), "deny")),
		events: fake.NewClientset(), metrics: newMetrics(), log: logr.Discard(), timeout: 5 * time.Second}
	s.gate.Warm(context.Background())
	s.ready.Store(true)
	return s
}
