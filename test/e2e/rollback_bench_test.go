package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
)

// BenchmarkRollback (issues #6 and #10): 5 SLO breaches, each timed from the moment Prometheus
// shows the breach until the stable version serves alone again (target: under two evaluation
// intervals, here 2 × 1 s); the same 5 times with the git server gone before the breach (the
// rollback comes from the snapshot); and 5 never-Ready revisions, timed from the push until the
// stable version is back whole (target: the 3 s health timeout + < 2 s).
func BenchmarkRollback(b *testing.B) {
	env := kubetest.Get(b)
	ns := env.Namespace(b)
	ctx := context.Background()
	env.InstallCRDs(b, "../../charts/bollard/crds/*.yaml")
	exp := startExporter(b)
	prom := startPrometheus(b, strings.TrimPrefix(exp.URL, "http://"))
	key := []byte("bench")
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": key}}); err != nil {
		b.Fatal(err)
	}
	exp.set("v0", behaviour{Latency: 30 * time.Millisecond})
	repo := newGitRepo(b)
	repo.commit(b, "web v0", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v0")})
	d := startDaemon(b, env, ns, "receiver", b.TempDir())
	errorRate := `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[2s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[2s]))`
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}, Spec: v1alpha1.ReleaseSpec{
		Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour},
		HealthTimeout: &metav1.Duration{Duration: 3 * time.Second},
		Analysis: &v1alpha1.Analysis{Prometheus: prom.URL, Interval: &metav1.Duration{Duration: time.Second}, Hold: &metav1.Duration{Duration: time.Minute},
			OnNoData: "pause", Metrics: []v1alpha1.SLOMetric{{Name: "errors", Unit: "%", Max: "1", Query: errorRate}}}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		b.Fatal(err)
	}
	stableWhole := func(image string) bool {
		var dep appsv1.Deployment
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep)
		return err == nil && dep.Spec.Template.Spec.Containers[0].Image == image && dep.Status.UpdatedReplicas == 2 && dep.Status.ReadyReplicas == 2 && dep.Status.Replicas == 2
	}
	until := func(what string, limit time.Duration, cond func() bool) time.Time {
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				b.Fatalf("not %s in %s", what, limit)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Now()
	}
	phase := func(version string) string {
		var r v1alpha1.Release
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil || r.Status.Rollout == nil {
			return ""
		}
		return string(r.Status.Rollout.Check) + "/" + string(r.Status.Rollout.Phase) + "/" + r.Status.Rollout.Version
	}
	breached := func(version string) bool {
		q := strings.ReplaceAll(errorRate, "{{version}}", version) + " > 1"
		resp, err := http.Get(prom.URL + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `"value"`)
	}
	// setHold changes the SLO guard's hold, retried on conflicts (the daemon writes the status).
	setHold := func(hold time.Duration) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			r := &v1alpha1.Release{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), r); err != nil {
				return err
			}
			r.Spec.Analysis.Hold = &metav1.Duration{Duration: hold}
			return env.Client.Update(ctx, r)
		})
		if err != nil {
			b.Fatalf("set the hold to %s: %v", hold, err)
		}
	}
	// The first revision must become the last good one: let it pass quickly by a short hold.
	until("v0 live", 60*time.Second, func() bool { return stableWhole("registry.local/shop/web:v0") })
	until("v0 in analysis", 60*time.Second, func() bool { return strings.HasPrefix(phase("v0"), "analysis/") })
	setHold(2 * time.Second)
	until("v0 verified", 60*time.Second, func() bool { return strings.Contains(phase("v0"), "Succeeded") })
	setHold(time.Minute)

	// breachRound deploys version, breaks it once it is in analysis (with the git server gone
	// first when noGit) and returns the time from the breach visible in Prometheus to the stable
	// version serving alone.
	breachRound := func(v string, noGit bool) time.Duration {
		exp.set(v, behaviour{Latency: 30 * time.Millisecond})
		rev := repo.commit(b, "web "+v, map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, v)})
		d.push(b, repo, rev, key)
		until(v+" in analysis", 60*time.Second, func() bool { return strings.HasPrefix(phase(v), "analysis/Verifying/"+v) })
		if noGit {
			if err := os.Rename(repo.bare, repo.bare+".gone"); err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := os.Rename(repo.bare+".gone", repo.bare); err != nil {
					b.Fatal(err)
				}
			}()
		}
		exp.set(v, behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
		visible := until("the breach visible in Prometheus", 30*time.Second, func() bool { return breached(v) })
		done := until("v0 serving alone", 30*time.Second, func() bool { return stableWhole("registry.local/shop/web:v0") })
		until(v+" recorded as rolled back", 10*time.Second, func() bool { return strings.HasSuffix(phase(v), "RolledBack/"+v) })
		return done.Sub(visible)
	}

	for b.Loop() {
		var breach, noGit, health []time.Duration
		for i := range 5 {
			breach = append(breach, breachRound(fmt.Sprintf("bad%d", i), false))
		}
		for i := range 5 {
			noGit = append(noGit, breachRound(fmt.Sprintf("nogit%d", i), true))
		}
		for i := range 5 {
			v := fmt.Sprintf("stuck%d", i)
			stuck := strings.Replace(fmt.Sprintf(webYAML, 2, v), "    metadata: {labels: {app: web}}",
				"    metadata: {labels: {app: web}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1h}}", 1)
			rev := repo.commit(b, "web "+v, map[string]string{"web.yaml": stuck})
			start := time.Now()
			d.push(b, repo, rev, key)
			until(v+" applied", 30*time.Second, func() bool { return strings.Contains(phase(v), v) })
			done := until("v0 back whole", 60*time.Second, func() bool { return stableWhole("registry.local/shop/web:v0") })
			health = append(health, done.Sub(start)-3*time.Second)
		}
		report := func(unit string, d []time.Duration) {
			var worst, sum time.Duration
			for _, x := range d {
				sum += x
				worst = max(worst, x)
			}
			b.ReportMetric(float64((sum / time.Duration(len(d))).Milliseconds()), unit+"-mean-ms")
			b.ReportMetric(float64(worst.Milliseconds()), unit+"-max-ms")
		}
		report("breach-to-stable", breach)
		report("breach-to-stable-git-down", noGit)
		report("health-timeout-overshoot", health)
	}
}
