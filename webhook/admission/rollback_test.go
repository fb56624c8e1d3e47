package admission

import (
	"context"
	"testing"
)

// TestRollbackByIdentity: inside a freeze, the daemon's marked rollback is admitted with a
// warning and an audit record; the same marker from anyone else, or the daemon's unmarked write,
// is reviewed as usual (denied by the freeze).
func TestRollbackByIdentity(t *testing.T) {
	engine, err := NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	daemon := User{Username: "system:serviceaccount:bollard-system:bollard-daemon"}
	gate := NewGate(testCluster(), engine, WithRollbackUsers([]string{daemon.Username}))
	marked := annotate(AnnotationRollback, "shop/web to abc1234")
	cases := []struct {
		name     string
		req      Request
		allowed  bool
		rollback bool
	}{
		{"the daemon's marked rollback", Request{Operation: "UPDATE", User: daemon, Now: insideFreeze, OldObject: deployment("shop"), Object: deployment("shop", newImage, marked)}, true, true},
		{"the daemon's marked create", Request{Operation: "CREATE", User: daemon, Now: insideFreeze, Object: deployment("shop", marked)}, true, true},
		{"the daemon, unmarked", Request{Operation: "UPDATE", User: daemon, Now: insideFreeze, OldObject: deployment("shop"), Object: deployment("shop", newImage)}, false, false},
		{"someone else, marked", Request{Operation: "UPDATE", User: User{Username: "mallory", Groups: []string{"system:serviceaccounts"}}, Now: insideFreeze,
			OldObject: deployment("shop"), Object: deployment("shop", newImage, marked)}, false, false},
		{"the daemon as a Release's ServiceAccount, marked", Request{Operation: "UPDATE", User: User{Username: "system:serviceaccount:shop:bollard-release",
			Extra: map[string][]string{ExtraDaemon: {daemon.Username}}}, Now: insideFreeze, OldObject: deployment("shop"), Object: deployment("shop", newImage, marked)}, true, true},
		{"that ServiceAccount on its own (its token), marked", Request{Operation: "UPDATE", User: User{Username: "system:serviceaccount:shop:bollard-release"}, Now: insideFreeze,
			OldObject: deployment("shop"), Object: deployment("shop", newImage, marked)}, false, false},
		{"an extra naming someone else, marked", Request{Operation: "UPDATE", User: User{Username: "system:serviceaccount:shop:bollard-release",
			Extra: map[string][]string{ExtraDaemon: {"mallory"}}}, Now: insideFreeze, OldObject: deployment("shop"), Object: deployment("shop", newImage, marked)}, false, false},
		{"an empty marker", Request{Operation: "UPDATE", User: daemon, Now: insideFreeze, OldObject: deployment("shop"), Object: deployment("shop", newImage, annotate(AnnotationRollback, ""))}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := gate.Review(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.allowed || (d.Rollback != nil) != tc.rollback {
				t.Fatalf("allowed %v rollback %+v, want %v %v; reasons %q", d.Allowed, d.Rollback, tc.allowed, tc.rollback, d.Reasons)
			}
			if tc.rollback && (!containsSub(d.Warnings, "rollback by "+daemon.Username) || !containsSub(d.Warnings, "(shop/web to abc1234)") || d.Rollback.Marker != "shop/web to abc1234") {
				t.Errorf("warnings %q, record %+v", d.Warnings, d.Rollback)
			}
			if !tc.allowed && !containsSub(d.Reasons, "black-friday") {
				t.Errorf("reasons %q, want the freeze", d.Reasons)
			}
		})
	}
	// Without configured daemon identities nothing is a rollback.
	d, err := NewGate(testCluster(), engine).Review(context.Background(), cases[0].req)
	if err != nil || d.Allowed || d.Rollback != nil {
		t.Errorf("no daemon users: %+v %v", d, err)
	}
}
