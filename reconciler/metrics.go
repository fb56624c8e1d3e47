package reconciler

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	metricSyncs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_release_syncs_total",
		Help: "Syncs of a Release by result (SUCCESS, FAILED, REFUSED)."}, []string{"release", "result"})
	metricDrift = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_drift_total",
		Help: "Managed objects found changed out of band, by Release."}, []string{"release"})
	metricSyncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bollard_sync_duration_seconds",
		Help: "How long a sync operation took.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}, []string{"release"})
	metricAPIRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_kube_api_requests_total",
		Help: "Requests the daemon sent to the API server, by method and resource (impersonated ones included)."}, []string{"method", "resource"})
	metricStage = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bollard_reconcile_stage_seconds",
		Help: "How long each stage of a Release's reconcile took (fetch, render, preflight, snapshot, apply, status, verify).", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"stage"})
	metricHealthReads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_health_reads_total",
		Help: "Health checks' reads of a Release's workloads, by source: the daemon's cache (it had seen the last apply) or the API server."}, []string{"source"})
	metricPushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_receiver_pushes_total",
		Help: "Push events received, by provider and outcome (accepted, unauthorized, malformed, ignored)."}, []string{"provider", "outcome"})
)

func init() {
	metrics.Registry.MustRegister(metricSyncs, metricDrift, metricSyncDuration, metricPushes, metricAPIRequests, metricStage, metricHealthReads)
}

// countRequests counts what goes through rt in bollard_kube_api_requests_total.
func countRequests(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		metricAPIRequests.WithLabelValues(req.Method, resourceOf(req.URL.Path)).Inc()
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// resourceOf is the resource a Kubernetes API path names ("discovery" for group and version
// documents, the first segment for other paths):
// /api/v1/namespaces/ns/configmaps/x → configmaps, /apis/g/v/releases → releases.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		parts = parts[3:]
	case len(parts) >= 1 && (parts[0] == "api" || parts[0] == "apis"):
		return "discovery"
	default: // /version, /openapi/v3/…
		return parts[0]
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return "namespaces"
	}
	if len(parts) >= 3 { // a subresource
		return parts[0] + "/" + parts[2]
	}
	return parts[0]
}

// stage observes how long a reconcile stage took since t0.
func stage(name string, t0 time.Time) {
	metricStage.WithLabelValues(name).Observe(time.Since(t0).Seconds())
}
