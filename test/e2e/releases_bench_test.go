package e2e

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
)

// releaseFiles are app's 10 objects under its directory: a Deployment (one replica), a Service
// and 8 ConfigMaps.
func releaseFiles(app, version string) map[string]string {
	files := map[string]string{
		app + "/web.yaml": strings.ReplaceAll(fmt.Sprintf(webYAML, 1, version), "web", app),
		app + "/svc.yaml": fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: %s}\n  ports: [{port: 80, targetPort: 8080}]\n", app, app),
	}
	for i := range 8 {
		files[fmt.Sprintf("%s/cm-%d.yaml", app, i)] = fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s-cm-%d}\ndata: {n: %q}\n", app, i, strconv.Itoa(i))
	}
	return files
}

// BenchmarkDaemon1000Releases: 1,000 Releases of 10 objects each (a Deployment, a Service, 8
// ConfigMaps; 999 of them directories of one monorepo, one in a repository of its own) synced
// from scratch by the real binary, with the chart's RBAC, tuned as Flux's published benchmark is
// (--concurrency 20, --kube-api-qps 500, --kube-api-burst 1000). While they sync, a push to the
// lone repository is timed until its Deployment runs the new image. Reports the time until all
// are Synced (every Deployment healthy), the daemon's peak RSS, its API requests and the push.
// Targets: < 60 s, < 500 MiB, push < 2 s.
func BenchmarkDaemon1000Releases(b *testing.B) {
	bin := os.Getenv("BOLLARD_BIN")
	if bin == "" {
		b.Fatal("BOLLARD_BIN must name a built bollard binary (make bench sets it)")
	}
	const n = 1000
	env := kubetest.Get(b)
	ctx := context.Background()
	env.InstallCRDs(b, "../../charts/bollard/crds/*.yaml")
	for b.Loop() {
		b.StopTimer()
		ns := env.Namespace(b)
		onboard(b, env, ns)
		key := []byte("bench-" + ns)
		if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": key}}); err != nil {
			b.Fatal(err)
		}
		mono, lone := newGitRepo(b), newGitRepo(b)
		files := map[string]string{}
		for i := range n - 1 {
			for k, v := range releaseFiles(fmt.Sprintf("app-%03d", i), "v1") {
				files[k] = v
			}
		}
		mono.commit(b, "999 apps", files)
		lone.commit(b, "app-999", releaseFiles("app-999", "v1"))
		if err := env.Client.List(ctx, &v1alpha1.ReleaseList{}, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		addr, metrics, health := freeAddr(b), freeAddr(b), freeAddr(b)
		cmd := exec.Command(bin, "daemon", "--kubeconfig", daemonKubeconfig(b), "--namespace", daemonNamespace, "--default-service-account", releaseAccount,
			"--user", daemonUser, "--namespaces", ns, "--leader-elect=false", "--metrics-addr", metrics, "--health-addr", health,
			"--receiver-addr", addr, "--receiver-secret", receiverSecret(b, env, ns, "receiver"), "--git-dir", filepath.Join(b.TempDir(), "git"),
			"--verify-images=false", "--git-schemes", strings.Join(testGitSchemes, ","),
			"--concurrency", "20", "--kube-api-qps", "500", "--kube-api-burst", "1000", "--profiling")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		logFile, _ := os.Create(filepath.Join(cmp.Or(os.Getenv("BOLLARD_BENCH_LOGS"), b.TempDir()), "daemon-1000-releases.log"))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		d := &daemon{receiver: "http://" + addr + "/hooks/git"}
		if dir := os.Getenv("BOLLARD_BENCH_LOGS"); dir != "" { // a CPU profile of the first 30 s
			go func() {
				time.Sleep(5 * time.Second)
				saveProfile(http.DefaultClient, "http://"+metrics+"/debug/pprof/profile?seconds=30", filepath.Join(dir, "daemon-1000-releases.pprof"))
			}()
			go func() { // and of the API server's, the same 30 s
				time.Sleep(5 * time.Second)
				if hc, err := rest.HTTPClientFor(env.Config); err == nil {
					saveProfile(hc, env.Config.Host+"/debug/pprof/profile?seconds=30", filepath.Join(dir, "apiserver-1000-releases.pprof"))
				}
			}()
		}
		// The Releases come to a running daemon (created in order, the lone one first).
		env.Eventually(b, time.Minute, "the daemon ready", func(context.Context) (bool, error) {
			resp, err := http.Get("http://" + health + "/readyz")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		cpu0, lat0 := cpuTimes(), scrapeServerLatency(b, env.Config)
		b.StartTimer()
		start := time.Now()
		// The lone Release first: its push lands while the others still sync.
		for j := range n {
			i := (j + n - 1) % n
			url, path := mono.url(), fmt.Sprintf("app-%03d", i)
			if i == n-1 {
				url = lone.url()
			}
			rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: path},
				Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: url, Path: path}, Interval: metav1.Duration{Duration: time.Hour}}}
			if err := env.Client.Create(ctx, rel); err != nil {
				b.Fatal(err)
			}
		}
		// Phases from a watch: listing 1,000 Releases with their status twice a second would load
		// the API server the benchmark measures.
		var mu sync.Mutex
		phases := map[string]string{}
		wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
		if err != nil {
			b.Fatal(err)
		}
		wctx, stopWatch := context.WithCancel(ctx)
		w, err := wc.Watch(wctx, &v1alpha1.ReleaseList{}, client.InNamespace(ns))
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for ev := range w.ResultChan() {
				if r, ok := ev.Object.(*v1alpha1.Release); ok {
					mu.Lock()
					phases[r.Name] = r.Status.Phase
					mu.Unlock()
				}
			}
		}()
		synced := func() int {
			mu.Lock()
			defer mu.Unlock()
			c := 0
			for _, p := range phases {
				if p == "Synced" {
					c++
				}
			}
			return c
		}
		// The push, while most are still syncing: once the lone Release has applied v1, v2.
		var pushTook time.Duration
		env.Eventually(b, 2*time.Minute, "app-999 applied", func(context.Context) (bool, error) {
			var r v1alpha1.Release
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-999"}, &r)
			return err == nil && r.Status.ObservedRevision != "", nil
		})
		during := synced()
		rev := lone.commit(b, "app-999 v2", releaseFiles("app-999", "v2"))
		pushed := time.Now()
		if resp := d.push(b, lone, rev, key); resp.StatusCode != http.StatusAccepted {
			b.Fatalf("push: %s", resp.Status)
		}
		for {
			var dep appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-999"}, &dep); err == nil && dep.Spec.Template.Spec.Containers[0].Image == "registry.local/shop/app-999:v2" {
				pushTook = time.Since(pushed)
				break
			}
			if time.Since(pushed) > time.Minute {
				b.Fatal("the push was not applied in a minute")
			}
			time.Sleep(20 * time.Millisecond)
		}
		for synced() < n {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%d of %d Releases synced after 5 minutes", synced(), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		took := time.Since(start)
		reportCPU(cpu0, took)
		reportServerLatency(b, env.Config, lat0, took)
		w.Stop()
		stopWatch()
		reportPeakRSS(b, cmd.Process.Pid)
		reportReleaseSize(b, env, client.ObjectKey{Namespace: ns, Name: "app-500"})
		if dir := os.Getenv("BOLLARD_BENCH_LOGS"); dir != "" { // what the daemon allocated, the whole run
			saveProfile(http.DefaultClient, "http://"+metrics+"/debug/pprof/allocs", filepath.Join(dir, "daemon-1000-releases.allocs"))
		}
		requests := scrapeSum(b, "http://"+metrics+"/metrics", "bollard_kube_api_requests_total")
		scrapeSum(b, "http://"+metrics+"/metrics", "bollard_reconcile_stage_seconds_sum") // where the time went, logged
		scrapeSum(b, "http://"+metrics+"/metrics", "bollard_reconcile_stage_seconds_count")
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		b.ReportMetric(took.Seconds(), "all-synced-s")
		b.ReportMetric(float64(pushTook.Milliseconds()), "push-ms")
		b.ReportMetric(float64(during), "synced-at-push")
		b.ReportMetric(requests, "api-requests")
		b.StopTimer()
		removeNamespace(b, env, ns, 5*time.Minute)
		b.StartTimer()
	}
}

// scrapeSum is the sum of a Prometheus counter's series at url.
func scrapeSum(b *testing.B, url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sum, seen := 0.0, 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		seen++
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
			fmt.Println("    " + line) // by label (b.Log truncates a benchmark's output)
		}
	}
	if sum == 0 {
		b.Fatalf("%s: no %s in %d lines (status %s)", url, name, seen, resp.Status)
	}
	return sum
}

// reportReleaseSize prints how large a synced Release is as stored: every status write and watch
// event carries all of it.
func reportReleaseSize(b *testing.B, env *kubetest.Env, key client.ObjectKey) {
	var r v1alpha1.Release
	if err := env.Client.Get(context.Background(), key, &r); err != nil {
		b.Fatal(err)
	}
	all, _ := json.Marshal(&r)
	status, _ := json.Marshal(r.Status)
	managed, _ := json.Marshal(r.ManagedFields)
	fmt.Printf("    Release %s: %d bytes as JSON (status %d, managedFields %d)\n", key, len(all), len(status), len(managed))
	if dir := os.Getenv("BOLLARD_BENCH_LOGS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "release.json"), all, 0o644)
	}
}

// saveProfile writes what url answers (a pprof profile) to path; a profile that cannot be had is
// left out (the benchmark's figures do not depend on it).
func saveProfile(hc *http.Client, url, path string) {
	resp, err := hc.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}
