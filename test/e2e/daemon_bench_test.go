package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
)

// The daemon's figures (issue #5), on the local control plane. Each benchmark does its fixed
// number of rounds per b.N; run them with -benchtime 1x (make bench does).

func percentiles(b *testing.B, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(d[len(d)*95/100].Milliseconds()), "p95-ms")
	b.ReportMetric(float64(d[len(d)-1].Milliseconds()), "max-ms")
}

// timeUntil polls the Deployment every 5 ms until done holds and returns how long it took.
func timeUntil(b *testing.B, env *kubetest.Env, key client.ObjectKey, what string, done func(*appsv1.Deployment) bool) time.Duration {
	start := time.Now()
	for {
		var d appsv1.Deployment
		if err := env.Client.Get(context.Background(), key, &d); err != nil {
			b.Fatal(err)
		}
		if done(&d) {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			b.Fatalf("not %s in 30 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchRelease starts an in-process daemon and a Release of web (one Deployment), synced.
func benchRelease(b *testing.B) (*kubetest.Env, string, *gitRepo, *daemon, []byte) {
	env := kubetest.Get(b)
	ns := env.Namespace(b)
	env.InstallCRDs(b, "../../charts/bollard/crds/*.yaml")
	key := []byte("bench")
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": key}}); err != nil {
		b.Fatal(err)
	}
	repo := newGitRepo(b)
	repo.commit(b, "web v0", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v0")})
	d := startDaemon(b, env, ns, "receiver", b.TempDir())
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		b.Fatal(err)
	}
	env.Eventually(b, 60*time.Second, "the first sync", func(ctx context.Context) (bool, error) {
		var r v1alpha1.Release
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
		return err == nil && r.Status.Phase == "Synced", nil
	})
	return env, ns, repo, d, key
}

// BenchmarkDaemonDriftRevert: 50 out-of-band scales of a managed Deployment, each timed from the
// write until the daemon has put git's replicas back. Target p95 < 1 s.
func BenchmarkDaemonDriftRevert(b *testing.B) {
	env, ns, _, _, _ := benchRelease(b)
	ctx := context.Background()
	web := client.ObjectKey{Namespace: ns, Name: "web"}
	for b.Loop() {
		var took []time.Duration
		for i := range 50 {
			if err := update(ctx, env, env.Client, web, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(3 + i%5)) }); err != nil {
				b.Fatal(err)
			}
			took = append(took, timeUntil(b, env, web, "reverted", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 2 }))
		}
		percentiles(b, took)
	}
}

// BenchmarkDaemonPushToApplied: 20 commits, each pushed (signed push event), timed from the
// push event until the Deployment carries the new image. Target < 2 s.
func BenchmarkDaemonPushToApplied(b *testing.B) {
	env, ns, repo, d, key := benchRelease(b)
	web := client.ObjectKey{Namespace: ns, Name: "web"}
	for b.Loop() {
		var took []time.Duration
		for i := range 20 {
			tag := fmt.Sprintf("v%d", i+1)
			hash := repo.commit(b, "web "+tag, map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, tag)})
			d.push(b, repo, hash, key)
			took = append(took, timeUntil(b, env, web, "applied", func(d *appsv1.Deployment) bool {
				return strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, ":"+tag)
			}))
			// The next push comes once this revision is verified: a push during a rollout's
			// verification waits for it (by design), which is not push latency.
			env.Eventually(b, time.Minute, tag+" verified", func(ctx context.Context) (bool, error) {
				var r v1alpha1.Release
				err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, &r)
				return err == nil && r.Status.Rollout != nil && r.Status.Rollout.Revision == hash && r.Status.Rollout.Phase == "Succeeded", err
			})
		}
		percentiles(b, took)
	}
}

// BenchmarkDaemonSync1000: a repository of 1,000 objects (900 ConfigMaps, 100 Deployments)
// synced from scratch by the real binary ($BOLLARD_BIN) as a separate process: the time from the
// Release's creation until it is Synced, and the daemon's peak memory (VmHWM). Targets < 10 s,
// < 200 MiB.
func BenchmarkDaemonSync1000(b *testing.B) {
	bin := os.Getenv("BOLLARD_BIN")
	if bin == "" {
		b.Skip("set BOLLARD_BIN to a built bollard binary (make bench does)")
	}
	env := kubetest.Get(b)
	ctx := context.Background()
	env.InstallCRDs(b, "../../charts/bollard/crds/*.yaml")
	for b.Loop() {
		ns := env.Namespace(b)
		repo := newGitRepo(b)
		files := map[string]string{}
		for i := range 900 {
			files[fmt.Sprintf("config/cm-%03d.yaml", i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d\ndata: {n: %q}\n", i, strconv.Itoa(i))
		}
		for i := range 100 {
			files[fmt.Sprintf("apps/app-%03d.yaml", i)] = strings.ReplaceAll(fmt.Sprintf(webYAML, 1, "v1"), "web", fmt.Sprintf("app-%03d", i))
		}
		repo.commit(b, "1000 objects", files)
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		onboard(b, env, ns)
		// The test client learns the Release kind first (its discovery is not the daemon's time).
		if err := env.Client.List(ctx, &v1alpha1.ReleaseList{}, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "daemon", "--kubeconfig", daemonKubeconfig(b), "--namespace", daemonNamespace, "--default-service-account", releaseAccount,
			"--user", daemonUser, "--namespaces", ns, "--leader-elect=false",
			"--metrics-addr", "0", "--health-addr", "0", "--receiver-addr", addr, "--git-dir", filepath.Join(b.TempDir(), "git"), "--verify-images=false", "--git-schemes", strings.Join(testGitSchemes, ","))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		logFile, _ := os.Create(filepath.Join(b.TempDir(), "daemon.log"))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
		start := time.Now()
		if err := env.Client.Create(ctx, rel); err != nil {
			b.Fatal(err)
		}
		env.Eventually(b, 5*time.Minute, "1,000 objects synced", func(ctx context.Context) (bool, error) {
			var r v1alpha1.Release
			err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
			return err == nil && r.Status.Phase == "Synced", nil
		})
		took := time.Since(start)
		reportPeakRSS(b, cmd.Process.Pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		b.ReportMetric(took.Seconds(), "sync-s")
		// Leave nothing behind for the next benchmark: its 100 pods and 1,000 objects gone.
		b.StopTimer()
		removeNamespace(b, env, ns, 3*time.Minute)
		b.StartTimer()
	}
}

// reportPeakRSS reports the process's peak memory (VmHWM) as peak-MiB.
func reportPeakRSS(b *testing.B, pid int) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			b.ReportMetric(float64(kb)/1024, "peak-MiB")
		}
	}
}

// removeNamespace deletes a benchmark's namespace (its Releases let go, their daemon stopped) and
// waits until it is gone: the next benchmark starts on an empty fake node.
func removeNamespace(b *testing.B, env *kubetest.Env, ns string, timeout time.Duration) {
	dropFinalizers(env, ns)
	if err := env.Clientset.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	env.Eventually(b, timeout, "namespace "+ns+" deleted", func(ctx context.Context) (bool, error) {
		_, err := env.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
