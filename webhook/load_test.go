package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// BenchmarkAdmissionHTTPS is the load test of the signature path: 8 concurrent clients send
// AdmissionReviews (a Deployment CREATE with 3 key-signed images) to /validate over HTTPS with
// keep-alive; the registry is go-containerregistry's, in-process on loopback. It reports p50/p99,
// admissions per second and registry requests per admission (warm: after the first admission).
func BenchmarkAdmissionHTTPS(b *testing.B) {
	// Most manifests name images by tag: warm, within --tag-ttl, those cost no registry request either.
	b.Run("by-digest", func(b *testing.B) { benchmarkAdmissionHTTPS(b, false) })
	b.Run("by-tag", func(b *testing.B) { benchmarkAdmissionHTTPS(b, true) })
}

func benchmarkAdmissionHTTPS(b *testing.B, byTag bool) {
	reg := imagesigtest.NewRegistry(b)
	signer := imagesigtest.NewSigner(b)
	var containers []map[string]any
	for i := range 3 {
		d := reg.Push(b, fmt.Sprintf("shop/svc%d:v1", i))
		signer.Sign(b, d)
		image := d.String()
		if byTag {
			image = fmt.Sprintf("%s/shop/svc%d:v1", reg.Host, i)
		}
		containers = append(containers, map[string]any{"name": fmt.Sprintf("c%d", i), "image": image})
	}
	engine, err := admission.NewEngine(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	objects := &admission.Objects{ImagePolicyList: []policyv1beta1.ClusterImagePolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-signed", ResourceVersion: "1"},
		Spec: policyv1beta1.ClusterImagePolicySpec{
			Images:      []policyv1beta1.ImagePattern{{Glob: reg.Host + "/shop/*"}},
			Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(signer.PublicPEM)}}},
		},
	}}}
	s := &Server{gate: admission.NewGate(objects, engine, admission.WithImageVerification(imagesig.New(imagesig.Options{}), "deny")),
		events: fake.NewClientset(), metrics: newMetrics(), log: logr.Discard(), timeout: 5 * time.Second}
	s.ready.Store(true)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	b.Cleanup(ts.Close)
	client := ts.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16

	object, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{"replicas": 3, "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}}, "spec": map[string]any{"containers": containers}}}})
	review := func(uid string) []byte {
		body, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
			"uid": uid, "kind": map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
			"resource":  map[string]any{"group": "apps", "version": "v1", "resource": "deployments"},
			"namespace": "shop", "name": "web", "operation": "CREATE", "userInfo": map[string]any{"username": "ci"},
			"object": json.RawMessage(object)}})
		return body
	}
	post := func(body []byte) (bool, error) {
		resp, err := client.Post(ts.URL+"/validate", "application/json", bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return false, err
		}
		return out.Response.Allowed, nil
	}
	if ok, err := post(review("warm-up")); err != nil || !ok {
		b.Fatalf("warm-up admission: allowed %v, %v", ok, err)
	}

	var mu sync.Mutex
	var latencies []time.Duration
	before := reg.Requests.Load()
	body := review("load")
	b.SetParallelism(4) // 8 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			ok, err := post(body)
			if err != nil || !ok {
				b.Errorf("admission: allowed %v, %v", ok, err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) == 0 {
		return
	}
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "admissions/s")
	requests := float64(reg.Requests.Load()-before) / float64(len(latencies))
	b.ReportMetric(requests, "registry-req/admission")
	if requests != 0 {
		b.Errorf("warm admissions made %.2f registry requests each, want 0", requests)
	}
}
