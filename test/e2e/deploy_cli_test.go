package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
)

// bollardCLI runs the built binary ($BOLLARD_BIN, make test builds it) against the test cluster
// (env nil: a command that needs none).
func bollardCLI(t *testing.T, env *kubetest.Env, args ...string) (string, int) {
	t.Helper()
	bin := os.Getenv("BOLLARD_BIN")
	if bin == "" {
		t.Fatal("set BOLLARD_BIN to a built bollard binary (make test does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if env != nil {
		args = append(args, "--kubeconfig", env.Kubeconfig)
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("bollard %v: %v\n%s", args, err, out)
	return "", -1
}

// TestDeployCLI: `bollard deploy` asks the daemon to deploy now, streams each step as it
// happens and ends with the Deployment Log and an exit code — 0 verified, 1 rolled back, 2
// refused by pre-flight; `bollard rollback` and `bollard log` work on the same Release.
func TestDeployCLI(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	if os.Getenv("BOLLARD_BIN") == "" {
		t.Skip("set BOLLARD_BIN to a built bollard binary (make test does)")
	}
	ns := env.Namespace(t)
	ctx := context.Background()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	exp, prom := startMetrics(t, "v1", "v2")
	exp.set("v3", behaviour{Latency: 40 * time.Millisecond, ErrorRate: 0.3})
	repo := newGitRepo(t)
	repo.commit(t, "web v1", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v1")})
	startDaemon(t, env, ns, "receiver", t.TempDir())
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}, Spec: v1alpha1.ReleaseSpec{
		Source:   v1alpha1.GitSource{URL: repo.url()},
		Interval: metav1.Duration{Duration: time.Hour},
		Analysis: &v1alpha1.Analysis{Prometheus: prom.URL, Interval: &metav1.Duration{Duration: time.Second},
			Hold: &metav1.Duration{Duration: 2 * time.Second}, InitialDelay: &metav1.Duration{Duration: time.Second},
			Metrics: []v1alpha1.SLOMetric{{Name: "errors", Unit: "%", Max: "1",
				Query: `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[5s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[5s]))`}}},
	}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 60*time.Second, "the first rollout", func(ctx context.Context) (bool, error) {
		var r v1alpha1.Release
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
		return err == nil && r.Status.Rollout != nil && r.Status.Rollout.Phase == "Succeeded", nil
	})
	image := func() string {
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep); err != nil {
			return ""
		}
		return dep.Spec.Template.Spec.Containers[0].Image
	}

	t.Run("nothing new: exit 0 and says so", func(t *testing.T) {
		out, code := bollardCLI(t, env, "deploy", "shop", "-n", ns)
		if code != 0 || !strings.Contains(out, "nothing new to deploy") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("a good revision: streamed steps, SUCCESS, exit 0", func(t *testing.T) {
		repo.commit(t, "web v2", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v2")})
		out, code := bollardCLI(t, env, "ship-it", "shop", "-n", ns)
		t.Logf("bollard ship-it:\n%s", out)
		for _, want := range []string{"Verifying (health)", "Verifying (analysis)", "SLO guard", "errors 0% ≤ 1%: PASS", "**STATUS**: 🟢 SUCCESS."} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if code != 0 || image() != "registry.local/shop/web:v2" {
			t.Errorf("exit %d, image %s:\n%s", code, image(), out)
		}
	})
	t.Run("an error-rate breach: rolled back, exit 1", func(t *testing.T) {
		repo.commit(t, "web v3", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v3")})
		out, code := bollardCLI(t, env, "deploy", "shop", "-n", ns)
		t.Logf("bollard deploy:\n%s", out)
		if code != 1 || !strings.Contains(out, "% > 1%") || !strings.Contains(out, "ROLLED_BACK") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		env.Eventually(t, 30*time.Second, "web back on v2", func(context.Context) (bool, error) { return image() == "registry.local/shop/web:v2", nil })
	})
	t.Run("inside a freeze: refused by pre-flight, exit 2, nothing changed", func(t *testing.T) {
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-freeze"}, Spec: v1alpha1.DeployPolicySpec{
			Scope: v1alpha1.Scope{Namespaces: []string{ns}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()}}})
		repo.commit(t, "web v4", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v4")})
		out, code := bollardCLI(t, env, "deploy", "shop", "-n", ns)
		if code != 2 || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "frozen") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if image() != "registry.local/shop/web:v2" {
			t.Errorf("a refused deploy changed web to %s", image())
		}
		// Removing the workload from git would prune it: a delete, frozen like one by hand.
		repo.commit(t, "web removed", map[string]string{"web.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-gone}\ndata: {x: y}\n"})
		out, code = bollardCLI(t, env, "deploy", "shop", "-n", ns)
		if code != 2 || !strings.Contains(out, "Deployment web (removed from git, so pruning would delete it): deletes of Deployment web are frozen by window `code-freeze`") {
			t.Errorf("removal inside the freeze: exit %d:\n%s", code, out)
		}
		if image() != "registry.local/shop/web:v2" {
			t.Errorf("a refused removal changed web to %s", image())
		}
	})
	t.Run("bollard rollback and bollard log", func(t *testing.T) {
		out, code := bollardCLI(t, env, "rollback", "shop", "-n", ns)
		if code != 0 || !strings.Contains(out, "ROLLED_BACK") || !strings.Contains(out, "by request") {
			t.Errorf("rollback exit %d:\n%s", code, out)
		}
		env.Eventually(t, 30*time.Second, "web back on v1", func(context.Context) (bool, error) { return image() == "registry.local/shop/web:v1", nil })
		// The daemon (with the chart's RBAC) clears its annotation, and the rollback does not
		// repeat: no new Deployment Log in the seconds after.
		var r v1alpha1.Release
		env.Eventually(t, 30*time.Second, "bollard.dev/rollback-to cleared", func(ctx context.Context) (bool, error) {
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
			_, pending := r.Annotations[v1alpha1.AnnotationRollbackTo]
			return err == nil && !pending, err
		})
		logs := reconciler.LatestID(&r)
		time.Sleep(3 * time.Second)
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil || reconciler.LatestID(&r) != logs || r.Annotations[v1alpha1.AnnotationRollbackTo] != "" {
			t.Errorf("after the rollback: newest log #%d (was #%d), annotations %v, %v", reconciler.LatestID(&r), logs, r.Annotations, err)
		}
		out, code = bollardCLI(t, env, "log", "shop", "-n", ns)
		if code != 0 || strings.Count(out, "## Deployment Log #") < 4 || !strings.Contains(out, "trigger manual") {
			t.Errorf("log exit %d:\n%s", code, out)
		}
		if out, code := bollardCLI(t, env, "deploy", "nope", "--target", "nowhere"); code != 2 {
			t.Errorf("unknown target: exit %d\n%s", code, out)
		}
	})
}
