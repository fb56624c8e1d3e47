package reconciler

import (
	"net/http"

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
		Help: "Requests the daemon sent to the API server, by method (impersonated ones included)."}, []string{"method"})
	metricPushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_receiver_pushes_total",
		Help: "Push events received, by provider and outcome (accepted, unauthorized, malformed, ignored)."}, []string{"provider", "outcome"})
)

func init() {
	metrics.Registry.MustRegister(metricSyncs, metricDrift, metricSyncDuration, metricPushes, metricAPIRequests)
}

// countRequests counts what goes through rt in bollard_kube_api_requests_total.
func countRequests(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		metricAPIRequests.WithLabelValues(req.Method).Inc()
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
