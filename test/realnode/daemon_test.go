package realnode

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
)

// gitServer serves the bare repositories under root over git's smart HTTP protocol (system git's
// http-backend) on the real node's bridge, where pods reach it; it returns the base URL.
func gitServer(t *testing.T, root string) string {
	t.Helper()
	host, _, _ := net.SplitHostPort(kubetest.Get(t).Registry(t))
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &cgi.Handler{Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

const appYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {bollard.dev/real-node: "true"}
      tolerations: [{key: bollard.dev/real-node, operator: Exists, effect: NoSchedule}]
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: %s
        args: ["%s", "%s=1:0"]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /metrics, port: 8080}, periodSeconds: 1}
`

// TestDaemonOnRealNode: the daemon installed by the chart runs as a real pod with the chart's
// RBAC (its Release acting as the tenant's ServiceAccount), syncs a Release from a git server
// into real pods, reverts drift, applies a push it receives through its Service and rolls back a
// revision whose pod never becomes Ready; then asks new pods for their health and runs canaries
// under real traffic (rolloutWithRealTraffic).
func TestDaemonOnRealNode(t *testing.T) {
	env := kubetest.Get(t)
	release, ns := env.Namespace(t), env.Namespace(t)
	ctx := context.Background()
	app := pushStatic(t, env, "bollard.dev/bollard/hack/fakeapp", "fakeapp", "v1")

	// The app's repository, served where the daemon's pod can fetch it.
	root := t.TempDir()
	bare, clone := filepath.Join(root, "app.git"), filepath.Join(t.TempDir(), "app")
	git(t, root, "init", "-q", "--bare", "--initial-branch=main", bare)
	git(t, root, "-C", bare, "config", "http.receivepack", "false")
	git(t, root, "clone", "-q", bare, clone)
	commitFile := func(path, content string) string { // committed and pushed; the new commit
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(clone, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clone, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, clone, "add", "-A")
		git(t, clone, "commit", "-qm", path)
		git(t, clone, "push", "-q", "origin", "main")
		return git(t, clone, "rev-parse", "HEAD")
	}
	commit := func(version, listen string) string {
		return commitFile("deploy/web.yaml", fmt.Sprintf(appYAML, app, listen, version))
	}
	commit("v1", ":8080")
	url := gitServer(t, root) + "/app.git"
	prom := startPrometheus(t, ns) // scraping the real pods of ns (the health and canary part)

	// The app's image is not signed: warned about, not refused (signatures are the gate's tests).
	// The SLO guard's Prometheus runs on the host, at the bridge's address.
	_ = installFromOCI(t, env, release, "--set", "signedImages=warn", "--set", "daemon.tenants={"+ns+"}", "--set", "daemon.extraArgs={--git-schemes=http}",
		"--set", "daemon.allowedHosts={*.svc,"+prom.host+"}")

	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: url, Path: "deploy"}, Interval: metav1.Duration{Duration: time.Hour},
			HealthTimeout: &metav1.Duration{Duration: 15 * time.Second}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	synced := func(what string, ok func(*v1alpha1.Release) bool) {
		t.Helper()
		env.Eventually(t, 2*time.Minute, what, func(ctx context.Context) (bool, error) {
			var r v1alpha1.Release
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil {
				return false, err
			}
			return ok(&r), nil
		})
	}
	synced("the Release synced into real pods", func(r *v1alpha1.Release) bool { return r.Status.Phase == "Synced" })
	deployment := func() *appsv1.Deployment {
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil {
			t.Fatal(err)
		}
		return &d
	}
	if d := deployment(); d.Status.ReadyReplicas != 1 {
		t.Errorf("web: %d ready replicas", d.Status.ReadyReplicas)
	}

	// Drift: scaled by hand, scaled back.
	d := deployment()
	d.Spec.Replicas = ptrInt32(3)
	if err := env.Client.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "drift reverted by the daemon's pod", func(context.Context) (bool, error) {
		return *deployment().Spec.Replicas == 1, nil
	})

	// A push through the daemon's receiver Service (its ClusterIP, kube-proxy's rules).
	rev := commit("v2", ":8080")
	var secret corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: release, Name: "bollard-daemon-receiver"}, &secret); err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: release, Name: "bollard-daemon-receiver"}, &svc); err != nil {
		t.Fatal(err)
	}
	push := func(rev string) {
		t.Helper()
		body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, rev, url)
		mac := hmac.New(sha256.New, secret.Data["secret"])
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+svc.Spec.ClusterIP+"/hooks/git", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("push through the Service: %s", resp.Status)
		}
	}
	pushed := time.Now()
	push(rev)
	env.Eventually(t, time.Minute, "the push applied", func(context.Context) (bool, error) {
		return strings.Join(deployment().Spec.Template.Spec.Containers[0].Args, " ") == ":8080 v2=1:0", nil
	})
	t.Logf("push through the receiver Service → Deployment updated in %s", time.Since(pushed).Round(10*time.Millisecond))
	synced("v2 verified on real pods", func(r *v1alpha1.Release) bool {
		return r.Status.Phase == "Synced" && r.Status.ObservedRevision == rev && r.Status.LastGoodRevision == rev
	})

	// v3 listens where kubelet's readiness probe does not look: its pod never becomes Ready, and
	// v3 is rolled back to v2 on real pods.
	bad := commit("v3", ":8081")
	push(bad)
	var last v1alpha1.ReleaseStatus
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the Release's last status: phase %s: %s; rollout %+v; failed %s", last.Phase, last.Message, last.Rollout, last.FailedRevision)
		}
	})
	synced("v3 rolled back", func(r *v1alpha1.Release) bool { last = r.Status; return r.Status.FailedRevision == bad })
	env.Eventually(t, time.Minute, "v2 running again on a Ready real pod", func(context.Context) (bool, error) {
		d := deployment()
		return strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ") == ":8080 v2=1:0" && d.Status.ReadyReplicas == 1 && d.Status.UpdatedReplicas == 1, nil
	})

	t.Run("health and canary with real traffic", func(t *testing.T) { rolloutWithRealTraffic(t, env, ns, url, prom, commitFile, push) })
}

func ptrInt32(v int32) *int32 { return &v }
