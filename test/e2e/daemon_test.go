package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook/admission"
)

// gitRepo is a real bare repository on disk and a work tree that pushes to it (system git).
type gitRepo struct {
	bare, work string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	r := &gitRepo{bare: filepath.Join(dir, "shop.git"), work: filepath.Join(dir, "work")}
	r.git(t, dir, "init", "--quiet", "--bare", "--initial-branch=main", r.bare)
	r.git(t, dir, "clone", "--quiet", r.bare, r.work)
	return r
}

func (r *gitRepo) git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@shop.example", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (empty content: delete the file), commits and pushes; it returns the hash.
func (r *gitRepo) commit(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(r.work, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.git(t, r.work, "add", "--all")
	r.git(t, r.work, "commit", "--quiet", "-m", msg)
	r.git(t, r.work, "push", "--quiet", "origin", "HEAD:main")
	return r.git(t, r.work, "rev-parse", "HEAD")
}

func (r *gitRepo) url() string { return "file://" + r.bare }

// testGitSchemes: the test repositories are file:// (and a few http://) ones, which a daemon
// fetches only when told to.
var testGitSchemes = []string{"https", "ssh", "http", "file"}

// testAllowedHosts: the tests' prove servers and Prometheus listen on the loopback address.
var testAllowedHosts = []string{"127.0.0.1"}

// daemon is bollard's daemon running in the test process against the test cluster, limited to
// one namespace (tests run in parallel).
type daemon struct {
	receiver string
	cancel   context.CancelFunc
	done     chan error
}

func startDaemon(t testing.TB, env *kubetest.Env, ns, secret, gitDir string) *daemon {
	t.Helper()
	return startDaemonWith(t, env, ns, secret, gitDir, false)
}

// startDaemonWith is startDaemon; verifyImages turns on signature verification in pre-flight.
func startDaemonWith(t testing.TB, env *kubetest.Env, ns, secret, gitDir string, verifyImages bool) *daemon {
	t.Helper()
	return startDaemonREST(t, nil, ns, secret, gitDir, verifyImages)
}

// daemonUser is the daemon's identity in the tests, as the chart names it.
const daemonUser = "system:serviceaccount:" + daemonNamespace + ":bollard-daemon"

// startDaemonREST is startDaemon talking to the API server with cfg (nil: as the chart's daemon
// ServiceAccount, with the chart's RBAC), watching ns and the namespaces also names — each
// onboarded as a tenant: Releases act as its bollard-release ServiceAccount.
func startDaemonREST(t testing.TB, cfg *rest.Config, ns, secret, gitDir string, verifyImages bool, also ...string) *daemon {
	t.Helper()
	return startDaemonOpts(t, cfg, ns, secret, gitDir, func(o *reconciler.Options) { o.VerifyImages = verifyImages }, also...)
}

// startDaemonOpts is startDaemonREST with the options as mod leaves them.
func startDaemonOpts(t testing.TB, cfg *rest.Config, ns, secret, gitDir string, mod func(*reconciler.Options), also ...string) *daemon {
	t.Helper()
	env := kubetest.Get(t)
	if cfg == nil {
		cfg = daemonConfig(t)
	}
	namespaces := append([]string{ns}, also...)
	onboard(t, env, namespaces...)
	receiver := receiverSecret(t, env, ns, secret)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	d := &daemon{cancel: cancel, done: make(chan error, 1)}
	opts := reconciler.Options{REST: cfg, MetricsAddr: "0", HealthAddr: "0",
		ReceiverAddr: "127.0.0.1:0", ReceiverSecret: receiver, Namespaces: namespaces, GitDir: gitDir,
		GitSchemes: testGitSchemes, Namespace: daemonNamespace, DefaultServiceAccount: releaseAccount, AllowedHosts: testAllowedHosts,
		User: admission.User{Username: daemonUser}, SyncTimeout: time.Minute,
		Log: testLog(t), Started: func(addr string) { started <- addr }}
	mod(&opts)
	go func() { d.done <- reconciler.Run(ctx, opts) }()
	select {
	case addr := <-started:
		d.receiver = "http://" + addr + "/hooks/git"
	case err := <-d.done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon did not start its receiver")
	}
	t.Cleanup(func() {
		d.stop()
		dropFinalizers(env, namespaces...)
	})
	return d
}

// testLog is the daemon's log in a test's output; benchmarks keep quiet.
func testLog(t testing.TB) logr.Logger {
	if tt, ok := t.(*testing.T); ok {
		return testr.NewWithOptions(tt, testr.Options{Verbosity: 1})
	}
	return logr.Discard()
}

func (d *daemon) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel = nil
	}
}

// push posts a GitHub push event for the repository, signed with key (HMAC-SHA256).
func (d *daemon) push(t testing.TB, repo *gitRepo, after string, key []byte) *http.Response {
	t.Helper()
	body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, after, repo.url())
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, d.receiver, bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const webYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/shop/web:%s
        env:
        - {name: LOG_LEVEL, value: info}
`

const settingsYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
`

// TestDaemon: a Release pointing at a real bare git repository is applied through gitops-engine;
// pushes (HMAC-checked) apply new revisions at once; removed files are pruned, objects bollard
// does not own never; out-of-band edits are reverted (or only reported); broken and denied
// revisions are not applied; a daemon killed mid-sync converges after a restart.
func TestDaemon(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	key := []byte("push-secret-" + ns)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": key}}); err != nil {
		t.Fatal(err)
	}
	repo := newGitRepo(t)
	first := repo.commit(t, "web v1 and its settings", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v1"), "deploy/settings.yaml": settingsYAML})
	gitDir := t.TempDir()
	d := startDaemon(t, env, ns, "receiver", gitDir)
	top := t

	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}, Spec: v1alpha1.ReleaseSpec{
		Source:   v1alpha1.GitSource{URL: repo.url(), Ref: "main", Path: "deploy"},
		Interval: metav1.Duration{Duration: time.Hour}, // only pushes and drift trigger in this test
	}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	web := client.ObjectKey{Namespace: ns, Name: "web"}
	image := func() string {
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, web, &dep); err != nil {
			return ""
		}
		return dep.Spec.Template.Spec.Containers[0].Image
	}
	release := func() *v1alpha1.Release {
		var r v1alpha1.Release
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	waitRelease := func(what string, cond func(*v1alpha1.Release) bool) *v1alpha1.Release {
		t.Helper()
		var last *v1alpha1.Release
		env.Eventually(t, 60*time.Second, what, func(context.Context) (bool, error) {
			last = release()
			return cond(last), nil
		})
		return last
	}

	t.Run("a Release's objects appear, labelled as its own, with a Deployment Log", func(t *testing.T) {
		r := waitRelease("the first sync", func(r *v1alpha1.Release) bool {
			return r.Status.ObservedRevision == first && r.Status.Phase == "Synced"
		})
		if image() != "registry.local/shop/web:v1" {
			t.Fatalf("web runs %q", image())
		}
		var cm corev1.ConfigMap
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Labels[engine.LabelRelease] != "shop" || cm.Labels[engine.LabelReleaseNamespace] != ns {
			t.Errorf("settings labels %v", cm.Labels)
		}
		logs := env.Logs(t, r)
		if len(logs) != 1 || logs[0].Status != "SUCCESS" || logs[0].Created != 2 || logs[0].Revision != first {
			t.Errorf("Deployment Logs %+v", logs)
		}
		var b bytes.Buffer
		reconciler.WriteLog(&b, r, logs[0])
		for _, want := range []string{"**Revision**: commit " + first[:7] + ` "web v1 and its settings" by Dev`, "registry.local/shop/web:v1", "2 created", "**STATUS**: 🟢 SUCCESS."} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("Deployment Log lacks %q:\n%s", want, b.String())
			}
		}
	})

	t.Run("a push applies the new revision at once", func(t *testing.T) {
		second := repo.commit(t, "web v2", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v2")})
		start := time.Now()
		if resp := d.push(t, repo, second, key); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("push: %s", resp.Status)
		}
		env.Eventually(t, 30*time.Second, "web to run v2", func(context.Context) (bool, error) { return image() == "registry.local/shop/web:v2", nil })
		t.Logf("push → applied in %v", time.Since(start))
		waitRelease("status to show the revision", func(r *v1alpha1.Release) bool { return r.Status.ObservedRevision == second })
	})

	t.Run("a forged push gets 401 and changes nothing", func(t *testing.T) {
		forged := repo.commit(t, "web v3", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v3")})
		if resp := d.push(t, repo, forged, []byte("not the secret")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged push: %s, want 401", resp.Status)
		}
		time.Sleep(2 * time.Second)
		if image() != "registry.local/shop/web:v2" {
			t.Fatalf("a forged push changed web to %s", image())
		}
	})

	t.Run("a file removed from git is pruned; an object bollard does not own is never touched", func(t *testing.T) {
		mine := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hand-made"}, Data: map[string]string{"a": "b"}}
		if err := env.Client.Create(ctx, mine); err != nil {
			t.Fatal(err)
		}
		third := repo.commit(t, "drop settings", map[string]string{"deploy/settings.yaml": ""})
		if resp := d.push(t, repo, third, key); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("push: %s", resp.Status)
		}
		env.Eventually(t, 30*time.Second, "settings to be pruned", func(ctx context.Context) (bool, error) {
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &corev1.ConfigMap{})
			return apierrors.IsNotFound(err), nil
		})
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(mine), &corev1.ConfigMap{}); err != nil {
			t.Errorf("the hand-made ConfigMap: %v", err)
		}
		r := waitRelease("the prune in the log", func(r *v1alpha1.Release) bool { return r.Status.ObservedRevision == third })
		if l := latestLog(t, r); l.Pruned != 1 || image() != "registry.local/shop/web:v3" {
			t.Errorf("log %+v, image %s", l, image())
		}
		// One Event for the verified change, naming what it applied.
		waitEvent(t, env, ns, "RolloutSucceeded", "shop", "revision "+third[:7]+" verified: ", "1 pruned")
	})

	t.Run("kubectl scale and set env are reverted", func(t *testing.T) {
		var dep appsv1.Deployment
		if err := update(ctx, env, env.Client, web, func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](5)
			d.Spec.Template.Spec.Containers[0].Env[0].Value = "debug"
		}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		env.Eventually(t, 30*time.Second, "the edit to be reverted", func(ctx context.Context) (bool, error) {
			if err := env.Client.Get(ctx, web, &dep); err != nil {
				return false, err
			}
			return *dep.Spec.Replicas == 2 && dep.Spec.Template.Spec.Containers[0].Env[0].Value == "info", nil
		})
		t.Logf("edit → reverted in %v", time.Since(start))
		r := waitRelease("the drift record", func(r *v1alpha1.Release) bool { return len(r.Status.Drift) > 0 && r.Status.Drift[0].Reverted })
		if got := strings.Join(r.Status.Drift[0].Fields, ","); !strings.Contains(got, "spec.replicas") && !strings.Contains(got, "spec.template.spec.containers") {
			t.Errorf("drift fields %q", got)
		}
		waitEvent(t, env, ns, "DriftReverted", "shop", "Deployment web changed out of band")
	})

	t.Run("with selfHeal off, drift is reported and left", func(t *testing.T) {
		setSelfHeal := func(on bool) {
			t.Helper()
			if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { // the daemon writes the status
				r := release()
				r.Spec.SelfHeal = ptr.To(on)
				return env.Client.Update(ctx, r)
			}); err != nil {
				t.Fatal(err)
			}
		}
		setSelfHeal(false)
		waitRelease("the spec change to be seen", func(r *v1alpha1.Release) bool { return r.Status.ObservedGeneration == r.Generation })
		if err := update(ctx, env, env.Client, web, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](4) }); err != nil {
			t.Fatal(err)
		}
		r := waitRelease("the drift report", func(r *v1alpha1.Release) bool { return r.Status.Phase == "OutOfSync" })
		if !strings.Contains(r.Status.Message, "spec.replicas") || r.Status.Drift[0].Reverted {
			t.Errorf("status %q, drift %+v", r.Status.Message, r.Status.Drift[0])
		}
		time.Sleep(time.Second)
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, web, &dep); err != nil || *dep.Spec.Replicas != 4 {
			t.Errorf("with selfHeal off the edit was reverted: %v %v", err, dep.Spec.Replicas)
		}
		setSelfHeal(true)
		env.Eventually(t, 30*time.Second, "selfHeal on to restore 2 replicas", func(ctx context.Context) (bool, error) {
			err := env.Client.Get(ctx, web, &dep)
			return err == nil && *dep.Spec.Replicas == 2, nil
		})
	})

	t.Run("broken YAML is not applied; the status names the file and line", func(t *testing.T) {
		broken := repo.commit(t, "oops", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v4") + "  bad: [unclosed\n"})
		d.push(t, repo, broken, key)
		r := waitRelease("the refusal", func(r *v1alpha1.Release) bool {
			return r.Status.Phase == "Refused" && r.Status.DesiredRevision == broken
		})
		if l := latestLog(t, r); !strings.Contains(r.Status.Message, "deploy/web.yaml:") || l.Status != "REFUSED" {
			t.Errorf("status %q, log %+v", r.Status.Message, l)
		}
		if image() != "registry.local/shop/web:v3" {
			t.Errorf("a broken revision changed web to %s", image())
		}
	})

	t.Run("a revision the policies deny is not applied; the status says why", func(t *testing.T) {
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-no-zero"}, Spec: v1alpha1.DeployPolicySpec{
			Scope:        v1alpha1.Scope{Namespaces: []string{ns}},
			RiskyChanges: &v1alpha1.RiskyChangePolicy{Rules: []v1alpha1.RiskRule{{Class: v1alpha1.ChangeScaleToZero, Action: v1alpha1.ActionDeny}}}}})
		denied := repo.commit(t, "scale web to zero", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 0, "v3")})
		d.push(t, repo, denied, key)
		r := waitRelease("the pre-flight refusal", func(r *v1alpha1.Release) bool {
			return r.Status.Phase == "Refused" && r.Status.DesiredRevision == denied
		})
		if !strings.Contains(r.Status.Message, "Deployment web") || !strings.Contains(r.Status.Message, "ScaleToZero") {
			t.Errorf("status %q", r.Status.Message)
		}
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, web, &dep); err != nil || *dep.Spec.Replicas != 2 {
			t.Errorf("a denied revision changed web: %v %v", err, dep.Spec.Replicas)
		}
	})

	t.Run("a PreSync hook (a migration Job) runs to completion before the new revision is applied", func(t *testing.T) {
		withHook := repo.commit(t, "schema 44, then web v4", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v4"), "deploy/migrate.yaml": migrateJob})
		d.push(t, repo, withHook, key)
		waitRelease("the sync with the hook", func(r *v1alpha1.Release) bool {
			return r.Status.ObservedRevision == withHook && r.Status.Phase == "Synced"
		})
		var job batchv1.Job
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "migrate"}, &job); err != nil {
			t.Fatalf("the migration Job: %v", err)
		}
		if job.Status.Succeeded != 1 || job.Status.CompletionTime == nil {
			t.Fatalf("the migration Job did not complete: %+v", job.Status)
		}
		var rsList appsv1.ReplicaSetList
		if err := env.Client.List(ctx, &rsList, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, rs := range rsList.Items {
			if rs.Spec.Template.Spec.Containers[0].Image == "registry.local/shop/web:v4" && rs.CreationTimestamp.Before(job.Status.CompletionTime) {
				t.Errorf("web v4's ReplicaSet was created at %v, before the migration completed at %v", rs.CreationTimestamp, job.Status.CompletionTime)
			}
		}
		if image() != "registry.local/shop/web:v4" {
			t.Errorf("web runs %s", image())
		}
	})

	t.Run("a daemon killed mid-sync converges after a restart, nothing duplicated", func(t *testing.T) {
		files := map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v5"), "deploy/migrate.yaml": ""}
		for i := range 20 {
			files[fmt.Sprintf("deploy/extra-%02d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-%02d\ndata: {n: %q}\n", i, fmt.Sprint(i))
		}
		last := repo.commit(t, "web v5 and 20 ConfigMaps", files)
		d.push(t, repo, last, key)
		time.Sleep(150 * time.Millisecond) // mid-sync
		d.stop()
		d = startDaemon(top, env, ns, "receiver", gitDir) // runs on for the subtests after this one
		d.push(t, repo, last, key)
		waitRelease("convergence", func(r *v1alpha1.Release) bool { return r.Status.ObservedRevision == last && r.Status.Phase == "Synced" })
		var cms corev1.ConfigMapList
		if err := env.Client.List(ctx, &cms, client.InNamespace(ns), client.MatchingLabels{engine.LabelRelease: "shop"}); err != nil {
			t.Fatal(err)
		}
		var deps appsv1.DeploymentList
		if err := env.Client.List(ctx, &deps, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(cms.Items) != 20 || len(deps.Items) != 1 || image() != "registry.local/shop/web:v5" {
			t.Errorf("after the restart: %d ConfigMaps (want 20), %d Deployments (want 1), web runs %s", len(cms.Items), len(deps.Items), image())
		}
	})
	t.Run("replicas under an HPA are the HPA's: neither drift nor applied", func(t *testing.T) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](1), MaxReplicas: 10,
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
		if err := env.Client.Create(ctx, hpa); err != nil {
			t.Fatal(err)
		}
		// A commit while the HPA is there: the daemon leaves spec.replicas out of what it applies.
		next := repo.commit(t, "web v6", map[string]string{"deploy/web.yaml": fmt.Sprintf(webYAML, 2, "v6")})
		d.push(t, repo, next, key)
		waitRelease("v6", func(r *v1alpha1.Release) bool { return r.Status.ObservedRevision == next && r.Status.Phase == "Synced" })
		// The watch events of the daemon's own sync may still be on their way: count from when
		// the count holds still for a second.
		before := release().Status.DriftCount
		for settled := time.Now(); time.Since(settled) < time.Second; time.Sleep(100 * time.Millisecond) {
			if n := release().Status.DriftCount; n != before {
				before, settled = n, time.Now()
			}
		}
		// The HPA's write (as the autoscaler scales through /scale).
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var scale autoscalingv1.Scale
			target := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
			if err := env.Client.SubResource("scale").Get(ctx, target, &scale); err != nil {
				return err
			}
			scale.Spec.Replicas = 6
			return env.Client.SubResource("scale").Update(ctx, target, client.WithSubResourceBody(&scale))
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, web, &dep); err != nil || *dep.Spec.Replicas != 6 {
			t.Errorf("the HPA's replicas were overridden: %v %v", err, dep.Spec.Replicas)
		}
		if after := release().Status.DriftCount; after != before {
			t.Errorf("the HPA's scale counted as drift (%d → %d)", before, after)
		}
	})

	t.Run("drift and syncs are counted in the daemon's metrics", func(t *testing.T) {
		families, err := metrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "release" && l.GetValue() == ns+"/shop" {
						found[f.GetName()] += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
		for _, name := range []string{"bollard_drift_total", "bollard_release_syncs_total", "bollard_sync_duration_seconds"} {
			if found[name] == 0 {
				t.Errorf("%s has nothing for %s/shop: %v", name, ns, found)
			}
		}
	})

}
