package reconciler

import (
	"cmp"
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"bollard.dev/bollard/api/v1alpha1"
)

// tracer makes the daemon's traces: one per change (Deployment Log), a span per gate and step
// (no-ops unless tracing is set up).
func (r *Reconciler) tracer() trace.Tracer {
	return cmp.Or[trace.TracerProvider](r.Tracer, otel.GetTracerProvider()).Tracer("bollard.dev/bollard/reconciler")
}

// traceLogs turns what a status write adds to the Deployment Logs into spans: a new log opens a
// trace (its root span "deploy NS/NAME #ID", whose IDs the log keeps), each gate or step added is
// a span of it with its result, detail (the values it saw: SLO figures, replicas, digests) and
// duration, and a log that ends gets a span with its status. A rollout spans many reconciles; its
// spans join the trace by the IDs the log carries. The root's IDs go into the status about to be
// written; the other spans are sent by the returned function, once that write has landed.
func (r *Reconciler) traceLogs(ctx context.Context, rel *v1alpha1.Release, before, after *v1alpha1.ReleaseStatus) (emit func()) {
	tracer := r.tracer()
	var spans []func()
	emit = func() {
		for _, f := range spans {
			f()
		}
	}
	old := logsByID(before.History)
	for i := range after.History {
		lp := &after.History[i]
		prev, seen := old[lp.ID]
		if !seen && lp.TraceID == "" {
			l := lp
			_, root := tracer.Start(ctx, "deploy "+rel.Namespace+"/"+rel.Name, trace.WithTimestamp(l.Started.Time), trace.WithNewRoot(),
				trace.WithAttributes(attribute.String("bollard.release", rel.Namespace+"/"+rel.Name), attribute.Int64("bollard.log_id", l.ID),
					attribute.String("bollard.trigger", l.Trigger), attribute.String("bollard.revision", l.Revision),
					attribute.String("bollard.target", l.Target), attribute.String("bollard.strategy", l.Strategy),
					attribute.StringSlice("bollard.artifacts", l.Artifacts)))
			sc := root.SpanContext()
			root.End()
			if !sc.IsValid() {
				return emit // tracing is off
			}
			l.TraceID, l.SpanID = sc.TraceID().String(), sc.SpanID().String()
			r.Log.Info("Deployment Log traced", "release", rel.Namespace+"/"+rel.Name, "id", l.ID, "traceID", l.TraceID)
		}
		l := *lp
		tid, err1 := trace.TraceIDFromHex(l.TraceID)
		sid, err2 := trace.SpanIDFromHex(l.SpanID)
		if err1 != nil || err2 != nil {
			continue
		}
		parent := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
		steps := func(now, was []v1alpha1.LogStep, kind string) {
			for j := len(was); j < len(now); j++ {
				s := now[j]
				end := time.Now()
				_, span := tracer.Start(parent, s.Name, trace.WithTimestamp(end.Add(-time.Duration(s.DurationMillis)*time.Millisecond)),
					trace.WithAttributes(attribute.String("bollard.kind", kind), attribute.String("bollard.result", string(s.Result)), attribute.String("bollard.detail", s.Detail)))
				if s.Result == v1alpha1.ResultFail {
					span.SetStatus(codes.Error, s.Detail)
				}
				span.End(trace.WithTimestamp(end))
			}
		}
		spans = append(spans, func() {
			steps(l.Gates, prev.Gates, "gate")
			steps(l.Steps, prev.Steps, "step")
		})
		if finished(l) && !finished(prev) {
			spans = append(spans, func() { r.endSpan(parent, l) })
		}
	}
	return emit
}

// endSpan is the span of a change's end: its status and object counts.
func (r *Reconciler) endSpan(parent context.Context, l v1alpha1.DeploymentLog) {
	_, span := r.tracer().Start(parent, "end "+string(l.Status), trace.WithAttributes(attribute.String("bollard.status", string(l.Status)),
		attribute.Int("bollard.created", l.Created), attribute.Int("bollard.updated", l.Updated), attribute.Int("bollard.pruned", l.Pruned)))
	if l.Status != v1alpha1.LogSuccess {
		span.SetStatus(codes.Error, string(l.Status))
	}
	span.End()
}
