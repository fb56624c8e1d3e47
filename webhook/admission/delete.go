package admission

import (
	"context"
	"slices"
)

// DeleteKinds are the workloads whose deletion a freeze gates: the ones a person deletes to take
// a service down. Pods, ReplicaSets and Jobs are deleted by controllers all the time (scale-down,
// revision history, TTL) and are not gated.
var DeleteKinds = []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob", "ReplicationController"}

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
	obj := req.OldObject
	switch {
	case req.SubResource != "":
		return Decision{Allowed: true, Exempt: "subresource " + req.SubResource}, nil
	case obj == nil:
		return Decision{Reasons: []string{"DELETE request without the object being deleted (oldObject): cannot tell whether a freeze forbids it"}}, nil
	case !slices.Contains(DeleteKinds, obj.GetKind()):
		return Decision{Allowed: true, Exempt: "deletes of " + obj.GetKind() + " are not gated"}, nil
	case slices.Contains(DeleteControllers, req.User.Username):
		return Decision{Allowed: true, Exempt: "delete by the built-in controller " + req.User.Username}, nil
	case slices.Contains(g.rollbackUsers, req.User.Username):
		return Decision{Allowed: true, Exempt: "delete by bollard's daemon (its revision passed the pre-flight)"}, nil
	}
	del := req
	del.Object, del.OldObject = obj, nil
	in, frozenBy, err := g.buildInput(ctx, del)
	if err != nil {
		return Decision{}, err
	}
	deny, warn, err := g.engine.Load().Eval(ctx, in)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: len(deny) == 0, Reasons: deny, Warnings: warn}
	if d.Allowed && len(frozenBy) > 0 && in.BreakGlass.Authorized {
		d.BreakGlass = &BreakGlassUse{User: in.User.Username, Reason: in.BreakGlass.Reason, Policies: frozenBy}
	}
	return d, nil
}
