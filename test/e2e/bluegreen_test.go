package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

const webService = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
`

// TestBlueGreen: green comes up beside blue and is verified through the preview Service while
// the active Service stays on blue; the active Service switches to green and it is verified
// again; blue takes the new version and green is deleted only after that. A failure after the
// switch switches back.
func TestBlueGreen(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 2)
	env, ns := f.env, f.ns
	ctx := context.Background()
	exp, prom := startMetrics(t, "v1", "v2", "v3")
	exp.set("v4", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
	first := f.repo.commit(t, "the web Service", map[string]string{"svc.yaml": webService})
	f.create(t, v1alpha1.ReleaseSpec{
		Strategy: &v1alpha1.Strategy{Type: "blueGreen", ActiveService: "web", PreviewService: "web-preview"},
		Analysis: &v1alpha1.Analysis{Prometheus: prom.URL, Interval: &metav1.Duration{Duration: 500 * time.Millisecond},
			Hold: &metav1.Duration{Duration: 2 * time.Second},
			Metrics: []v1alpha1.SLOMetric{{Name: "errors", Unit: "%", Max: "1",
				Query: `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[3s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[3s]))`}}},
	})
	if r := f.ended(t, first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	selector := func(name string) map[string]string {
		var svc corev1.Service
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			return nil
		}
		return svc.Spec.Selector
	}
	gone := func(name string, obj client.Object) bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj))
	}
	// phase waits for the rollout of revision in the blue/green phase named (green, switch).
	phase := func(t *testing.T, revision, name string, check func() error) {
		t.Helper()
		index := map[string]int32{"green": 0, "switch": 1}[name]
		env.Eventually(t, 60*time.Second, "phase "+name, func(context.Context) (bool, error) {
			ro := f.get(t).Status.Rollout
			if ro == nil || ro.Revision != revision || ro.Index != index || ro.Phase != "Verifying" {
				return false, nil
			}
			return true, check()
		})
	}

	t.Run("green verified beside blue, switched, promoted; green deleted after", func(t *testing.T) {
		second := f.commitAndPush(t, "v2", 2)
		phase(t, second, "green", func() error {
			if s := selector("web"); s["app.kubernetes.io/version"] != "v1" {
				return fmt.Errorf("active selector %v, want pinned to blue (v1)", s)
			}
			if s := selector("web-preview"); s["app.kubernetes.io/version"] != "v2" {
				return fmt.Errorf("preview selector %v, want green (v2)", s)
			}
			if gone("web-green", &appsv1.Deployment{}) {
				return fmt.Errorf("no green Deployment")
			}
			return nil
		})
		phase(t, second, "switch", func() error {
			if s := selector("web"); s["app.kubernetes.io/version"] != "v2" {
				return fmt.Errorf("active selector %v, want switched to green (v2)", s)
			}
			return nil
		})
		r := f.ended(t, second)
		got := stepsOf(latestLog(t, r))
		if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(got, "switch OK: web now selects green (v2)") || !strings.Contains(got, "promote OK: blue runs the new version; green deleted") {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, got)
		}
		env.Eventually(t, 30*time.Second, "git's state exactly: web on v2, selector app=web, green and preview deleted", func(context.Context) (bool, error) {
			s := selector("web")
			return len(s) == 1 && s["app"] == "web" && gone("web-green", &appsv1.Deployment{}) && gone("web-preview", &corev1.Service{}) && f.image() == "registry.local/shop/web:v2", nil
		})
	})

	t.Run("a failure after the switch switches back", func(t *testing.T) {
		third := f.commitAndPush(t, "v3", 2)
		phase(t, third, "switch", func() error { return nil })
		exp.set("v3", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
		r := f.ended(t, third)
		got := stepsOf(latestLog(t, r))
		if r.Status.Rollout.Phase != "RolledBack" || !strings.Contains(got, "switched back to blue, green deleted") {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, got)
		}
		env.Eventually(t, 30*time.Second, "blue alone again", func(context.Context) (bool, error) {
			s := selector("web")
			return len(s) == 1 && s["app"] == "web" && gone("web-green", &appsv1.Deployment{}) && f.image() == "registry.local/shop/web:v2", nil
		})
	})

	t.Run("a failure before the switch deletes green; the active Service never left blue", func(t *testing.T) {
		fourth := f.commitAndPush(t, "v4", 2)
		r := f.ended(t, fourth)
		got := stepsOf(latestLog(t, r))
		if r.Status.Rollout.Phase != "RolledBack" || !strings.Contains(got, "green deleted, the active Service never left blue") || strings.Contains(got, "switch OK") {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, got)
		}
		env.Eventually(t, 30*time.Second, "blue alone", func(context.Context) (bool, error) {
			s := selector("web")
			return len(s) == 1 && s["app"] == "web" && gone("web-green", &appsv1.Deployment{}) && f.image() == "registry.local/shop/web:v2", nil
		})
	})

}
