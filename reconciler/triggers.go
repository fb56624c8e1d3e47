package reconciler

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/engine"
)

// Why a reconcile runs; recorded as the Deployment Log's trigger.
const (
	TriggerPush  = "push"
	TriggerDrift = "drift"
	TriggerPoll  = "poll"
)

// Trigger makes a Release reconcile now, for reason (push, drift, …).
func (r *Reconciler) Trigger(key types.NamespacedName, reason string) {
	r.mu.Lock()
	if r.pending[key] != TriggerPush { // a push outranks drift in the log
		r.pending[key] = reason
	}
	r.mu.Unlock()
	select {
	case r.triggers <- event.GenericEvent{Object: &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}}:
	default: // the queue is full: the Release is reconciled anyway
	}
}

// OnDrift is the engine's drift feed: record the change and reconcile the Release.
func (r *Reconciler) OnDrift(c engine.Change) {
	key := types.NamespacedName{Namespace: c.Release.Namespace, Name: c.Release.Name}
	metricDrift.WithLabelValues(key.String()).Inc()
	r.mu.Lock()
	r.drift[key] = append(r.drift[key], v1alpha1.DriftRecord{Kind: c.Object.Kind, Namespace: c.Object.Namespace, Name: c.Object.Name,
		Fields: c.Fields, DetectedAt: metav1.Now()})
	r.mu.Unlock()
	r.Trigger(key, TriggerDrift)
}

func (r *Reconciler) take(key types.NamespacedName) (string, []v1alpha1.DriftRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason, drift := r.pending[key], r.drift[key]
	delete(r.pending, key)
	delete(r.drift, key)
	if reason == "" {
		reason = TriggerPoll
	}
	return reason, drift
}

// next is when to reconcile rel after its rollout ended: at once when a push or drift came in
// while it ran (those waited for it), else at the poll interval.
func (r *Reconciler) next(rel *v1alpha1.Release) time.Duration {
	if r.hasPending(types.NamespacedName{Namespace: rel.Namespace, Name: rel.Name}) {
		return 10 * time.Millisecond
	}
	return interval(rel)
}

// pushed reports a push that has not been reconciled yet.
func (r *Reconciler) pushed(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[key] == TriggerPush
}

// hasPending reports a push or drift that has not been reconciled yet.
func (r *Reconciler) hasPending(key types.NamespacedName) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[key] != "" || len(r.drift[key]) > 0
}

// interval is how often git is polled for rel.
func interval(rel *v1alpha1.Release) time.Duration {
	if rel.Spec.Interval.Duration > 0 {
		return rel.Spec.Interval.Duration
	}
	return 3 * time.Minute
}
