package realnode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
)

// prometheus is Debian's Prometheus on the host, at the real node's bridge address (where the
// daemon's pod reaches it), scraping every second the real pods a file_sd list names.
type prometheus struct {
	host, url string
}

// startPrometheus starts Prometheus and keeps its target list to the running pods labelled
// app=shop in ns, written from the API every half second (Debian's Prometheus has no Kubernetes
// service discovery).
func startPrometheus(t *testing.T, ns string) *prometheus {
	t.Helper()
	env := kubetest.Get(t)
	host, _, _ := net.SplitHostPort(env.Registry(t))
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.json")
	if err := os.WriteFile(targets, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: shop\n  file_sd_configs: [{files: [%q], refresh_interval: 1s}]\n", targets), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed (apt-get install prometheus): ", err)
	}
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(func() {
		stop()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	go func() { // the file_sd list
		for ctx.Err() == nil {
			var pods corev1.PodList
			if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "shop"}); err == nil {
				var list []string
				for _, p := range pods.Items {
					if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
						list = append(list, net.JoinHostPort(p.Status.PodIP, "8080"))
					}
				}
				b, _ := json.Marshal([]map[string]any{{"targets": list}})
				if err := os.WriteFile(targets+".new", b, 0o644); err == nil {
					_ = os.Rename(targets+".new", targets)
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	url := "http://" + addr
	env.Eventually(t, 30*time.Second, "prometheus ready", func(context.Context) (bool, error) {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return &prometheus{host: host, url: url}
}

// load is a load generator: GETs of a Service's ClusterIP, a new connection each (kube-proxy
// picks a pod per connection), ~50 a second, each answer recorded with the version that gave it.
type load struct {
	mu      sync.Mutex
	answers []answer
}

type answer struct {
	at      time.Time
	version string // what the pod said it runs ("" when no answer)
	code    int    // 0: no answer (connection refused or reset, timeout)
}

func startLoad(t *testing.T, target string) *load {
	l := &load{}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	httpc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			a := answer{at: time.Now()}
			if resp, err := httpc.Get(target); err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
				resp.Body.Close()
				a.code, a.version = resp.StatusCode, strings.TrimSpace(string(b))
			}
			l.mu.Lock()
			l.answers = append(l.answers, a)
			l.mu.Unlock()
		}
	}()
	return l
}

// since is what was answered from t on.
func (l *load) since(t time.Time) []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []answer
	for _, a := range l.answers {
		if !a.at.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

// tally counts answers by version and code ("v3 500": 12), and those without an answer ("none").
func tally(answers []answer) map[string]int {
	m := map[string]int{}
	for _, a := range answers {
		if a.code == 0 {
			m["none"]++
			continue
		}
		m[fmt.Sprintf("%s %d", a.version, a.code)]++
	}
	return m
}

const shopYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  replicas: 10
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      nodeSelector: {bollard.dev/real-node: "true"}
      tolerations: [{key: bollard.dev/real-node, operator: Exists, effect: NoSchedule}]
      terminationGracePeriodSeconds: 5
      containers:
      - name: shop
        image: %s
        args: [%s]
        env: [{name: VERSION, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app.kubernetes.io/version']"}}}]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
`

// rolloutWithRealTraffic: a real application (hack/webapp: /health, version-labelled metrics of
// the requests it serves) in 10 real pods under a steady load through its Service. The daemon
// (a real pod) asks every new pod's /health; the SLO guard reads Debian's Prometheus scraping the
// pods. v1 rolls out verified; v2 is Ready for kubelet but says it is unhealthy on /health —
// rolled back; v3, a canary whose pods fail every request, shows its errors to ~10 % of the load
// at the 10 % step and the rollback ends them; v4's canary is promoted with no failed request.
func rolloutWithRealTraffic(t *testing.T, env *kubetest.Env, ns, gitURL string, prom *prometheus, commitFile func(path, content string) string, push func(rev string)) {
	ctx := context.Background()
	images := map[string]string{}
	for _, v := range []string{"v1", "v2", "v3", "v4"} { // one binary; the tag is the version
		images[v] = pushStatic(t, env, "bollard.dev/bollard/hack/webapp", "webapp", v)
	}
	shop := func(version string, args ...string) string {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = fmt.Sprintf("%q", a)
		}
		return commitFile("shop/app.yaml", fmt.Sprintf(shopYAML, images[version], strings.Join(quoted, ", ")))
	}
	rev1 := shop("v1", "-listen=:8080")

	errorsQuery := `100 * (sum(rate(http_requests_total{version="{{version}}",code="500"}[5s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[5s]))`
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: gitURL, Path: "shop"}, Interval: metav1.Duration{Duration: time.Hour},
			HealthTimeout: &metav1.Duration{Duration: time.Minute}, // ten real pods on a busy 2-core node
			Health:        &v1alpha1.HealthCheck{Port: 8080},
			Analysis: &v1alpha1.Analysis{Prometheus: prom.url, Interval: &metav1.Duration{Duration: time.Second},
				// A new pod's first series reach Prometheus seconds after it starts (its discovery
				// hands new targets to the scrapers at most every 5 s): no data yet is a pause.
				Hold: &metav1.Duration{Duration: 3 * time.Second}, InitialDelay: &metav1.Duration{Duration: 2 * time.Second}, OnNoData: "pause",
				Metrics: []v1alpha1.SLOMetric{{Name: "errors", Unit: "%", Max: "5", Query: errorsQuery}}}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	// The load, through the Service from the moment it exists (v1's SLO guard reads it too).
	var svc corev1.Service
	env.Eventually(t, time.Minute, "the shop Service", func(ctx context.Context) (bool, error) {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, &svc) == nil, nil
	})
	l := startLoad(t, "http://"+svc.Spec.ClusterIP+"/")

	var lastRel v1alpha1.Release // as the last wait saw it
	last := &lastRel.Status
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the shop Release's last status: phase %s: %s; rollout %+v; failed %s", last.Phase, last.Message, last.Rollout, last.FailedRevision)
			for _, h := range env.Logs(t, &lastRel) {
				t.Logf("log %s %s: gates %+v steps %+v", h.Revision, h.Status, h.Gates, h.Steps)
			}
			for _, q := range []string{"/api/v1/targets?state=active", "/api/v1/query?query=http_requests_total"} {
				if resp, err := http.Get(prom.url + q); err == nil {
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 4000))
					resp.Body.Close()
					t.Logf("prometheus %s: %s", q, b)
				}
			}
		}
	})
	wait := func(what string, ok func(*v1alpha1.Release) bool) {
		t.Helper()
		env.Eventually(t, 3*time.Minute, what, func(ctx context.Context) (bool, error) {
			var r v1alpha1.Release
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil {
				return false, err
			}
			lastRel = r
			return ok(&r), nil
		})
	}
	step := func(name string) v1alpha1.LogStep { // the newest Deployment Log's last step so named
		t.Helper()
		steps := env.LatestLog(t, &lastRel).Steps
		for i := len(steps) - 1; i >= 0; i-- {
			if strings.Contains(steps[i].Name, name) {
				return steps[i]
			}
		}
		t.Fatalf("no %q step in %+v", name, steps)
		return v1alpha1.LogStep{}
	}
	shopPods := func(version string) []corev1.Pod {
		var pods corev1.PodList
		if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "shop", "app.kubernetes.io/version": version}); err != nil {
			t.Fatal(err)
		}
		return pods.Items
	}
	stableOnly := func(version string) {
		t.Helper()
		env.Eventually(t, 2*time.Minute, version+" alone on 10 Ready pods", func(ctx context.Context) (bool, error) {
			var d appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, &d); err != nil {
				return false, err
			}
			canary := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-canary"}, &appsv1.Deployment{})
			return d.Spec.Template.Spec.Containers[0].Image == images[version] && d.Status.ReadyReplicas == 10 && d.Status.Replicas == 10 &&
				d.Status.UpdatedReplicas == 10 && apierrors.IsNotFound(canary), nil
		})
	}

	// v1: rolled out, verified by each new pod's own /health and by the SLO on real traffic.
	wait("v1 verified", func(r *v1alpha1.Release) bool { return r.Status.LastGoodRevision == rev1 && r.Status.Phase == "Synced" })
	if h := step("health"); !strings.Contains(h.Detail, "10 new pod(s) answered /health") {
		t.Errorf("v1's health step: %+v", h)
	}
	if s := step("SLO guard"); s.Result != v1alpha1.ResultOK || !strings.Contains(s.Detail, "errors") {
		t.Errorf("v1's SLO step: %+v", s)
	}
	pods := shopPods("v1")
	if len(pods) != 10 {
		t.Fatalf("%d v1 pods", len(pods))
	}
	for _, p := range pods {
		if log := podLog(t, env, ns, p.Name); !strings.Contains(log, `GET /health from "bollard-health"`) {
			t.Errorf("pod %s was not asked for its health by the daemon; its log:\n%s", p.Name, log)
		}
	}

	// v2: Ready for kubelet (its probe asks /ready), unhealthy by its own /health: rolled back.
	rolledBackFrom := func(rev string) func(*v1alpha1.Release) bool {
		return func(r *v1alpha1.Release) bool {
			return r.Status.FailedRevision == rev && r.Status.Rollout != nil && r.Status.Rollout.Phase == v1alpha1.RolloutRolledBack
		}
	}
	rev2 := shop("v2", "-listen=:8080", "-unhealthy")
	push(rev2)
	wait("v2 rolled back", rolledBackFrom(rev2))
	if h := step("health"); h.Result != v1alpha1.ResultFail || !strings.Contains(h.Detail, `answered 503 Service Unavailable "unhealthy v2: the database is unreachable"`) {
		t.Errorf("v2's health step: %+v", h)
	}
	stableOnly("v1")

	// v3 and v4 as canaries: 10 %, 50 %, then promoted.
	// v3 fails every request: at the 10 % step ~10 % of the load fails, all of it v3's; the SLO
	// guard reads v3's error rate from Prometheus and rolls back; after that no request fails.
	// (Committed before the strategy changes: a spec change would retry the failed v2 first.)
	started := time.Now()
	rev3 := shop("v3", "-listen=:8080", "-error-percent=100")
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { // the daemon writes its status meanwhile
		var cur v1alpha1.Release
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &cur); err != nil {
			return err
		}
		cur.Spec.Strategy = &v1alpha1.Strategy{Type: v1alpha1.StrategyCanary, Steps: []int32{10, 50, 100}}
		return env.Client.Update(ctx, &cur)
	}); err != nil {
		t.Fatal(err)
	}

	push(rev3)
	wait("v3 rolled back", rolledBackFrom(rev3))
	if s := step("SLO guard"); s.Result != v1alpha1.ResultFail || !strings.Contains(s.Name, "canary 10%") || !strings.Contains(s.Detail, "errors 100% > 5%") {
		t.Errorf("v3's SLO step: %+v", s)
	}
	stableOnly("v1")
	rolledBack := time.Now()
	var canaryAnswers, failed, v3 int
	var firstV3, lastV3 time.Time
	for _, a := range l.since(started) {
		if a.version == "v3" {
			if firstV3.IsZero() {
				firstV3 = a.at
			}
			lastV3 = a.at
		}
	}
	if firstV3.IsZero() {
		t.Fatalf("the load never reached v3's canary: %v", tally(l.since(started)))
	}
	during := l.since(firstV3)
	for _, a := range during {
		if a.at.After(lastV3) {
			break
		}
		canaryAnswers++
		if a.code == http.StatusInternalServerError {
			failed++
			if a.version != "v3" {
				t.Errorf("a 500 from %s", a.version)
			}
		}
		if a.version == "v3" {
			v3++
		}
	}
	share := 100 * float64(failed) / float64(canaryAnswers)
	t.Logf("v3 at the 10 %% step: %d requests through the Service in %s, %d failed (%.1f %%), %d answered by v3; by version: %v",
		canaryAnswers, lastV3.Sub(firstV3).Round(100*time.Millisecond), failed, share, v3, tally(during))
	if share < 3 || share > 30 {
		t.Errorf("%.1f %% of the load failed at the 10 %% step, want ~10 %%", share)
	}
	time.Sleep(3 * time.Second)
	after := l.since(rolledBack)
	if c := tally(after); c["v3 500"] > 0 || c["v3 200"] > 0 || c["v1 200"] < 50 || len(c) != 1 {
		t.Errorf("after the rollback, by version: %v (want v1 200 only)", c)
	}

	// v4: promoted through 10 % and 50 % with no failed request.
	started = time.Now()
	rev4 := shop("v4", "-listen=:8080")
	push(rev4)
	wait("v4 promoted", func(r *v1alpha1.Release) bool { return r.Status.LastGoodRevision == rev4 && r.Status.Phase == "Synced" })
	stableOnly("v4")
	time.Sleep(2 * time.Second)
	c := tally(l.since(started))
	t.Logf("v4's canary, promoted: answers by version %v", c)
	if c["v1 500"]+c["v4 500"] > 0 || c["v4 200"] == 0 {
		t.Errorf("v4's canary: answers by version %v", c)
	}
	// The v1 pods replaced last stop gracefully (webapp serves 2 s more on SIGTERM, until
	// kube-proxy has dropped them): from then on only v4 answers.
	settled := time.Now()
	time.Sleep(2 * time.Second)
	if c := tally(l.since(settled)); c["v4 200"] == 0 || len(c) != 1 {
		t.Errorf("after v4's promotion, by version: %v (want v4 200 only)", c)
	}
}
