package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results in bollard_notifications_total.
const (
	resultSent    = "sent"    // a 2xx answer
	resultFailed  = "failed"  // given up on: retries spent, a status that retrying cannot fix, or not encodable
	resultDropped = "dropped" // the target's queue was full when Notify was called
)

var metricNotifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bollard_notifications_total",
	Help: "Notifications by target, event kind and result (sent, failed, dropped)."}, []string{"target", "kind", "result"})

func init() {
	metrics.Registry.MustRegister(metricNotifications)
}
