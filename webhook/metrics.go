package webhook

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
)

// metrics are the webhook's Prometheus metrics, registered on a registry of its own.
type metrics struct {
	registry   *prometheus.Registry
	duration   *prometheus.HistogramVec
	decisions  *prometheus.CounterVec
	breakGlass *prometheus.CounterVec
	policyErrs prometheus.Counter
	notReady   prometheus.Gauge
	images     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bollard_admission_duration_seconds",
			Help:    "Time to decide one AdmissionReview, by verdict.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"verdict"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bollard_admission_decisions_total",
			Help: "AdmissionReviews decided (dry runs excluded), by verdict: allowed, denied, exempt, error.",
		}, []string{"verdict"}),
		breakGlass: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bollard_break_glass_total",
			Help: "Deploys admitted inside a freeze by an authorised break-glass, by DeployPolicy.",
		}, []string{"policy"}),
		policyErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bollard_policy_compile_errors_total",
			Help: "User policy modules rejected because they did not compile; the previous policy set stays.",
		}),
		notReady: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bollard_webhook_policies_missing",
			Help: "1 while a configured policy source (the policy ConfigMap, the ClusterImagePolicy CRD) is not loaded: the webhook is not Ready.",
		}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bollard_image_verifications_total",
			Help: "Image verifications by outcome (verified, not_verified, registry_error) and cache (hit, miss).",
		}, []string{"outcome", "cache"}),
	}
	m.registry.MustRegister(m.duration, m.decisions, m.breakGlass, m.policyErrs, m.notReady, m.images,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// meteredVerifier counts what the signature gate's verifier answers.
type meteredVerifier struct {
	admission.ImageVerifier
	counts *prometheus.CounterVec
}

// Prepare passes the registries to set up on to the verifier, when it takes them.
func (m meteredVerifier) Prepare(ctx context.Context, hosts []string) {
	if p, ok := m.ImageVerifier.(admission.Preparer); ok {
		p.Prepare(ctx, hosts)
	}
}

func (m meteredVerifier) Verify(ctx context.Context, image string, authorities []imagesig.Authority) imagesig.Verdict {
	v := m.ImageVerifier.Verify(ctx, image, authorities)
	outcome, cache := "not_verified", "miss"
	switch {
	case v.Verified:
		outcome = "verified"
	case strings.Contains(v.Reason, "registry unreachable"):
		outcome = "registry_error"
	}
	if v.Cached {
		cache = "hit"
	}
	m.counts.WithLabelValues(outcome, cache).Inc()
	return v
}
