package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the webhook's Prometheus metrics, registered on a registry of its own.
type metrics struct {
	registry   *prometheus.Registry
	duration   *prometheus.HistogramVec
	decisions  *prometheus.CounterVec
	breakGlass *prometheus.CounterVec
	policyErrs prometheus.Counter
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
	}
	m.registry.MustRegister(m.duration, m.decisions, m.breakGlass, m.policyErrs,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
