// Command webapp is a real application for the real-node lane and its demo: an HTTP server whose
// every answer is real traffic, counted by version.
//
//	webapp [-listen :8080] [-error-percent N] [-unhealthy]
//
// The version is $VERSION (a pod gets it from its app.kubernetes.io/version label through the
// downward API), else "dev".
//
//	/         answers "VERSION" (200), or 500 for -error-percent of requests
//	/health   the app's own view: 200 "ok VERSION", or 503 with -unhealthy; each request is logged
//	          with its User-Agent (so a test can see who asked which pod)
//	/ready    200: kubelet's readiness probe, which only asks whether the process serves
//	/metrics  http_requests_total{version,code} and http_request_duration_seconds{version} of /
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	errorPercent := flag.Float64("error-percent", 0, "share of / requests answered 500, in percent")
	unhealthy := flag.Bool("unhealthy", false, "/health answers 503 (the process still serves and is Ready)")
	flag.Parse()
	version := cmp.Or(os.Getenv("VERSION"), "dev")
	log.SetFlags(0)

	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests to /."}, []string{"version", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "Latency of /.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .2, .5, 1}}, []string{"version"})
	reg.MustRegister(requests, latency)
	// Both series exist from the start: a rate over a fresh pod is 0, not "no data".
	requests.WithLabelValues(version, "200")
	requests.WithLabelValues(version, "500")

	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		start := time.Now()
		code := http.StatusOK
		if rand.Float64()*100 < *errorPercent {
			code = http.StatusInternalServerError
		}
		w.WriteHeader(code)
		fmt.Fprintln(w, version)
		requests.WithLabelValues(version, fmt.Sprint(code)).Inc()
		latency.WithLabelValues(version).Observe(time.Since(start).Seconds())
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("GET /health from %q", r.UserAgent())
		if *unhealthy {
			http.Error(w, "unhealthy "+version+": the database is unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok", version)
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ready") })
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Stopped (SIGTERM): serve 2 s more while the pod leaves its Service's endpoints, then let
		// requests in flight finish — no request fails because a pod goes.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		log.Print("stopping: serving 2 s more while endpoints are updated")
		time.Sleep(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("webapp %s serving on %s", version, *listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-done // Shutdown returns once the requests in flight are answered
}
