package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

const target = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: web, image: "web:v1"}]
`

// Drift with gitops-engine's diff: what git sets and live changed is drift; what only the API
// server or other writers added (defaults, status, annotations of their own) is not.
func TestDrift(t *testing.T) {
	for _, tc := range []struct {
		name, live, want string
	}{
		{"in sync, defaults and status added by the server", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}, resourceVersion: "7", annotations: {deployment.kubernetes.io/revision: "1"}}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  template:
    spec:
      containers: [{name: web, image: "web:v1", imagePullPolicy: IfNotPresent}]
status: {replicas: 2}
`, ""},
		{"scaled", strings.Replace(target, "replicas: 2", "replicas: 5", 1), "spec.replicas"},
		{"image changed", strings.Replace(target, "web:v1", "web:hotfix", 1), "spec.template.spec.containers"},
		{"label changed", strings.Replace(target, "labels: {app: web}", "labels: {app: other}", 1), "metadata.labels.app"},
		// The fast path (live holds all of git's fields) and the diff must agree.
		{"a field another writer added", strings.Replace(target, `image: "web:v1"`, `image: "web:v1", env: [{name: X, value: "1"}]`, 1), ""},
		{"a container added (merged by name: not drift)", strings.Replace(target, `[{name: web, image: "web:v1"}]`, `[{name: web, image: "web:v1"}, {name: sidecar, image: "s:1"}]`, 1), ""},
		{"a field git sets removed", strings.Replace(target, "replicas: 2\n", "", 1), "spec.replicas,spec.template.spec.containers"},
		{"the same number as a float", strings.Replace(target, "replicas: 2", "replicas: 2.0", 1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Drift(context.Background(), obj(t, target), obj(t, tc.live))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("drift %v, want %q", got, tc.want)
			}
			byDiff, err := diffDrift(context.Background(), obj(t, target), obj(t, tc.live))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(byDiff, ",") != tc.want {
				t.Errorf("the diff alone says %v, the fast path %v", byDiff, got)
			}
		})
	}
}

// TestSameButStatus: a change of status or bookkeeping (a controller reporting) needs no diff;
// any change of spec, labels or annotations does.
func TestSameButStatus(t *testing.T) {
	base := target + "status: {replicas: 1}\n"
	for _, tc := range []struct {
		name, after string
		same        bool
	}{
		{"status", strings.Replace(base, "replicas: 1}", "replicas: 2, readyReplicas: 2}", 1), true},
		{"resourceVersion and managedFields", strings.Replace(base, "labels: {app: web}", `labels: {app: web}, resourceVersion: "9", generation: 3, managedFields: [{manager: kcm}]`, 1), true},
		{"spec", strings.Replace(base, "replicas: 2", "replicas: 5", 1), false},
		{"a label", strings.Replace(base, "labels: {app: web}", "labels: {app: web, x: y}", 1), false},
		{"an annotation", strings.Replace(base, "labels: {app: web}", "labels: {app: web}, annotations: {a: b}", 1), false},
		{"deletion started", strings.Replace(base, "labels: {app: web}", "labels: {app: web}, deletionTimestamp: '2026-11-30T00:00:00Z'", 1), false},
	} {
		if got := sameButStatus(obj(t, base), obj(t, tc.after)); got != tc.same {
			t.Errorf("%s: sameButStatus = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// With every write slot taken by the backlog, a push's, drift's or rollback's write still goes
// out at once, in a slot of its own; other writes wait for the backlog.
func TestUrgentWritesSkipTheBacklog(t *testing.T) {
	o := &directOps{slots: make(chan struct{}, 2), urgent: make(chan struct{}, 1)}
	release := make(chan struct{})
	held := make(chan struct{}, 2)
	for range 2 { // the backlog holds both slots
		go func() {
			_ = o.run(context.Background(), func() error { held <- struct{}{}; <-release; return nil })
		}()
	}
	<-held
	<-held
	done := make(chan string, 2)
	go func() {
		_ = o.run(context.Background(), func() error { done <- "backlog"; return nil })
	}()
	go func() {
		_ = o.run(Urgent(context.Background()), func() error { done <- "urgent"; return nil })
	}()
	select {
	case got := <-done:
		if got != "urgent" {
			t.Fatalf("%s went first, with every slot taken", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an urgent write waited for the backlog")
	}
	select {
	case got := <-done:
		t.Fatalf("%s went out with every slot taken", got)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if got := <-done; got != "backlog" {
		t.Fatalf("after the backlog: %s", got)
	}
	// A write whose context ends while it waits gives up with the context's error.
	hold := make(chan struct{})
	for _, ctx := range []context.Context{context.Background(), context.Background(), Urgent(context.Background())} {
		go func() { _ = o.run(ctx, func() error { held <- struct{}{}; <-hold; return nil }) }()
		<-held // in turn: the urgent one may take a free slot of the backlog's
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := o.run(Urgent(ctx), func() error { return nil }); err != context.Canceled {
		t.Fatalf("a canceled wait: %v", err)
	}
	close(hold)
}
