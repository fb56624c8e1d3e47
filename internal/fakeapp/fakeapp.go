// Package fakeapp is an application's metrics without the application: a latency histogram
// (http_request_duration_seconds) and a request counter (http_requests_total) by version and
// status code, fed by simulated traffic (100 requests/s per version) whose latency and error
// rate the caller sets. The demo and the SLO tests have Prometheus scrape it: kwok's pods serve
// nothing.
package fakeapp

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Behaviour is how a version serves.
type Behaviour struct {
	Latency   time.Duration
	ErrorRate float64 // 0..1
}

// App is the simulated traffic and its metrics.
type App struct {
	mu       sync.Mutex
	behave   map[string]Behaviour
	latency  *prometheus.HistogramVec
	requests *prometheus.CounterVec
	handler  http.Handler
}

func New() *App {
	reg := prometheus.NewRegistry()
	a := &App{behave: map[string]Behaviour{},
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "Request latency.", Buckets: []float64{.01, .025, .05, .1, .2, .3, .5, .8, 1, 2}}, []string{"version"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests."}, []string{"version", "code"})}
	reg.MustRegister(a.latency, a.requests)
	a.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return a
}

// Handler serves /metrics.
func (a *App) Handler() http.Handler { return a.handler }

// Set makes version serve as b from now on.
func (a *App) Set(version string, b Behaviour) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.behave[version] = b
}

// Run simulates the traffic until ctx ends.
func (a *App) Run(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.mu.Lock()
		for v, b := range a.behave {
			a.latency.WithLabelValues(v).Observe(b.Latency.Seconds() * (0.9 + 0.2*rand.Float64()))
			code := "200"
			if rand.Float64() < b.ErrorRate {
				code = "500"
			}
			a.requests.WithLabelValues(v, code).Inc()
		}
		a.mu.Unlock()
	}
}
