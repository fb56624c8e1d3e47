package webhook

import (
	"context"
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
	admissionload.Suite(b, func(b *testing.B, host string, signer imagesigtest.Signer) (http.Handler, string) {
		return bollardServer(b, host, signer).Handler(), "/validate"
	}, true)
}

// bollardServer is bollard's admission server with one ClusterImagePolicy: the registry's shop/*
// images signed by signer's key; images no policy matches are denied.
func bollardServer(b *testing.B, host string, signer imagesigtest.Signer) *Server {
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
