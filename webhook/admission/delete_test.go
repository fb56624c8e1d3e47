package admission

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"bollard.dev/bollard/api/v1alpha1"
)

// TestDeleteDuringFreeze: deleting a workload inside a deny window is denied, saying it is a
// delete; an authorised break-glass annotation on the workload admits it (recorded); a policy
// with deletes: Allow lets it through; the garbage collector, the daemon, and kinds
// controllers delete all the time are never gated; outside the window it passes.
func TestDeleteDuringFreeze(t *testing.T) {
	engine, err := NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	friday := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) // inside black-friday
	tuesday := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	breakGlass := func(d *appsv1.Deployment) {
		d.Annotations = map[string]string{v1alpha1.AnnotationBreakGlass: "INC-1 data leak"}
	}
	for name, tc := range map[string]struct {
		req     Request
		allow   bool
		deletes v1alpha1.DeletePolicy
		want    string
	}{
		"in a freeze":                 {req: Request{Operation: "DELETE", User: User{Username: "dev"}, OldObject: deployment("shop"), Now: friday}, want: "deletes of Deployment web to production are frozen by window `black-friday` of DeployPolicy retail"},
		"not frozen":                  {req: Request{Operation: "DELETE", User: User{Username: "dev"}, OldObject: deployment("shop"), Now: tuesday}, allow: true},
		"break-glass":                 {req: Request{Operation: "DELETE", User: User{Username: "oncall@shop"}, OldObject: deployment("shop", breakGlass), Now: friday}, allow: true, want: `break-glass by oncall@shop inside a freeze, reason "INC-1 data leak": this delete is recorded`},
		"break-glass by someone else": {req: Request{Operation: "DELETE", User: User{Username: "dev"}, OldObject: deployment("shop", breakGlass), Now: friday}, want: "break-glass is not allowed for dev"},
		"deletes: Allow":              {req: Request{Operation: "DELETE", User: User{Username: "dev"}, OldObject: deployment("shop"), Now: friday}, deletes: v1alpha1.DeletesAllow, allow: true},
		"garbage collector":           {req: Request{Operation: "DELETE", User: User{Username: "system:serviceaccount:kube-system:generic-garbage-collector"}, OldObject: deployment("shop"), Now: friday}, allow: true},
		"a Pod":                       {req: Request{Operation: "DELETE", User: User{Username: "dev"}, OldObject: pod("shop", "x"), Now: friday}, allow: true},
		"no oldObject":                {req: Request{Operation: "DELETE", User: User{Username: "dev"}, Now: friday}, want: "without the object being deleted"},
	} {
		t.Run(name, func(t *testing.T) {
			cluster := testCluster()
			cluster.Policies[0].Spec.Deletes = tc.deletes
			d, err := NewGate(cluster, engine).Review(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(append(d.Reasons, d.Warnings...), " | ")
			if d.Allowed != tc.allow || !strings.Contains(all, tc.want) {
				t.Errorf("allowed %v (%s), want %v with %q", d.Allowed, all, tc.allow, tc.want)
			}
			if name == "break-glass" && (d.BreakGlass == nil || d.BreakGlass.User != "oncall@shop") {
				t.Errorf("break-glass not recorded: %+v", d.BreakGlass)
			}
		})
	}
	// The daemon's deletes (prune, rollback) pass by its identity.
	d, err := NewGate(testCluster(), engine, WithRollbackUsers([]string{"system:serviceaccount:bollard:daemon"})).Review(context.Background(),
		Request{Operation: "DELETE", User: User{Username: "system:serviceaccount:bollard:daemon"}, OldObject: deployment("shop"), Now: friday})
	if err != nil || !d.Allowed {
		t.Errorf("the daemon's delete: %+v %v", d, err)
	}
}
