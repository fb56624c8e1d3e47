// Command admit runs in a real-node pod: it sends the same AdmissionReview (a Deployment CREATE
// running IMAGE in NAMESPACE) to the webhook's /validate through its Service, from -clients
// clients with keep-alive for -duration after a warm-up, as the API server would, and prints one
// line: "admissions N allowed A in D: R/s p50 X p95 Y p99 Z max M errors E". Then it waits to be
// stopped, so its log can be read.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "the webhook's /validate URL (through its Service)")
	serverName := flag.String("server-name", "", "the name its certificate is for")
	caB64 := flag.String("ca", "", "the CA bundle, base64")
	image := flag.String("image", "", "the image the Deployment runs")
	namespace := flag.String("namespace", "default", "the Deployment's namespace")
	clients := flag.Int("clients", 8, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to measure")
	flag.Parse()
	ca, err := base64.StdEncoding.DecodeString(*caB64)
	pool := x509.NewCertPool()
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		fmt.Println("admit: -ca holds no PEM certificate")
		os.Exit(2)
	}
	review, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "load", "kind": map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
			"resource":  map[string]any{"group": "apps", "version": "v1", "resource": "deployments"},
			"namespace": *namespace, "name": "load", "operation": "CREATE",
			"userInfo": map[string]any{"username": "load"},
			"object": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
				"metadata": map[string]any{"name": "load", "namespace": *namespace},
				"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "load"}},
					"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "load"}},
						"spec": map[string]any{"containers": []any{map[string]any{"name": "load", "image": *image}}}}}}}})
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *clients,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: *serverName, MinVersion: tls.VersionTLS12}}}
	admit := func() (time.Duration, bool, error) {
		start := time.Now()
		resp, err := httpc.Post(*url, "application/json", bytes.NewReader(review))
		if err != nil {
			return 0, false, err
		}
		var out struct {
			Response struct {
				Allowed bool `json:"allowed"`
			} `json:"response"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), out.Response.Allowed, err
	}
	for range 50 { // warm-up: connections, the verdict cache
		if _, _, err := admit(); err != nil {
			fmt.Println("admit: warm-up:", err)
			os.Exit(1)
		}
	}
	var mu sync.Mutex
	var took []time.Duration
	allowed, errs := 0, 0
	var first error
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range *clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				d, ok, err := admit()
				mu.Lock()
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
				} else {
					took = append(took, d)
					if ok {
						allowed++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(took)
	q := func(p float64) float64 {
		if len(took) == 0 {
			return 0
		}
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	fmt.Printf("admissions %d allowed %d in %.1fs: %.0f/s p50 %.2f p95 %.2f p99 %.2f max %.2f errors %d\n",
		len(took), allowed, elapsed.Seconds(), float64(len(took))/elapsed.Seconds(), q(0.50), q(0.95), q(0.99), q(1), errs)
	if first != nil {
		fmt.Println("first error:", first)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
