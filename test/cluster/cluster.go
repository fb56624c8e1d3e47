// Package cluster starts and stops a real, local Kubernetes control plane on 127.0.0.1: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, whose fake Node runs Pods
// (they become Running and Ready without containers). Binaries come from build.sh beside this file.
package cluster

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
	podCIDR     = "10.244.0.0/16"

	// NodeName is the kwok-managed Node every Pod lands on.
	NodeName = "kwok-node-0"
	// ReadyDelayAnnotation on a Pod (template) delays its Ready condition by a duration such as
	// "2s"; "1h" makes a rollout that never becomes ready.
	ReadyDelayAnnotation = "pod-ready.stage.kwok.x-k8s.io/delay"

	stateFile = "state.json"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// Options say where the binaries are and where the cluster keeps its files.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok.
	BinDir string
	// Dir receives certificates, etcd data, logs, the admin kubeconfig and the state file.
	Dir string
	// Detach lets the components outlive the process that starts them (make cluster-up).
	Detach bool
	// Timeout bounds the whole start; zero means two minutes.
	Timeout time.Duration
	// RealNode adds the real-node lane (realnode.go): a kubelet with containerd beside kwok's node.
	// BinDir must then hold kubelet and kube-proxy (REAL_NODE=1 build.sh).
	RealNode bool
}

// Cluster is a started control plane. It is also the content of the state file.
type Cluster struct {
	Dir        string       `json:"dir"`
	BinDir     string       `json:"binDir"`
	Kubeconfig string       `json:"kubeconfig"`
	Server     string       `json:"server"`
	Components []*Component `json:"components"`
	// Node is the real node's host changes (nil without one).
	Node *RealNode `json:"node,omitempty"`
}

// Start brings up a new control plane in opts.Dir and returns once a Node is Ready and the
// default ServiceAccount exists. On failure everything it started is stopped again and the error
// carries the tail of the log of the component that failed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	bins := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
	if opts.RealNode {
		bins = append(bins, "kubelet", "kube-proxy")
	}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("binary %s missing in %s (run test/cluster/build.sh): %w", b, opts.BinDir, err)
		}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	// etcd data from an earlier start belongs to other certificates and service-account keys.
	for _, stale := range []string{"etcd", "pki", "logs", stateFile} {
		if err := os.RemoveAll(filepath.Join(dir, stale)); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, BinDir: opts.BinDir, Kubeconfig: filepath.Join(dir, "admin.kubeconfig"),
		Server: "https://127.0.0.1:" + strconv.Itoa(ports[2])}
	if opts.RealNode {
		ip, err := hostIP()
		if err != nil {
			return nil, err
		}
		if err := lockRealNode(dir); err != nil {
			return nil, err
		}
		c.Node = &RealNode{HostIP: ip}
	}
	if err := c.start(ctx, opts, ports); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, c.save()
}

func (c *Cluster) start(ctx context.Context, opts Options, ports []int) error {
	var extraIPs []net.IP
	if c.Node != nil {
		extraIPs = append(extraIPs, net.ParseIP(c.Node.HostIP))
	}
	p, err := newPKI(filepath.Join(c.Dir, "pki"), extraIPs...)
	if err != nil {
		return fmt.Errorf("make certificates: %w", err)
	}
	if err := writeKubeconfig(c.Kubeconfig, c.Server, p, "admin"); err != nil {
		return err
	}
	stages := filepath.Join(c.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	runBin := func(name, bin string, args ...string) (*Component, error) {
		comp, err := start(c.Dir, name, bin, args, opts.Detach)
		if err != nil {
			return nil, err
		}
		c.Components = append(c.Components, comp)
		return comp, nil
	}
	run := func(name string, args ...string) (*Component, error) {
		return runBin(name, filepath.Join(c.BinDir, name), args...)
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }

	etcdURL, peerURL := "http://"+addr(0), "http://"+addr(1)
	etcd, err := run("etcd", "--name", "default", "--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL, "--unsafe-no-fsync", "--log-level", "warn")
	if err != nil {
		return err
	}
	if err := waitFor(ctx, etcd, func() error { return httpOK(etcdURL + "/health") }); err != nil {
		return err
	}

	listen := []string{"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		// On loopback the default reconciler refuses: "cannot use public IP 127.0.0.1".
		"--endpoint-reconciler-type", "none"}
	if c.Node != nil {
		// The real node's pods reach the API server through the kubernetes Service (its endpoint
		// the machine's address); the API server reaches kubelet (logs, exec) by the node's
		// InternalIP with a client certificate, and webhook pods by their addresses.
		if err := p.issueClient("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"); err != nil {
			return err
		}
		listen = []string{"--bind-address", "0.0.0.0", "--advertise-address", c.Node.HostIP,
			"--kubelet-client-certificate", p.path("apiserver-kubelet-client.crt"), "--kubelet-client-key", p.path("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types", "InternalIP,Hostname", "--enable-aggregator-routing=true"}
	}
	apiserver, err := run("kube-apiserver", append(listen, "--etcd-servers", etcdURL, "--secure-port", strconv.Itoa(ports[2]),
		"--service-cluster-ip-range", serviceCIDR, "--allow-privileged=true",
		"--authorization-mode", "Node,RBAC", "--client-ca-file", p.path("ca.crt"),
		"--tls-cert-file", p.path("apiserver.crt"), "--tls-private-key-file", p.path("apiserver.key"),
		"--tls-min-version", "VersionTLS12",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p.path("sa.pub"), "--service-account-signing-key-file", p.path("sa.key"),
		"--cert-dir", p.dir, "--profiling="+strconv.FormatBool(os.Getenv("BOLLARD_APISERVER_PROFILING") == "1"))...)
	if err != nil {
		return err
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, apiserver, func() error {
		_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err
	}); err != nil {
		return err
	}

	kubeconfig := []string{"--kubeconfig", c.Kubeconfig,
		"--authentication-kubeconfig", c.Kubeconfig, "--authorization-kubeconfig", c.Kubeconfig,
		"--bind-address", "127.0.0.1", "--leader-elect=false"}
	if _, err := run("kube-controller-manager", append(kubeconfig, "--secure-port", strconv.Itoa(ports[3]),
		"--controllers", "*", "--use-service-account-credentials=true",
		// The default client rate (20/s per controller) paces 100 Deployments' ReplicaSets and
		// pods to ~20 s; production clusters raise it too.
		"--kube-api-qps", "100", "--kube-api-burst", "200",
		"--service-cluster-ip-range", serviceCIDR, "--cluster-cidr", podCIDR, "--allocate-node-cidrs=false",
		"--cluster-signing-cert-file", p.path("ca.crt"), "--cluster-signing-key-file", p.path("ca.key"),
		"--root-ca-file", p.path("ca.crt"), "--service-account-private-key-file", p.path("sa.key"))...); err != nil {
		return err
	}
	if _, err := run("kube-scheduler", append(kubeconfig, "--secure-port", strconv.Itoa(ports[4]))...); err != nil {
		return err
	}
	kwok, err := run("kwok", "--kubeconfig", c.Kubeconfig, "--config", stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds", "40", "--cidr", podCIDR, "--node-ip", "127.0.0.1",
		"--server-address", addr(5))
	if err != nil {
		return err
	}

	if err := createNode(ctx, client); err != nil {
		return err
	}
	if err := waitFor(ctx, kwok, func() error { return nodeReady(ctx, client, NodeName) }); err != nil {
		return err
	}
	if c.Node != nil {
		if err := c.save(); err != nil {
			return err
		}
		if err := c.startRealNode(ctx, p, client, runBin); err != nil {
			return fmt.Errorf("real node: %w", err)
		}
	}
	// Pods need their namespace's default ServiceAccount, which the controller-manager makes.
	return c.waitAll(ctx, func() error {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// createNode registers the fake Node that kwok manages: no taints, room for ordinary Deployments.
func createNode(ctx context.Context, client kubernetes.Interface) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		// Room for the parallel tests and the 100-Deployment benchmark at once (a fake node).
		corev1.ResourcePods: resource.MustParse("1000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok"},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// nodeReady says whether the Node name is Ready.
func nodeReady(ctx context.Context, client kubernetes.Interface, name string) error {
	node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return errors.New("node " + name + " is not Ready yet")
}

// waitFor polls check until it succeeds, failing early with the component's log when it exits.
func waitFor(ctx context.Context, comp *Component, check func() error) error {
	for {
		if !comp.Running() {
			return comp.crashed()
		}
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; last lines of %s:\n%s", comp.Name, err, comp.Log, tail(comp.Log, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitAll is waitFor over every component: any one of them crashing fails the wait.
func (c *Cluster) waitAll(ctx context.Context, check func() error) error {
	for {
		if err := c.Health(); err != nil {
			return err
		}
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Health reports every component that is no longer running, each with the tail of its log.
func (c *Cluster) Health() error {
	var errs []error
	for _, comp := range c.Components {
		if !comp.Running() {
			errs = append(errs, comp.crashed())
		}
	}
	return errors.Join(errs...)
}

// Stop stops every component, newest first, and waits until each is gone; with a real node, its
// pods are deleted first and the host changes undone last.
func (c *Cluster) Stop() error {
	var errs []error
	if c.Node != nil {
		errs = append(errs, c.drainRealNode())
	}
	for i := len(c.Components) - 1; i >= 0; i-- {
		errs = append(errs, c.Components[i].stop(10*time.Second))
	}
	if c.Node != nil {
		errs = append(errs, c.stopRealNode())
	}
	if err := os.Remove(filepath.Join(c.Dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Load reads the state file a detached Start left in dir. It returns os.ErrNotExist (wrapped)
// when no cluster was started there.
func Load(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var c Cluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &c, nil
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, stateFile), data, 0o644)
}

// Client returns a clientset with the admin credentials.
func (c *Cluster) Client() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// writeKubeconfig writes a self-contained kubeconfig at path for server, as the client
// certificate who.{crt,key} of p (certificates embedded).
func writeKubeconfig(path, server string, p *pki, who string) error {
	read := func(name string) ([]byte, error) { return os.ReadFile(p.path(name)) }
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	cert, err := read(who + ".crt")
	if err != nil {
		return err
	}
	key, err := read(who + ".key")
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bollard-test"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["bollard-"+who] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["bollard-test"] = &clientcmdapi.Context{Cluster: "bollard-test", AuthInfo: "bollard-" + who, Namespace: "default"}
	cfg.CurrentContext = "bollard-test"
	return clientcmd.WriteToFile(*cfg, path)
}

func httpOK(url string) error {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Describe is the human summary make cluster-up prints.
func (c *Cluster) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "API server  %s\nkubeconfig  %s\n", c.Server, c.Kubeconfig)
	if c.Node != nil {
		fmt.Fprintf(&b, "registry    %s (pods: %s)\n", c.Node.Registry, RegistryHost)
	}
	for _, comp := range c.Components {
		fmt.Fprintf(&b, "%-24s pid %-7d log %s\n", comp.Name, comp.PID, comp.Log)
	}
	return b.String()
}

// BinDir returns the folder with the cluster's binaries: $BOLLARD_CLUSTER_BIN when set, otherwise
// what build.sh (beside this file) prints after building whatever is missing from its cache.
func BinDir(ctx context.Context) (string, error) {
	if dir := os.Getenv("BOLLARD_CLUSTER_BIN"); dir != "" {
		return dir, nil
	}
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate test/cluster/build.sh; set BOLLARD_CLUSTER_BIN")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(filepath.Dir(self), "build.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build cluster binaries: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}
