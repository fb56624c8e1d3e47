package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/internal/fakeapp"
	"bollard.dev/bollard/reconciler"
)

// exporter is the application's metrics as the test wants them (internal/fakeapp), on loopback.
type exporter struct {
	*httptest.Server
	app *fakeapp.App
}

type behaviour = fakeapp.Behaviour

func startExporter(t testing.TB) *exporter {
	t.Helper()
	e := &exporter{app: fakeapp.New()}
	e.Server = httptest.NewServer(e.app.Handler())
	t.Cleanup(e.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go e.app.Run(ctx)
	return e
}

func (e *exporter) set(version string, b behaviour) { e.app.Set(version, b) }

// promServer is Debian's Prometheus, scraping the exporter every second.
type promServer struct {
	URL string
	*process
}

func startPrometheus(t testing.TB, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: app\n  static_configs: [{targets: [%q]}]\n", target), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	return &promServer{URL: "http://" + addr, process: startProcess(t, "prometheus", "apt-get install prometheus", "http://"+addr+"/-/ready",
		"--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")}
}

// startMetrics starts the application's metrics and Debian's Prometheus scraping them, with the
// versions healthy (30 ms, no errors), and waits until Prometheus has data.
func startMetrics(t testing.TB, healthy ...string) (*exporter, *promServer) {
	t.Helper()
	exp := startExporter(t)
	prom := startPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))
	for _, v := range healthy {
		exp.set(v, behaviour{Latency: 30 * time.Millisecond})
	}
	prom.awaitData(t)
	return exp, prom
}

// awaitData waits until Prometheus can answer a rate over the exporter's traffic: the first
// scrapes take a few seconds after start.
func (p *promServer) awaitData(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/api/v1/query?query=" + url.QueryEscape(`sum(rate(http_requests_total[5s])) > 0`))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"value"`) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("prometheus has no rate of the exporter's traffic after 30 s")
}

// TestRolloutVerification: every new revision is verified — new pods Ready within the health
// timeout, then P95 latency and error rate of the new version, queried from a real Prometheus,
// held for the hold period — and rolled back to the last good revision's exact state when
// anything fails, with the check, the value and the threshold in the Deployment Log.
func TestRolloutVerification(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 2)
	env, ns, repo, d, key := f.env, f.ns, f.repo, f.d, f.key
	ctx := context.Background()
	exp, prom := startMetrics(t, "v1", "v2", "v4", "v5", "v6")
	exp.set("v3", behaviour{Latency: 800 * time.Millisecond, ErrorRate: 0})
	first := f.first
	f.create(t, v1alpha1.ReleaseSpec{
		HealthTimeout: &metav1.Duration{Duration: 4 * time.Second},
		Analysis: &v1alpha1.Analysis{Prometheus: prom.URL, Interval: &metav1.Duration{Duration: time.Second},
			Hold: &metav1.Duration{Duration: 3 * time.Second}, InitialDelay: &metav1.Duration{Duration: 2 * time.Second},
			Metrics: []v1alpha1.SLOMetric{
				{Name: "p95", Unit: " ms", Max: "300",
					Query: `histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{version="{{version}}"}[5s])) by (le)) * 1000`},
				{Name: "errors", Unit: "%", Max: "1",
					Query: `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[5s]))`},
			}},
	})
	release := func() *v1alpha1.Release { return f.get(t) }
	rolloutOf, image := f.ended, f.image

	t.Run("a healthy revision passes health and the SLO guard, with the values in its log", func(t *testing.T) {
		r := rolloutOf(t, first)
		second := repo.commit(t, "web v2", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v2")})
		d.push(t, repo, second, key)
		r = rolloutOf(t, second)
		l := logOf(t, r, second)
		if r.Status.Rollout.Phase != "Succeeded" || r.Status.LastGoodRevision != second || l.Status != "SUCCESS" {
			t.Fatalf("rollout %+v, log %s: %s", r.Status.Rollout, l.Status, stepsOf(l))
		}
		for _, want := range []string{"health OK: 2/2 Ready", "SLO guard (3s) OK: p95 ", " ms ≤ 300 ms, errors 0% ≤ 1%: PASS",
			"drain OK: Deployment web: old instances drained (ReplicaSets at 0 pods: web-"} {
			if !strings.Contains(stepsOf(l), want) {
				t.Errorf("log lacks %q: %s", want, stepsOf(l))
			}
		}
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep); err != nil {
			t.Fatal(err)
		}
		tmpl := dep.Spec.Template
		if tmpl.Labels["app.kubernetes.io/version"] != "v2" || tmpl.Annotations["bollard.dev/digest"] != "registry.local/shop/web:v2" ||
			!strings.Contains(fmt.Sprint(tmpl.Spec.Containers[0].Env), "service.version=v2") {
			t.Errorf("version tags: labels %v annotations %v env %v", tmpl.Labels, tmpl.Annotations, tmpl.Spec.Containers[0].Env)
		}
		if dep.Spec.Strategy.RollingUpdate == nil || dep.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
			t.Errorf("rolling defaults: %+v", dep.Spec.Strategy)
		}
	})

	t.Run("a latency breach rolls back to the last good revision, naming query, value and threshold", func(t *testing.T) {
		good := release().Status.LastGoodRevision
		slow := repo.commit(t, "web v3", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v3")})
		d.push(t, repo, slow, key)
		r := rolloutOf(t, slow)
		l := logOf(t, r, slow)
		if r.Status.Rollout.Phase != "RolledBack" || l.Status != "ROLLED_BACK" || r.Status.ObservedRevision != good || r.Status.FailedRevision != slow {
			t.Fatalf("rollout %+v observed %s failed %s; log %s: %s", r.Status.Rollout, r.Status.ObservedRevision, r.Status.FailedRevision, l.Status, stepsOf(l))
		}
		for _, want := range []string{"SLO guard (3s) FAIL: p95 ", " ms > 300 ms", `http_request_duration_seconds_bucket{version="v3"}`, "rollback OK: to " + good[:7]} {
			if !strings.Contains(stepsOf(l), want) {
				t.Errorf("log lacks %q: %s", want, stepsOf(l))
			}
		}
		env.Eventually(t, 30*time.Second, "web back on v2", func(context.Context) (bool, error) { return image() == "registry.local/shop/web:v2", nil })
		// The rolled-back revision is not applied again while git still points at it.
		d.push(t, repo, slow, key)
		time.Sleep(2 * time.Second)
		if image() != "registry.local/shop/web:v2" {
			t.Errorf("the rolled-back revision came back: %s", image())
		}
	})

	t.Run("new pods never Ready: rolled back after the health timeout", func(t *testing.T) {
		stuck := strings.Replace(fmt.Sprintf(webYAML, 2, "v4"), "    metadata: {labels: {app: web}}",
			"    metadata: {labels: {app: web}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1h}}", 1)
		never := repo.commit(t, "web v4, never ready", map[string]string{"web.yaml": stuck})
		d.push(t, repo, never, key)
		r := rolloutOf(t, never)
		l := logOf(t, r, never)
		if r.Status.Rollout.Phase != "RolledBack" || !strings.Contains(stepsOf(l), "health FAIL: Deployment web ") || !strings.Contains(stepsOf(l), "(health timeout 4s)") {
			t.Fatalf("rollout %+v; log %s: %s", r.Status.Rollout, l.Status, stepsOf(l))
		}
		env.Eventually(t, 30*time.Second, "web back on v2, all Ready", func(ctx context.Context) (bool, error) {
			var dep appsv1.Deployment
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep)
			return err == nil && dep.Spec.Template.Spec.Containers[0].Image == "registry.local/shop/web:v2" && dep.Status.ReadyReplicas == 2 && dep.Status.UpdatedReplicas == 2, nil
		})
	})

	t.Run("Prometheus unreachable during the hold: rolled back (onNoData fail)", func(t *testing.T) {
		next := repo.commit(t, "web v5", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v5")})
		prom.stop()
		d.push(t, repo, next, key)
		r := rolloutOf(t, next)
		l := logOf(t, r, next)
		if r.Status.Rollout.Phase != "RolledBack" || !strings.Contains(stepsOf(l), "prometheus unreachable") || !strings.Contains(stepsOf(l), "no data counts as a failure") {
			t.Fatalf("rollout %+v; log %s: %s", r.Status.Rollout, l.Status, stepsOf(l))
		}
	})

	t.Run("with onNoData pause, the rollout waits instead, and says so", func(t *testing.T) {
		r := release()
		r.Spec.Analysis.OnNoData = "pause"
		if err := env.Client.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		next := repo.commit(t, "web v6", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v6")})
		d.push(t, repo, next, key)
		r = rolloutOf(t, next)
		if r.Status.Rollout.Phase != "Paused" || !strings.Contains(r.Status.Rollout.Message, "onNoData: pause") {
			t.Fatalf("rollout %+v", r.Status.Rollout)
		}
		time.Sleep(2 * time.Second)
		if image() != "registry.local/shop/web:v6" || release().Status.Rollout.Phase != "Paused" {
			t.Errorf("a paused rollout changed: image %s, rollout %+v", image(), release().Status.Rollout)
		}
	})

	t.Run("bollard rollback: back to the last good revision at once, by request", func(t *testing.T) {
		r := release()
		paused := r.Status.ObservedRevision
		good := r.Status.LastGoodRevision
		// What `bollard rollback shop` does.
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"bollard.dev/rollback-to":"last-good"}}}`))
		if err := env.Client.Patch(ctx, r, patch); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 30*time.Second, "the rollback", func(context.Context) (bool, error) {
			r = release()
			_, pending := r.Annotations["bollard.dev/rollback-to"]
			return !pending && reconciler.LatestID(r) > 0 && latestLog(t, r).Trigger == "manual", nil
		})
		l := latestLog(t, r)
		if l.Status != "ROLLED_BACK" || l.Revision != good || r.Status.ObservedRevision != good || r.Status.FailedRevision != paused || r.Status.Rollout.Phase != "RolledBack" {
			t.Fatalf("log %s %s (want %s): %s; status observed %s failed %s rollout %+v", l.Status, l.Revision, good, stepsOf(l), r.Status.ObservedRevision, r.Status.FailedRevision, r.Status.Rollout)
		}
		env.Eventually(t, 30*time.Second, "web back on v2", func(context.Context) (bool, error) { return image() == "registry.local/shop/web:v2", nil })
	})

}
