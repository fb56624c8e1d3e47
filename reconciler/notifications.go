package reconciler

import (
	"fmt"
	"strconv"
	"strings"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/notify"
)

// notifyKinds are the notifications of a change's end, by its status (FAILED — a sync that
// failed with nothing to roll back — and HALTED are said by RolledBack's and Refused's peers
// in Events and alerts; a halt is a rollback's red button without the rollback).
var notifyKinds = map[v1alpha1.LogStatus]string{
	v1alpha1.LogSuccess:        notify.Succeeded,
	v1alpha1.LogRefused:        notify.Refused,
	v1alpha1.LogRolledBack:     notify.RolledBack,
	v1alpha1.LogHalted:         notify.RolledBack,
	v1alpha1.LogRollbackFailed: notify.RollbackFailed,
}

// notifyLogs is the notifications of the changes a status write ends, sent by the returned
// function once the write has landed (never blocking: the notifier queues).
func (r *Reconciler) notifyLogs(rel *v1alpha1.Release, before, after *v1alpha1.ReleaseStatus) func() {
	if r.Notifier == nil {
		return func() {}
	}
	old := logsByID(before.History)
	var events []notify.Event
	for _, l := range after.History {
		kind, ok := notifyKinds[l.Status]
		if !ok || !finished(l) || finished(old[l.ID]) {
			continue
		}
		details := map[string]string{"logID": strconv.FormatInt(l.ID, 10), "status": string(l.Status), "target": l.Target, "strategy": l.Strategy}
		if l.TraceID != "" {
			details["traceID"] = l.TraceID
		}
		var digests []string
		for _, e := range l.Evidence {
			if e.Digest != "" {
				digests = append(digests, e.Image+"@"+e.Digest)
			}
		}
		if len(digests) > 0 {
			details["artifacts"] = strings.Join(digests, ", ")
		}
		summary := fmt.Sprintf("revision %s of Release %s/%s: %s", short(l.Revision), rel.Namespace, rel.Name, l.Status)
		if n := len(l.Steps); n > 0 && l.Status != v1alpha1.LogSuccess {
			summary += " — " + l.Steps[n-1].Name + ": " + l.Steps[n-1].Detail
		} else if n := len(l.Gates); n > 0 && l.Status == v1alpha1.LogRefused {
			summary += " — " + l.Gates[n-1].Detail
		}
		events = append(events, notify.Event{Kind: kind, Release: rel.Namespace + "/" + rel.Name, Revision: l.Revision, Summary: summary, Details: details})
	}
	return func() {
		for _, e := range events {
			r.Notifier.Notify(e)
		}
	}
}

// notifyDrift sends a drift notification: reverted by self-heal, or only reported.
func (r *Reconciler) notifyDrift(rel *v1alpha1.Release, reverted bool, what string) {
	if r.Notifier == nil {
		return
	}
	kind := notify.DriftReported
	if reverted {
		kind = notify.DriftReverted
	}
	r.Notifier.Notify(notify.Event{Kind: kind, Release: rel.Namespace + "/" + rel.Name, Revision: rel.Status.ObservedRevision,
		Summary: fmt.Sprintf("drift in Release %s/%s: %s", rel.Namespace, rel.Name, what)})
}
