package realnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/cluster"
	"bollard.dev/bollard/test/kubetest"
)

// makeScript runs what make image or make chart runs (script, from the repository's root) against
// the real node's registry, version v0.0.1-realnode; its standard output's last line.
func makeScript(t testing.TB, env *kubetest.Env, script, cacheDir, out string, extra ...string) string {
	t.Helper()
	for _, v := range []string{"BOLLARD_COSIGN", "BOLLARD_CYCLONEDX", "BOLLARD_HELM"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s must name the CLI make image and make chart use (make test sets it)", v)
		}
	}
	cmd := exec.Command(script)
	cmd.Dir = "../.."
	cmd.Env = append(append(os.Environ(), "REGISTRY="+env.Registry(t)+"/platform", "COSIGN="+os.Getenv("BOLLARD_COSIGN"),
		"CYCLONEDX="+os.Getenv("BOLLARD_CYCLONEDX"), "HELM="+os.Getenv("BOLLARD_HELM"), "CACHE="+cacheDir, "OUT="+out,
		"VERSION=v0.0.1-realnode", "LDFLAGS=-s -w -X main.version=v0.0.1-realnode", "TUF_ROOT="+filepath.Join(cacheDir, "tuf")), extra...)
	stdout, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("%s: %v\n%s", script, err, ee.Stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	return lines[len(lines)-1]
}

// made is what madeImage built: make image's and make chart's output (ref, the helm install line)
// and their work directory (its keys/cosign.pub verifies the image).
var made struct {
	sync.Mutex
	work, ref, install string
}

// madeImage runs make image, then make chart, once per test process (each builds, signs and
// attests bollard for two platforms: a minute on two cores); the tests install what they made.
func madeImage(t testing.TB, env *kubetest.Env) (work, ref, install string) {
	t.Helper()
	made.Lock()
	defer made.Unlock()
	if made.ref == "" {
		work, out := filepath.Join(env.Dir(t), "image-work"), filepath.Join(env.Dir(t), "image-out")
		for _, d := range []string{work, out} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		ref := makeScript(t, env, "hack/image.sh", work, out)
		install := makeScript(t, env, "hack/chart.sh", work, out, "IMAGE="+ref)
		made.work, made.ref, made.install = work, ref, install
	}
	return made.work, made.ref, made.install
}

// installed is bollard installed from the OCI registry: its image reference, and how to upgrade it.
type installed struct {
	ref     string
	upgrade func(t testing.TB, set ...string) // helm upgrade --reuse-values --wait with set
}

// installFromOCI installs bollard as a user would — make image, make chart, then `helm install
// oci://… --wait` into namespace release with the webhook and the daemon on the real node and
// set (more helm flags) — and uninstalls it when the test ends.
func installFromOCI(t testing.TB, env *kubetest.Env, release string, set ...string) installed {
	t.Helper()
	work, ref, install := madeImage(t, env)
	if !strings.HasPrefix(install, "helm install bollard oci://"+env.Registry(t)+"/platform/charts/bollard --version 0.0.1-realnode") {
		t.Fatalf("make chart printed %q", install)
	}
	args := append(strings.Fields(strings.TrimPrefix(install, "helm ")), "--namespace", release, "--kubeconfig", env.Kubeconfig,
		"--wait", "--timeout", "3m", "--set-file", "image.verify.publicKey="+filepath.Join(work, "keys", "cosign.pub"))
	for _, c := range []string{"webhook", "daemon"} {
		args = append(args, "--set-string", c+".nodeSelector.bollard\\.dev/real-node=true",
			"--set", c+".tolerations[0].key="+cluster.RealNodeTaint, "--set", c+".tolerations[0].operator=Exists")
	}
	if b, err := exec.Command(os.Getenv("BOLLARD_HELM"), append(args, set...)...).CombinedOutput(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	t.Cleanup(func() {
		// The webhook goes with its configuration first: nothing is left calling gone pods.
		_ = exec.Command(os.Getenv("BOLLARD_HELM"), "uninstall", "bollard", "--namespace", release, "--kubeconfig", env.Kubeconfig, "--wait").Run()
	})
	chart := strings.Fields(strings.TrimPrefix(install, "helm install "))
	return installed{ref: ref, upgrade: func(t testing.TB, set ...string) {
		t.Helper()
		args := append(append([]string{"upgrade"}, chart...), "--namespace", release, "--kubeconfig", env.Kubeconfig, "--reuse-values", "--wait", "--timeout", "3m")
		if b, err := exec.Command(os.Getenv("BOLLARD_HELM"), append(args, set...)...).CombinedOutput(); err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}}
}

// deploymentOf is a one-replica Deployment of image in ns: what the webhook judges.
func deploymentOf(ns, name, image string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image, Args: []string{"version"}}}}}}}
}

// admissionLoad creates (dry run) Deployments of image in ns from 4 workers — every create is
// an admission by the webhook — until stop, which logs what was admitted during what (since the
// load began) and fails t if any admission failed or none went through.
func admissionLoad(env *kubetest.Env, ns, image string) (stop func(t *testing.T, during string)) {
	var admitted atomic.Int64
	var mu sync.Mutex
	var failed []string
	ctx, cancel := context.WithCancel(context.Background())
	started := time.Now()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if err := env.Client.Create(ctx, deploymentOf(ns, fmt.Sprintf("load-%d-%d", w, i), image), client.DryRunAll); err != nil {
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					continue
				}
				admitted.Add(1)
			}
		})
	}
	return func(t *testing.T, during string) {
		t.Helper()
		cancel()
		wg.Wait()
		ok, took := admitted.Load(), time.Since(started)
		t.Logf("%s in %s under load: %d admissions (%.0f/s), %d failed", during, took.Round(100*time.Millisecond), ok, float64(ok)/took.Seconds(), len(failed))
		if len(failed) > 0 {
			t.Errorf("%d admissions failed while %s, e.g. %s", len(failed), during, failed[0])
		}
		if ok == 0 {
			t.Errorf("no admission went through while %s", during)
		}
	}
}

// TestChartOnRealNode: bollard installed as a user would — make image, make chart, then
// `helm install oci://… --wait` — runs its webhook as 3 real pods on the real node behind its
// Service, and the API server calls them: an unsigned image is denied, bollard's own signed and
// attested image admitted (by the chart's policy for it), a change inside a freeze denied.
func TestChartOnRealNode(t *testing.T) {
	env := kubetest.Get(t)
	release, ns := env.Namespace(t), env.Namespace(t)
	ctx := context.Background()
	started := time.Now()
	inst := installFromOCI(t, env, release, "--set", "daemon.enabled=false")
	ref := inst.ref
	t.Logf("make image, make chart, helm install --wait from the OCI registry: %s", time.Since(started).Round(100*time.Millisecond))
	pods, err := env.Clientset.CoreV1().Pods(release).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webhook"})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName == cluster.RealNodeName && p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running != 3 {
		t.Fatalf("%d webhook pods run on the real node, want 3", running)
	}

	// Unsigned: denied by the API server's call to the webhook pods.
	unsigned, err := name.ParseReference(env.Registry(t) + "/platform/unsigned:v1")
	if err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(256, 1)
	if err := remote.Write(unsigned, img); err != nil {
		t.Fatal(err)
	}
	err = env.Client.Create(ctx, deploymentOf(ns, "unsigned", unsigned.String()))
	if err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("an unsigned image: %v", err)
	}
	// bollard's own image, signed and attested: admitted.
	if err := env.Client.Create(ctx, deploymentOf(ns, "signed", ref)); err != nil {
		t.Fatalf("bollard's signed image: %v", err)
	}
	t.Run("HA: webhook pods deleted one by one under admission load, 0 failed", func(t *testing.T) {
		stop := admissionLoad(env, ns, ref)
		time.Sleep(time.Second)
		for _, p := range pods.Items {
			if err := env.Clientset.CoreV1().Pods(release).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			env.Eventually(t, 2*time.Minute, "3 webhook pods ready again after deleting "+p.Name, func(ctx context.Context) (bool, error) {
				list, err := env.Clientset.CoreV1().Pods(release).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webhook"})
				if err != nil {
					return false, err
				}
				ready := 0
				for _, q := range list.Items {
					if q.Name == p.Name || q.DeletionTimestamp != nil {
						if q.Name == p.Name {
							return false, nil // still terminating
						}
						continue
					}
					for _, c := range q.Status.Conditions {
						if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
							ready++
						}
					}
				}
				return ready == 3, nil
			})
		}
		time.Sleep(time.Second)
		stop(t, "3 webhook pods were replaced one by one")
	})

	t.Run("certificate rotation (certs.mode helm) under admission load, 0 failed", func(t *testing.T) {
		bundle := func() []byte {
			vwc, err := env.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "bollard-gate", metav1.GetOptions{}) // helm release "bollard"
			if err != nil {
				t.Fatal(err)
			}
			return vwc.Webhooks[0].ClientConfig.CABundle
		}
		before := bundle()
		stop := admissionLoad(env, ns, ref)
		time.Sleep(time.Second)
		inst.upgrade(t, "--set", "certs.rotate=true") // new CA and certificate; pods roll onto it
		during := bundle()
		served := servedCerts(t, env, release)
		inst.upgrade(t, "--set", "certs.rotate=false") // the old CA dropped
		after := bundle()
		time.Sleep(time.Second)
		stop(t, "the certificate was rotated and the old CA dropped")
		// While rotating the API server trusted both CAs; every pod then served a certificate of
		// the new CA, the only one trusted after.
		if !bytes.Contains(during, before) || bytes.Equal(during, before) || !bytes.Contains(during, after) || bytes.Contains(after, before) {
			t.Errorf("caBundle: before %d bytes, during %d (want the old and the new CA), after %d (want the new one alone)", len(before), len(during), len(after))
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(after)
		for pod, leaf := range served {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "bollard-webhook." + release + ".svc"}); err != nil {
				t.Errorf("webhook pod %s after the rotation: %v", pod, err)
			}
		}
		if len(served) != 3 {
			t.Errorf("%d webhook pods served a certificate after the rotation, want 3", len(served))
		}
	})

	t.Run("all webhook pods gone: closed for workloads, kube-system and bollard's namespace writable, recovery", func(t *testing.T) {
		scale := func(n int32) {
			t.Helper()
			s, err := env.Clientset.AppsV1().Deployments(release).GetScale(ctx, "bollard-webhook", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.Spec.Replicas = n
			if _, err := env.Clientset.AppsV1().Deployments(release).UpdateScale(ctx, "bollard-webhook", s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		scale(0)
		env.Eventually(t, time.Minute, "no webhook pod left", func(ctx context.Context) (bool, error) {
			list, err := env.Clientset.CoreV1().Pods(release).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webhook"})
			return err == nil && len(list.Items) == 0, nil
		})
		if err := env.Client.Create(ctx, deploymentOf(ns, "while-down", ref), client.DryRunAll); err == nil {
			t.Error("a Deployment was admitted with no webhook pod (failurePolicy Fail)")
		}
		for _, where := range []string{"kube-system", release} { // the same kind the gate covers
			d := deploymentOf(ns, "written-while-down", ref)
			d.Namespace = where
			if err := env.Client.Create(ctx, d, client.DryRunAll); err != nil {
				t.Errorf("%s not writable while the webhook is down: %v", where, err)
			}
		}
		// The documented recovery (docs/policies.md): scale it back in its own namespace.
		scale(3)
		env.Eventually(t, 2*time.Minute, "admissions again", func(ctx context.Context) (bool, error) {
			return env.Client.Create(ctx, deploymentOf(ns, "after-recovery", ref), client.DryRunAll) == nil, nil
		})
	})

	// A freeze: the next change is denied.
	policy := &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-freeze"}, Spec: v1alpha1.DeployPolicySpec{
		Scope:         v1alpha1.Scope{Namespaces: []string{ns}},
		FreezeWindows: []v1alpha1.FreezeWindow{{Name: "code-freeze", Schedule: "* * * * *", Duration: metav1.Duration{Duration: time.Hour}, TimeZone: "Europe/Berlin"}}}}
	if err := env.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })
	env.Eventually(t, 30*time.Second, "a change inside the freeze denied", func(ctx context.Context) (bool, error) {
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "signed"}, &d); err != nil {
			return false, err
		}
		d.Spec.Template.Spec.Containers[0].Args = []string{"version", "--short"}
		err := env.Client.Update(ctx, &d)
		return err != nil && strings.Contains(err.Error(), "code-freeze"), nil
	})
}

// servedCerts is the certificate each running webhook pod of release serves, by pod.
func servedCerts(t *testing.T, env *kubetest.Env, release string) map[string]*x509.Certificate {
	t.Helper()
	pods, err := env.Clientset.CoreV1().Pods(release).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=webhook"})
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string]*x509.Certificate{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", net.JoinHostPort(p.Status.PodIP, "8443"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // read, then verified by the caller
		if err != nil {
			t.Fatalf("webhook pod %s: %v", p.Name, err)
		}
		certs[p.Name] = conn.ConnectionState().PeerCertificates[0]
		conn.Close()
	}
	return certs
}
