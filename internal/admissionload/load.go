// Package admissionload is the load harness of the admission benchmarks: the same AdmissionReview
// (a Deployment CREATE), the same HTTPS client with keep-alive and the same measurements for
// bollard's /validate and for the peer it is compared with (sigstore policy-controller), so the
// figures of one `make bench` run can be set side by side.
package admissionload

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// NewServer builds the server under test for images of host signed by signer, and says where it
// answers reviews (its path, "/validate" or "").
type NewServer func(b *testing.B, host string, signer imagesigtest.Signer) (handler http.Handler, path string)

// Suite runs every measurement against servers newServer builds: warm with 8 clients by digest
// and by tag, warm sequential, cold with new digests, and a fresh server's first admission. With
// cached, warm admissions must make no registry request.
func Suite(b *testing.B, newServer NewServer, cached bool) {
	warm := func(b *testing.B, byTag bool, load func(*testing.B, *http.Client, string, []byte, func() int64)) {
		reg, signer := imagesigtest.NewRegistry(b), imagesigtest.NewSigner(b)
		body := Review("load", Images(b, reg, signer, 3, "v1", byTag))
		handler, path := newServer(b, reg.Host, signer)
		ts, client := Server(b, handler)
		if ok, msg, err := Post(client, ts.URL+path, body); err != nil || !ok {
			b.Fatalf("warm-up admission: allowed %v, %q, %v", ok, msg, err)
		}
		before := reg.Requests.Load()
		load(b, client, ts.URL+path, body, reg.Requests.Load)
		if n := reg.Requests.Load() - before; cached && n != 0 {
			b.Errorf("warm admissions made %d registry requests, want 0", n)
		}
	}
	b.Run("warm/by-digest", func(b *testing.B) { warm(b, false, Warm) })
	b.Run("warm/by-tag", func(b *testing.B) { warm(b, true, Warm) })
	b.Run("warm/sequential", func(b *testing.B) { warm(b, false, Sequential) })
	b.Run("cold/new-digests", func(b *testing.B) {
		reg, signer := imagesigtest.NewRegistry(b), imagesigtest.NewSigner(b)
		handler, path := newServer(b, reg.Host, signer)
		ts, client := Server(b, handler)
		Cold(b, func(i int) Target {
			return Target{Client: client, URL: ts.URL + path, Body: Review("cold", Images(b, reg, signer, 3, fmt.Sprintf("v%d", i), false))}
		}, reg.Requests.Load)
	})
	b.Run("cold/first-admission", func(b *testing.B) {
		// A fresh server (verifier, transports, compiled policies, TLS connection) per admission,
		// ready before the timer starts: what the first admission after a start costs.
		reg, signer := imagesigtest.NewRegistry(b), imagesigtest.NewSigner(b)
		body := Review("first", Images(b, reg, signer, 3, "v1", false))
		Cold(b, func(int) Target {
			handler, path := newServer(b, reg.Host, signer)
			ts, client := serve(b, handler)
			return Target{Client: client, URL: ts.URL + path, Body: body, Close: func() { client.CloseIdleConnections(); ts.Close() }}
		}, reg.Requests.Load)
	})
}

// Images pushes and signs n images (shop/svc<i>:<tag>) and returns them by digest, or by tag.
func Images(tb testing.TB, reg *imagesigtest.Registry, signer imagesigtest.Signer, n int, tag string, byTag bool) []string {
	var out []string
	for i := range n {
		d := reg.Push(tb, fmt.Sprintf("shop/svc%d:%s", i, tag))
		signer.Sign(tb, d)
		image := d.String()
		if byTag {
			image = fmt.Sprintf("%s/shop/svc%d:%s", reg.Host, i, tag)
		}
		out = append(out, image)
	}
	return out
}

// Review is an AdmissionReview of a Deployment CREATE in namespace shop running images.
func Review(uid string, images []string) []byte {
	var containers []map[string]any
	for i, image := range images {
		containers = append(containers, map[string]any{"name": fmt.Sprintf("c%d", i), "image": image})
	}
	object, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{"replicas": 3, "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}}, "spec": map[string]any{"containers": containers}}}})
	body, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
		"uid": uid, "kind": map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
		"resource":  map[string]any{"group": "apps", "version": "v1", "resource": "deployments"},
		"namespace": "shop", "name": "web", "operation": "CREATE", "userInfo": map[string]any{"username": "ci"},
		"object": json.RawMessage(object)}})
	return body
}

// Server serves handler over TLS 1.2+ with an ECDSA P-256 certificate — the key type both
// bollard and policy-controller (knative's certificates) serve with — and returns it with a
// keep-alive client that trusts it, for 16 connections.
func Server(tb testing.TB, handler http.Handler) (*httptest.Server, *http.Client) {
	ts, client := serve(tb, handler)
	tb.Cleanup(ts.Close)
	tb.Cleanup(client.CloseIdleConnections)
	return ts, client
}

// serve is Server without the cleanup: the caller closes both.
func serve(tb testing.TB, handler http.Handler) (*httptest.Server, *http.Client) {
	cert, pool := serving(tb)
	ts := httptest.NewUnstartedServer(handler)
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 16}}
	return ts, client
}

// serving is a self-signed ECDSA P-256 certificate for 127.0.0.1 and the pool that trusts it.
func serving(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admissionload"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, pool
}

// Post sends one review and returns whether it was allowed (and the message when not).
func Post(client *http.Client, url string, body []byte) (bool, string, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, "", fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	if out.Response == nil {
		return false, "", fmt.Errorf("status %d: no response", resp.StatusCode)
	}
	msg := ""
	if out.Response.Result != nil {
		msg = out.Response.Result.Message
	}
	return out.Response.Allowed, msg, nil
}

// Warm is the load test: 8 concurrent clients (4 per core on 2 cores) post body to url for
// b.N admissions, each must be allowed; it reports p50, p99, admissions/s, the registry
// requests per admission and the server process's CPU per admission.
func Warm(b *testing.B, client *http.Client, url string, body []byte, registryRequests func() int64) {
	var mu sync.Mutex
	var latencies []time.Duration
	before := registryRequests()
	cpu0 := processCPU()
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			ok, msg, err := Post(client, url, body)
			if err != nil || !ok {
				b.Errorf("admission: allowed %v, %q, %v", ok, msg, err)
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
	report(b, latencies, elapsed, float64(registryRequests()-before), processCPU()-cpu0)
}

// Sequential is Warm with one client posting one admission after another: the latency of a
// single admission, its tail included, without queueing behind the other clients.
func Sequential(b *testing.B, client *http.Client, url string, body []byte, registryRequests func() int64) {
	latencies := make([]time.Duration, 0, b.N)
	before, cpu0 := registryRequests(), processCPU()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		t0 := time.Now()
		ok, msg, err := Post(client, url, body)
		if err != nil || !ok {
			b.Fatalf("admission: allowed %v, %q, %v", ok, msg, err)
		}
		latencies = append(latencies, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	report(b, latencies, elapsed, float64(registryRequests()-before), processCPU()-cpu0)
}

// Target is one admission to measure: where to post what.
type Target struct {
	Client *http.Client
	URL    string
	Body   []byte
	// Close, when set, is called once the admission is measured (a fresh server is shut down
	// then, so the next one does not run beside every earlier one's heap).
	Close func()
}

// Cold measures admissions one at a time, each prepared outside the timer by next: digests never
// seen (freshly pushed and signed images), or a fresh server (its first admission).
func Cold(b *testing.B, next func(i int) Target, registryRequests func() int64) {
	var latencies []time.Duration
	var requests float64
	var cpu, elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		t := next(i)
		// The preparation's garbage is not the admission's: collected, swept and returned to the
		// system (else the scavenger returns it during the measurement).
		debug.FreeOSMemory()
		before, cpu0 := registryRequests(), processCPU()
		b.StartTimer()
		t0 := time.Now()
		ok, msg, err := Post(t.Client, t.URL, t.Body)
		d := time.Since(t0)
		b.StopTimer()
		if err != nil || !ok {
			b.Fatalf("cold admission: allowed %v, %q, %v", ok, msg, err)
		}
		if t.Close != nil {
			t.Close()
		}
		latencies, elapsed = append(latencies, d), elapsed+d
		requests += float64(registryRequests() - before)
		cpu += processCPU() - cpu0
	}
	report(b, latencies, elapsed, requests, cpu)
}

func report(b *testing.B, latencies []time.Duration, elapsed time.Duration, requests float64, cpu time.Duration) {
	if len(latencies) == 0 {
		return
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	n := float64(len(latencies))
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(n/elapsed.Seconds(), "admissions/s")
	b.ReportMetric(requests/n, "registry-req/admission")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/admission")
}

// processCPU is the CPU time this process (clients, server and registry alike) has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
