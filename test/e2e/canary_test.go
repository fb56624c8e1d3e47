package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
)

// TestCanary: a canary 1 → 10 → 50 → 100 by replica ratio (no Gateway API route here): each step
// healthy and holding its SLOs before the next; promoted at the end with the canary removed; an
// error-rate breach at the 10 % step goes back to 0 % canary with the stable version whole.
func TestCanary(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 10)
	env, ns, repo, key := f.env, f.ns, f.repo, f.key
	exp, prom := startMetrics(t, "v1", "v2", "v3", "v4")
	first := f.first
	top := t
	f.create(t, v1alpha1.ReleaseSpec{
		Strategy: &v1alpha1.Strategy{Type: "canary"},
		Analysis: &v1alpha1.Analysis{Prometheus: prom.URL, Interval: &metav1.Duration{Duration: 500 * time.Millisecond},
			Hold: &metav1.Duration{Duration: 3 * time.Second},
			Metrics: []v1alpha1.SLOMetric{
				{Name: "p95", Unit: " ms", Max: "300",
					Query: `histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{version="{{version}}"}[3s])) by (le)) * 1000`},
				{Name: "errors", Unit: "%", Max: "1",
					Query: `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[3s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[3s]))`}}},
	})
	release := func() *v1alpha1.Release { return f.get(t) }
	ended := f.ended
	steps := func(r *v1alpha1.Release) string { return stepsOf(latestLog(t, r)) }
	// whole checks that one Deployment runs image on all 10 replicas and no canary is left.
	whole := func(t *testing.T, image string) {
		t.Helper()
		env.Eventually(t, 30*time.Second, "web whole on "+image, func(ctx context.Context) (bool, error) {
			var dep appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep); err != nil {
				return false, err
			}
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &appsv1.Deployment{})
			return dep.Spec.Template.Spec.Containers[0].Image == image && *dep.Spec.Replicas == 10 && dep.Status.ReadyReplicas == 10 && apierrors.IsNotFound(err), nil
		})
	}
	if r := ended(t, first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout: %+v", r.Status.Rollout)
	}

	t.Run("healthy canary: 1, 10, 50 %, promoted", func(t *testing.T) {
		second := repo.commit(t, "web v2", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 10, "v2")})
		f.d.push(t, repo, second, key)
		sawCanary := false
		env.Eventually(t, 30*time.Second, "the canary Deployment", func(ctx context.Context) (bool, error) {
			var c appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &c); err == nil {
				sawCanary = c.Spec.Template.Spec.Containers[0].Image == "registry.local/shop/web:v2"
			}
			return sawCanary, nil
		})
		r := ended(t, second)
		got := steps(r)
		for _, want := range []string{"canary 1% OK: 1% asked: 1/10 replicas on the new version = 10%", "canary 10% OK: 10% asked: 1/10 replicas",
			"canary 50% OK: 50% asked: 5/10 replicas on the new version = 50%", "errors 0% ≤ 1%: PASS", "promote OK", "health OK"} {
			if !strings.Contains(got, want) {
				t.Errorf("log lacks %q: %s", want, got)
			}
		}
		if r.Status.Rollout.Phase != "Succeeded" || latestLog(t, r).Status != "SUCCESS" {
			t.Errorf("rollout %+v", r.Status.Rollout)
		}
		whole(t, "registry.local/shop/web:v2")
	})

	t.Run("a latency breach at the 10% step: back to 0% canary, stable whole", func(t *testing.T) {
		third := repo.commit(t, "web v3", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 10, "v3")})
		f.d.push(t, repo, third, key)
		env.Eventually(t, 60*time.Second, "the 10% step", func(context.Context) (bool, error) {
			ro := release().Status.Rollout
			return ro != nil && ro.Revision == third && ro.Index == 1, nil
		})
		exp.set("v3", behaviour{Latency: 800 * time.Millisecond})
		r := ended(t, third)
		got := steps(r)
		if r.Status.Rollout.Phase != "RolledBack" || !strings.Contains(got, "canary 10% SLO guard (3s) FAIL: 10% asked: 1/10 replicas") || !strings.Contains(got, " ms > 300 ms") || !strings.Contains(got, "http_request_duration_seconds_bucket") {
			t.Errorf("rollout %+v: %s", r.Status.Rollout, got)
		}
		whole(t, "registry.local/shop/web:v2")
	})

	t.Run("the daemon killed at each canary step resumes from the persisted step; never two versions left half-scaled", func(t *testing.T) {
		fourth := f.commitAndPush(t, "v4", 10)
		for step := int32(0); step < 3; step++ {
			env.Eventually(t, 60*time.Second, fmt.Sprintf("canary step %d", step), func(context.Context) (bool, error) {
				ro := release().Status.Rollout
				return ro != nil && ro.Revision == fourth && ro.Index >= step, nil
			})
			f.d.stop()
			f.d = startDaemon(top, env, ns, "receiver", f.gitDir)
		}
		r := ended(t, fourth)
		if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(steps(r), "canary 50% OK") || !strings.Contains(steps(r), "promote OK") {
			t.Errorf("after the restarts: %+v: %s", r.Status.Rollout, steps(r))
		}
		whole(t, "registry.local/shop/web:v4")
	})

	t.Run("a push bringing nothing new while a canary is paused leaves the canary as it is", func(t *testing.T) {
		ctx := context.Background()
		// No data for v5 yet: with onNoData pause the 1% step waits. A push of the same commit
		// (a webhook redelivered, a CI job's second push) once took the canary's split for drift
		// and promoted v5 whole, unverified.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			r := release()
			r.Spec.Analysis.OnNoData = "pause"
			return env.Client.Update(ctx, r)
		}); err != nil {
			t.Fatal(err)
		}
		fifth := f.commitAndPush(t, "v5", 10)
		env.Eventually(t, 60*time.Second, "the 1% step paused", func(context.Context) (bool, error) {
			ro := release().Status.Rollout
			return ro != nil && ro.Revision == fifth && ro.Phase == "Paused", nil
		})
		logs := reconciler.LatestID(release())
		f.d.push(t, repo, fifth, key)
		time.Sleep(2 * time.Second)
		var stable, canary appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &stable); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &canary); err != nil {
			t.Fatalf("the canary is gone: %v", err)
		}
		r := release()
		if img := stable.Spec.Template.Spec.Containers[0].Image; img != "registry.local/shop/web:v4" || canary.Spec.Template.Spec.Containers[0].Image != "registry.local/shop/web:v5" ||
			r.Status.Rollout.Phase != "Paused" || reconciler.LatestID(r) != logs || latestLog(t, r).Status != "VERIFYING" {
			t.Errorf("after the second push: stable %s, canary %s, rollout %+v, newest log #%d (was #%d), %s", img, canary.Spec.Template.Spec.Containers[0].Image,
				r.Status.Rollout, reconciler.LatestID(r), logs, latestLog(t, r).Status)
		}
		exp.set("v5", behaviour{Latency: 30 * time.Millisecond}) // data: the hold starts, then on
		env.Eventually(t, 90*time.Second, "v5 promoted once its data came", func(context.Context) (bool, error) {
			ro := release().Status.Rollout
			return ro.Revision == fifth && ro.Phase == "Succeeded", nil
		})
		if got := steps(release()); !strings.Contains(got, "canary 1% SLO guard (3s) OK") || !strings.Contains(got, "promote OK") {
			t.Errorf("v5's log: %s", got)
		}
		whole(t, "registry.local/shop/web:v5")
	})
}
