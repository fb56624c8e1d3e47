package admission

import (
	"context"
	"slices"
)

// DeleteKinds are the workloads whose deletion a freeze gates, with their apiVersion: the ones a
// person deletes to take a service down. Pods, ReplicaSets and Jobs are deleted by controllers
// all the time (scale-down, revision history, TTL) and are not gated.
var DeleteKinds = map[string]string{"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
	"CronJob": "batch/v1", "ReplicationController": "v1"}

// DeleteControllers are the built-in controllers whose deletes are never gated: the garbage
// collector removing what an owner's deletion left, and the namespace controller emptying a
// namespace being deleted (kube-controller-manager's own identity without per-controller
// credentials). The webhook registration leaves them out by a match condition.
var DeleteControllers = []string{
	"system:serviceaccount:kube-system:generic-garbage-collector",
	"system:serviceaccount:kube-system:namespace-controller",
	"system:kube-controller-manager",
}

// deleteReview decides a DELETE: inside a deny freeze (or outside the allow windows) of a
// DeployPolicy in scope whose deletes are gated, deleting a workload is denied unless the
// workload carries a bollard.dev/break-glass annotation by an authorised user (set it with an
// update first: an annotation is not a deploy). The daemon's deletes (prune, rollback) pass by
// its identity: the revision they belong to passed its pre-flight, which refuses a revision that
// removes a workload during a freeze.
func (g *Gate) deleteReview(ctx context.Context, req Request) (Decision, error) {
	obj := req.Subject()
	switch {
	case req.SubResource != "":
		return Decision{Allowed: true, Exempt: "subresource " + req.SubResource}, nil
	case obj == nil:
		return Decision{Reasons: []string{"DELETE request without the object being deleted (oldObject): cannot tell whether a freeze forbids it"}}, nil
	case DeleteKinds[obj.GetKind()] == "":
		return Decision{Allowed: true, Exempt: "deletes of " + obj.GetKind() + " are not gated"}, nil
	case slices.Contains(DeleteControllers, req.User.Username):
		return Decision{Allowed: true, Exempt: "delete by the built-in controller " + req.User.Username}, nil
	case g.isDaemon(req.User):
		return Decision{Allowed: true, Exempt: "delete by bollard's daemon (its revision passed the pre-flight)"}, nil
	}
	del := req
	del.Object, del.OldObject = obj, nil
	d, _, err := g.evaluate(ctx, del) // a delete is always a change (IsDeploy): only freezes apply
	return d, err
}
