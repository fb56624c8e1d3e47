package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// daemonProcess is the real `bollard daemon` ($BOLLARD_BIN) as a process of its own, for tests
// that kill it with SIGKILL — no deferred code, no graceful shutdown, whatever it was doing.
type daemonProcess struct {
	*daemon
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *os.File
}

// startDaemonProcess starts it for f's namespace; extra flags come last (they win).
func startDaemonProcess(t *testing.T, f *releaseFixture, extra ...string) *daemonProcess {
	t.Helper()
	bin := os.Getenv("BOLLARD_BIN")
	if bin == "" {
		t.Fatal("BOLLARD_BIN must name a built bollard binary (make test builds it)")
	}
	addr := freeAddr(t)
	onboard(t, f.env, f.ns)
	out, err := os.CreateTemp(t.TempDir(), "daemon-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := &daemonProcess{daemon: &daemon{receiver: "http://" + addr + "/hooks/git"}, out: out,
		args: []string{bin, "daemon", "--kubeconfig", daemonKubeconfig(t), "--namespaces", f.ns, "--receiver-addr", addr,
			"--receiver-secret", receiverSecret(t, f.env, f.ns, "receiver"), "--namespace", daemonNamespace, "--default-service-account", releaseAccount,
			"--user", daemonUser, "--allowed-hosts", strings.Join(testAllowedHosts, ","), "--git-dir", f.gitDir, "--metrics-addr", "0", "--health-addr", "0",
			"--leader-elect=false", "--verify-images=false", "--sync-timeout", "1m", "--git-schemes", strings.Join(testGitSchemes, ",")}}
	p.args = append(p.args, extra...)
	p.start(t)
	t.Cleanup(func() {
		p.kill(t)
		dropFinalizers(f.env, f.ns)
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("the daemon's output:\n%s", b[max(0, len(b)-20000):])
		}
	})
	return p
}

func (p *daemonProcess) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(p.receiver, "http://"), "/hooks/git")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon process did not open its receiver in 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and reaps the process.
func (p *daemonProcess) kill(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill() // SIGKILL
	_ = p.cmd.Wait()
	p.cmd = nil
}

func (p *daemonProcess) restart(t *testing.T) {
	t.Helper()
	p.kill(t)
	p.start(t)
}

// leftovers names the Deployments beside web that still run pods: a canary or green left
// behind once a rollout ended.
func leftovers(ctx context.Context, f *releaseFixture) string {
	var deps appsv1.DeploymentList
	if err := f.env.Client.List(ctx, &deps, client.InNamespace(f.ns)); err != nil {
		return err.Error()
	}
	var extra []string
	for _, d := range deps.Items {
		if d.Name != "web" && (d.Spec.Replicas == nil || *d.Spec.Replicas > 0) {
			extra = append(extra, d.Name)
		}
	}
	return strings.Join(extra, ", ")
}

// TestDaemonSIGKILL: the real `bollard daemon` process killed with SIGKILL at each state of a
// rollout — rolling mid-health, a canary at each step, blue/green before and after the switch,
// again and again around a rollback — and started again: it resumes or rolls back; a finished
// rollout never leaves two versions running, and a failed revision never ends as SUCCESS.
func TestDaemonSIGKILL(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 4)
	f.d.stop() // the in-process daemon: this test runs the binary
	p := startDaemonProcess(t, f)
	f.d = p.daemon
	env := f.env
	ctx := context.Background()
	f.create(t, v1alpha1.ReleaseSpec{HealthTimeout: &metav1.Duration{Duration: 4 * time.Second}})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	setStrategy := func(s *v1alpha1.Strategy) {
		t.Helper()
		r := f.get(t)
		r.Spec.Strategy = s
		if err := env.Client.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// killAt waits until the rollout of revision is in the state cond describes, then kills and
	// restarts the daemon.
	killAt := func(t *testing.T, revision, state string, cond func(*v1alpha1.RolloutStatus) bool) {
		t.Helper()
		env.Eventually(t, 60*time.Second, state, func(context.Context) (bool, error) {
			ro := f.get(t).Status.Rollout
			return ro != nil && ro.Revision == revision && cond(ro), nil
		})
		p.restart(t)
	}
	whole := func(t *testing.T, image string) {
		t.Helper()
		env.Eventually(t, 60*time.Second, "web whole on "+image, func(ctx context.Context) (bool, error) {
			var d appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "web"}, &d); err != nil {
				return false, err
			}
			return d.Spec.Template.Spec.Containers[0].Image == image && *d.Spec.Replicas == 4 && d.Status.ReadyReplicas == 4 && d.Status.Replicas == 4 &&
				leftovers(ctx, f) == "", nil
		})
	}

	t.Run("rolling, killed mid-health: the failed revision rolled back after the restart", func(t *testing.T) {
		bad := f.repo.commit(t, "web v2, never ready", map[string]string{"web.yaml": neverReady(4, "v2")})
		f.d.push(t, f.repo, bad, f.key)
		killAt(t, bad, "v2 waiting for health", func(ro *v1alpha1.RolloutStatus) bool { return ro.Check == "health" && ro.Phase == "Verifying" })
		r := f.ended(t, bad)
		if r.Status.Rollout.Phase != "RolledBack" {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, bad)))
		}
		whole(t, "registry.local/shop/web:v1")
		noSuccessFor(t, f.get(t), bad)
	})

	t.Run("canary, killed at each step: resumed and promoted", func(t *testing.T) {
		setStrategy(&v1alpha1.Strategy{Type: "canary", Steps: []int32{25, 50, 75, 100}})
		rev := f.commitAndPush(t, "v3", 4)
		for step := int32(0); step < 3; step++ {
			killAt(t, rev, fmt.Sprintf("canary step %d", step), func(ro *v1alpha1.RolloutStatus) bool { return ro.Index >= step })
		}
		r := f.ended(t, rev)
		if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(stepsOf(logOf(t, r, rev)), "promote OK") {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, rev)))
		}
		whole(t, "registry.local/shop/web:v3")
	})

	t.Run("canary, killed again and again around its rollback: rolled back, never SUCCESS", func(t *testing.T) {
		bad := f.repo.commit(t, "web v4, never ready", map[string]string{"web.yaml": neverReady(4, "v4")})
		f.d.push(t, f.repo, bad, f.key)
		env.Eventually(t, 30*time.Second, "the v4 canary", func(context.Context) (bool, error) {
			ro := f.get(t).Status.Rollout
			return ro != nil && ro.Revision == bad, nil
		})
		// Kill every 1.2 s for 10 s: across the health timeout (4 s), the failure, the rollback.
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
			time.Sleep(1200 * time.Millisecond)
			p.restart(t)
		}
		r := f.ended(t, bad)
		if r.Status.Rollout.Phase != "RolledBack" {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, bad)))
		}
		whole(t, "registry.local/shop/web:v3")
		noSuccessFor(t, f.get(t), bad)
	})

	t.Run("blue/green, killed before and after the switch: resumed and promoted", func(t *testing.T) {
		svc := "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n"
		setStrategy(&v1alpha1.Strategy{Type: "blueGreen", ActiveService: "web", PreviewService: "web-preview"})
		base := f.repo.commit(t, "the Service (web v3 again)", map[string]string{"svc.yaml": svc, "web.yaml": fmt.Sprintf(webYAML, 4, "v3")})
		f.d.push(t, f.repo, base, f.key)
		if r := f.ended(t, base); r.Status.Rollout.Phase != "Succeeded" {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, base)))
		}
		rev := f.commitAndPush(t, "v5", 4)
		killAt(t, rev, "green up", func(ro *v1alpha1.RolloutStatus) bool { return ro.Index == 0 && ro.Phase == "Verifying" })
		killAt(t, rev, "switched", func(ro *v1alpha1.RolloutStatus) bool { return ro.Index >= 1 })
		r := f.ended(t, rev)
		if r.Status.Rollout.Phase != "Succeeded" {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, rev)))
		}
		whole(t, "registry.local/shop/web:v5")
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "web-green"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("green left after the promotion: %v", err)
		}
	})
	t.Run("canary by HTTPRoute, killed mid-weight: resumed, git's route again", func(t *testing.T) {
		env.InstallCRDs(t, "testdata/gateway-api/*.yaml")
		setStrategy(&v1alpha1.Strategy{Type: "canary", Steps: []int32{25, 50, 100}, HTTPRoute: "shop"})
		base := f.repo.commit(t, "the route", map[string]string{"route.yaml": shopRoute, "web.yaml": fmt.Sprintf(webYAML, 4, "v5")})
		f.d.push(t, f.repo, base, f.key)
		if r := f.ended(t, base); r.Status.Rollout.Phase != "Succeeded" {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, base)))
		}
		rev := f.commitAndPush(t, "v6", 4)
		killAt(t, rev, "25% of requests", func(ro *v1alpha1.RolloutStatus) bool { return ro.CanaryWeight == 25 })
		killAt(t, rev, "50% of requests", func(ro *v1alpha1.RolloutStatus) bool {
			return ro.CanaryWeight >= 50
		})
		r := f.ended(t, rev)
		if r.Status.Rollout.Phase != "Succeeded" {
			t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, rev)))
		}
		whole(t, "registry.local/shop/web:v6")
		env.Eventually(t, 30*time.Second, "the canary Service gone", func(ctx context.Context) (bool, error) {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "web-canary"}, &corev1.Service{})), nil
		})
	})
}
