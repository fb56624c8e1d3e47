// Package kubetest gives tests a real Kubernetes API server: one local control plane per test
// process (started in TestMain through Main, or an existing one named by $BOLLARD_TEST_KUBECONFIG),
// a namespace of their own per test, clients, and webhook registration that waits until the API
// server actually calls the webhook.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"bollard.dev/bollard/api"
	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/cluster"
)

// Env is the cluster a test process shares. Its Client knows bollard's API types.
type Env struct {
	Kubeconfig string
	Config     *rest.Config
	Client     client.Client
	Clientset  kubernetes.Interface

	cluster *cluster.Cluster // nil when the cluster belongs to someone else
}

var (
	shared   *Env
	realNode bool
)

// Main is TestMain for packages that need the cluster: it starts a private control plane (or
// uses $BOLLARD_TEST_KUBECONFIG), runs the tests and stops whatever it started.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// MainRealNode is Main with the real-node lane (cluster.RealNodeName beside kwok's node): for
// the packages whose tests run real containers. One real node per machine: a second process
// asking for one waits for the first to finish (test/cluster's lock).
func MainRealNode(m *testing.M) {
	realNode = true
	os.Setenv("REAL_NODE", "1") // build.sh builds kubelet and kube-proxy too
	os.Exit(run(m))
}

// Registry is the real node's local registry (10.88.0.1:PORT on its bridge, reachable from the
// machine and from pods; containerd also pulls it as cluster.RegistryHost).
func (e *Env) Registry(t testing.TB) string {
	t.Helper()
	if e.cluster == nil || e.cluster.Node == nil {
		t.Fatal("kubetest: no real node; call kubetest.MainRealNode(m) from TestMain")
	}
	return e.cluster.Node.Registry
}

func run(m *testing.M) int {
	ctx := context.Background()
	// controller-runtime's own logs (the gate's cache) are not the tests' business.
	ctrllog.SetLogger(logr.Discard())
	env, stop, err := setUp(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubetest: cannot start the test cluster:", err)
		return 1
	}
	defer stop()
	shared = env
	return m.Run()
}

func setUp(ctx context.Context) (*Env, func(), error) {
	if kubeconfig := os.Getenv("BOLLARD_TEST_KUBECONFIG"); kubeconfig != "" {
		env, err := newEnv(kubeconfig)
		return env, func() {}, err
	}
	bin, err := cluster.BinDir(ctx)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "bollard-cluster-")
	if err != nil {
		return nil, nil, err
	}
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: bin, Dir: dir, RealNode: realNode})
	// Another process's real node: wait for it to go (at most 15 minutes).
	for waited := time.Duration(0); realNode && err != nil && strings.Contains(err.Error(), "one at a time") && waited < 15*time.Minute; waited += 2 * time.Second {
		time.Sleep(2 * time.Second)
		c, err = cluster.Start(ctx, cluster.Options{BinDir: bin, Dir: dir, RealNode: realNode})
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "kubetest: cluster up in %s at %s\n", time.Since(started).Round(time.Millisecond), c.Server)
	stop := func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest: stop cluster:", err)
		}
		_ = os.RemoveAll(dir)
	}
	env, err := newEnv(c.Kubeconfig)
	if err != nil {
		stop()
		return nil, nil, err
	}
	env.cluster = c
	return env, stop, nil
}

func newEnv(kubeconfig string) (*Env, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	c, err := client.New(cfg, client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Env{Kubeconfig: kubeconfig, Config: cfg, Client: c, Clientset: cs}, nil
}

// Get returns the shared environment; the package's TestMain must call Main.
func Get(t testing.TB) *Env {
	t.Helper()
	if shared == nil {
		t.Fatal("kubetest: no cluster; call kubetest.Main(m) from TestMain")
	}
	return shared
}

// Dir is a directory of the test process, removed with its cluster when the process ends: for
// what the process's tests share (bollard's image, built once).
func (e *Env) Dir(t testing.TB) string {
	t.Helper()
	if e.cluster == nil {
		t.Fatal("kubetest: the cluster belongs to someone else ($BOLLARD_TEST_KUBECONFIG): no process directory")
	}
	return e.cluster.Dir
}

// Namespace creates a namespace for this test alone, ready for Pods (its default ServiceAccount
// exists), and deletes it when the test ends. When the test fails, the cluster's health (any
// crashed component with its log) is reported too.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	ns, err := e.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: namePrefix(t.Name())},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && e.cluster != nil {
			if err := e.cluster.Health(); err != nil {
				t.Logf("the test cluster is unhealthy:\n%v", err)
			}
		}
		if os.Getenv("BOLLARD_KEEP_NAMESPACES") != "" {
			return
		}
		if err := e.Clientset.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Logf("delete namespace %s: %v", ns.Name, err)
		}
	})
	e.Eventually(t, 30*time.Second, "default ServiceAccount in "+ns.Name, func(ctx context.Context) (bool, error) {
		_, err := e.Clientset.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return ns.Name
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// namePrefix turns a test name into a GenerateName prefix: "TestRollout/slow" → "testrollout-slow-".
func namePrefix(testName string) string {
	name := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	return name + "-"
}

// Eventually polls cond every 50 ms until it is true, failing the test with what it waited for
// and the last error when timeout passes first.
func (e *Env) Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true,
		func(ctx context.Context) (bool, error) {
			ok, err := cond(ctx)
			if err != nil {
				last = err
				return false, nil
			}
			return ok, nil
		})
	if err != nil {
		t.Fatalf("waited %s for %s; last error: %v", timeout, what, last)
	}
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }

// Logs are rel's Deployment Logs, newest first: its DeploymentRecords and what its status holds
// that no record does yet (the change under way).
func (e *Env) Logs(t testing.TB, rel *v1alpha1.Release) []v1alpha1.DeploymentLog {
	t.Helper()
	var records v1alpha1.DeploymentRecordList
	if err := e.Client.List(context.Background(), &records, client.InNamespace(rel.Namespace),
		client.MatchingLabels{reconciler.LabelRecordReleaseUID: string(rel.UID)}); err != nil {
		t.Fatalf("DeploymentRecords of %s/%s: %v", rel.Namespace, rel.Name, err)
	}
	return reconciler.MergeLogs(records.Items, rel.Status.History)
}

// LatestLog is rel's newest Deployment Log; a test without one fails.
func (e *Env) LatestLog(t testing.TB, rel *v1alpha1.Release) v1alpha1.DeploymentLog {
	t.Helper()
	l, ok, err := reconciler.LatestLog(context.Background(), e.Client, rel)
	if err != nil || !ok {
		t.Fatalf("the newest Deployment Log of %s/%s: none (%v)", rel.Namespace, rel.Name, err)
	}
	return l
}
