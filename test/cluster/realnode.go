package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The real-node lane (Options.RealNode): beside kwok's fake node, one real kubelet on this
// machine — Debian's containerd and runc, the CNI bridge plugins, kube-proxy in iptables mode —
// whose pods run real containers from images in a local registry (Debian's docker-registry).
// Pods get addresses on a bridge of their own with no default route; forwarding off the bridge
// is dropped, so pod traffic never leaves the machine. Every host change is recorded and undone
// by Stop. One real node per machine at a time (a lock).
const (
	// RealNodeName is the real node. It is tainted RealNodeTaint (NoSchedule) and labelled
	// RealNodeLabel=true: only pods that ask land there.
	RealNodeName  = "bollard-node-0"
	RealNodeTaint = "bollard.dev/real-node"
	RealNodeLabel = "bollard.dev/real-node"
	// RegistryHost is the image host pods of the real node name ("registry.local/…"): the
	// cluster's local registry.
	RegistryHost = "registry.local"
	// PauseImage is the sandbox image, built from test/cluster/pause.
	PauseImage = RegistryHost + "/pause:3.10"

	bridgeName  = "bollard0"
	bridgeCIDR  = "10.88.0.0/24"
	bridgeIP    = "10.88.0.1"
	cgroupRoot  = "/bollard-node"
	lockFile    = "/run/bollard-real-node.lock"
	kubeletPort = 10250
)

// hostSysctls are what kubelet, the bridge plugin and kube-proxy change on the host: saved
// before the node starts, restored when it stops.
var hostSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops", "net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"}

// RealNode is what the real node changed on the host (kept in the state file for Stop).
type RealNode struct {
	HostIP   string            `json:"hostIP"`
	Registry string            `json:"registry"` // 10.88.0.1:PORT, on the bridge
	Sysctls  map[string]string `json:"sysctls"`
	Rules    [][]string        `json:"rules"` // iptables rules inserted: table, chain, rule spec
	Routes   [][]string        `json:"routes"`
}

// hostIP is the machine's first global IPv4 address: kubelet's node IP may not be loopback.
func hostIP() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, bridgeName) {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errors.New("no global IPv4 address on this machine for the real node")
}

// RealNodeTools are the host commands the lane needs (Debian: containerd runc
// containernetworking-plugins iptables conntrack docker-registry).
var RealNodeTools = []string{"containerd", "runc", "iptables", "ip", "docker-registry", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap"}

func checkTools() error {
	var missing []string
	for _, t := range RealNodeTools {
		if strings.HasPrefix(t, "/") {
			if _, err := os.Stat(t); err != nil {
				missing = append(missing, t)
			}
		} else if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real node needs %s (apt-get install containerd runc containernetworking-plugins iptables conntrack docker-registry iproute2)", strings.Join(missing, ", "))
	}
	return nil
}

// lockRealNode takes the machine's real-node lock for dir: refused while another cluster's real
// node runs (its recorded containerd is alive).
func lockRealNode(dir string) error {
	f, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck
	b, _ := os.ReadFile(lockFile)
	if owner := strings.TrimSpace(string(b)); owner != "" && owner != dir {
		if other, err := Load(owner); err == nil && other.Node != nil && other.Health() == nil {
			return fmt.Errorf("a real node of the cluster in %s runs on this machine: one at a time", owner)
		}
	}
	return os.WriteFile(lockFile, []byte(dir+"\n"), 0o644)
}

func unlockRealNode(dir string) {
	if b, _ := os.ReadFile(lockFile); strings.TrimSpace(string(b)) == dir {
		_ = os.Remove(lockFile)
	}
}

func sh(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startRealNode changes the host (sysctls, bridge, routes, drop rules, cgroup root), then brings
// up the registry, containerd, kubelet and kube-proxy; run starts a component.
func (c *Cluster) startRealNode(ctx context.Context, p *pki, client kubernetes.Interface, run func(string, string, ...string) (*Component, error)) error {
	if err := checkTools(); err != nil {
		return err
	}
	n := c.Node
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	// Host state: sysctls saved, the bridge and its routes, forwarding off the bridge dropped.
	n.Sysctls = map[string]string{}
	for _, s := range hostSysctls {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			n.Sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	if err := c.save(); err != nil {
		return err
	}
	for _, s := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/bridge/bridge-nf-call-iptables", "1"}} {
		if err := os.WriteFile("/proc/sys/"+s[0], []byte(s[1]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", s[0], err)
		}
	}
	if err := sh("ip", "link", "add", bridgeName, "type", "bridge"); err != nil && !strings.Contains(err.Error(), "exists") {
		return err
	}
	for _, cmd := range [][]string{{"addr", "replace", bridgeIP + "/24", "dev", bridgeName}, {"link", "set", bridgeName, "up"}} {
		if err := sh("ip", cmd...); err != nil {
			return err
		}
	}
	// A ClusterIP without rules dies on the bridge; kwok's fake pod addresses go nowhere.
	for _, r := range [][]string{{"replace", serviceCIDR, "dev", bridgeName}, {"replace", "blackhole", podCIDR}} {
		if err := sh("ip", append([]string{"route"}, r...)...); err != nil {
			return err
		}
		n.Routes = append(n.Routes, r)
	}
	for _, r := range [][]string{
		{"mangle", "FORWARD", "-i", bridgeName, "!", "-o", bridgeName, "-j", "DROP", "-m", "comment", "--comment", "bollard: pod traffic stays on the machine"},
		{"mangle", "FORWARD", "-o", bridgeName, "!", "-i", bridgeName, "-j", "DROP", "-m", "comment", "--comment", "bollard: pod traffic stays on the machine"},
	} {
		if err := sh("iptables", append([]string{"-w", "-t", r[0], "-I", r[1]}, r[2:]...)...); err != nil {
			return err
		}
		n.Rules = append(n.Rules, r)
	}
	if err := c.save(); err != nil {
		return err
	}
	// cgroupRoot must exist in every v1 hierarchy (cpuset needs its cpus and mems).
	if err := makeCgroupRoot(); err != nil {
		return err
	}

	// The registry, on the bridge's address: containerd pulls from it (as registry.local/… and
	// 10.88.0.1:PORT/…), and pods reach it too (the gate verifies signatures there).
	n.Registry = bridgeIP + ":" + strconv.Itoa(ports[0])
	regDir := filepath.Join(c.Dir, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		return err
	}
	regConfig := filepath.Join(regDir, "config.yml")
	if err := os.WriteFile(regConfig, fmt.Appendf(nil, "version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp:\n  addr: %s\n", filepath.Join(regDir, "data"), n.Registry), 0o644); err != nil {
		return err
	}
	reg, err := run("registry", mustLook("docker-registry"), "serve", regConfig)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, reg, func() error { return httpOK("http://" + n.Registry + "/v2/") }); err != nil {
		return err
	}
	if err := c.pushPause(ctx); err != nil {
		return fmt.Errorf("pause image: %w", err)
	}

	// Identities: the node and kube-proxy.
	nodeDir := filepath.Join(c.Dir, "node")
	for _, d := range []string{"cni/net.d", "cni/ipam", "kubelet"} {
		if err := os.MkdirAll(filepath.Join(nodeDir, d), 0o755); err != nil {
			return err
		}
	}
	if err := p.issueClient("node", "system:node:"+RealNodeName, "system:nodes"); err != nil {
		return err
	}
	if err := p.issueClient("kube-proxy", "system:kube-proxy", ""); err != nil {
		return err
	}
	nodeKubeconfig, proxyKubeconfig := filepath.Join(nodeDir, "kubelet.kubeconfig"), filepath.Join(nodeDir, "kube-proxy.kubeconfig")
	server := "https://" + n.HostIP + ":" + c.Server[strings.LastIndex(c.Server, ":")+1:]
	for f, who := range map[string]string{nodeKubeconfig: "node", proxyKubeconfig: "kube-proxy"} {
		if err := writeKubeconfig(f, server, p, who); err != nil {
			return err
		}
	}

	// containerd: its own socket, root and state; registry.local and the registry's bridge
	// address pulled over plain HTTP from the local registry.
	sock := filepath.Join(nodeDir, "containerd", "containerd.sock")
	for _, host := range []string{RegistryHost, n.Registry} {
		d := filepath.Join(nodeDir, "containerd", "certs.d", host)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), fmt.Appendf(nil, "server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+n.Registry, "http://"+n.Registry), 0o644); err != nil {
			return err
		}
	}
	ctrdConfig := filepath.Join(nodeDir, "containerd", "config.toml")
	if err := os.WriteFile(ctrdConfig, fmt.Appendf(nil, containerdConfig, filepath.Join(nodeDir, "containerd", "root"), filepath.Join(nodeDir, "containerd", "state"), sock,
		PauseImage, filepath.Join(nodeDir, "cni", "net.d"), filepath.Join(nodeDir, "containerd", "certs.d")), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(nodeDir, "cni", "net.d", "10-bollard.conflist"), fmt.Appendf(nil, cniConfig, bridgeName, bridgeCIDR, serviceCIDR, filepath.Join(nodeDir, "cni", "ipam")), 0o644); err != nil {
		return err
	}
	ctrd, err := run("containerd", mustLook("containerd"), "--config", ctrdConfig)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, ctrd, func() error {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			conn.Close()
		}
		return err
	}); err != nil {
		return err
	}

	// kubelet.
	resolv := filepath.Join(nodeDir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("# no nameserver: pods reach Services by address\n"), 0o644); err != nil {
		return err
	}
	kubeletConfig := filepath.Join(nodeDir, "kubelet", "config.yaml")
	if err := os.WriteFile(kubeletConfig, fmt.Appendf(nil, kubeletConfigTmpl, p.path("ca.crt"), ports[1], cgroupRoot, resolv, "unix://"+sock, RealNodeTaint, kubeletPort), 0o644); err != nil {
		return err
	}
	kubelet, err := run("kubelet", filepath.Join(c.BinDir, "kubelet"), "--config", kubeletConfig, "--kubeconfig", nodeKubeconfig,
		"--hostname-override", RealNodeName, "--node-ip", n.HostIP, "--node-labels", RealNodeLabel+"=true",
		"--root-dir", filepath.Join(nodeDir, "kubelet"), "--cert-dir", filepath.Join(nodeDir, "kubelet", "pki"), "--v", "1")
	if err != nil {
		return err
	}
	if err := waitFor(ctx, kubelet, func() error { return nodeReady(ctx, client, RealNodeName) }); err != nil {
		return err
	}

	// kube-proxy (iptables), leaving conntrack sysctls alone.
	proxyConfig := filepath.Join(nodeDir, "kube-proxy.yaml")
	if err := os.WriteFile(proxyConfig, fmt.Appendf(nil, kubeProxyConfigTmpl, proxyKubeconfig, bridgeCIDR, RealNodeName, ports[2], ports[3]), 0o644); err != nil {
		return err
	}
	proxy, err := run("kube-proxy", filepath.Join(c.BinDir, "kube-proxy"), "--config", proxyConfig)
	if err != nil {
		return err
	}
	return waitFor(ctx, proxy, func() error { return httpOK("http://127.0.0.1:" + strconv.Itoa(ports[3]) + "/healthz") })
}

func mustLook(bin string) string {
	p, err := exec.LookPath(bin)
	if err != nil {
		return bin
	}
	return p
}

func makeCgroupRoot() error {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	for _, e := range entries {
		base := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
			continue // not a hierarchy
		}
		d := base + cgroupRoot
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cgroup %s: %w", d, err)
		}
		if e.Name() == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(base, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// removeCgroupRoot kills what still runs in cgroupRoot — containers outlive containerd and their
// shims (runc's processes are reparented, not killed): pods a controller re-created while the
// node was drained — then removes cgroupRoot and what kubelet made under it, deepest first.
func removeCgroupRoot() error {
	var errs []error
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var roots []string
	for _, e := range entries {
		roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name())+cgroupRoot)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		left := 0
		for _, root := range roots {
			_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
					return nil
				}
				procs, _ := os.ReadFile(path)
				for _, f := range strings.Fields(string(procs)) {
					if pid, err := strconv.Atoi(f); err == nil {
						left++
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				return nil
			})
		}
		if left == 0 {
			break
		}
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// pushPause builds test/cluster/pause (static) into an image and pushes it as PauseImage.
func (c *Cluster) pushPause(ctx context.Context) error {
	bin := filepath.Join(c.Dir, "node", "pause")
	src := filepath.Join(sourceDir(), "pause")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Dir, cmd.Env = src, append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build pause: %v: %s", err, out)
	}
	ref, err := name.ParseReference(c.Node.Registry + "/pause:3.10")
	if err != nil {
		return err
	}
	img, err := StaticImage(bin, "/pause")
	if err != nil {
		return err
	}
	return remote.Write(ref, img, remote.WithContext(ctx))
}

// StaticImage is a one-layer linux/amd64 image holding the static binary bin at path, its
// entrypoint (containerd refuses an image whose config lacks os and architecture).
func StaticImage(bin, path string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: 0o555, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Entrypoint = []string{path}
	return mutate.ConfigFile(img, cfg)
}

// stopRealNode undoes what startRealNode did to the host (the components are stopped by Stop
// before): kube-proxy's and kubelet's iptables chains, mounts and network namespaces, the
// bridge, routes and rules, sysctls and cgroups.
func (c *Cluster) stopRealNode() error {
	n := c.Node
	var errs []error
	if kp := filepath.Join(c.BinDir, "kube-proxy"); fileExists(kp) {
		_ = exec.Command(kp, "--cleanup").Run()
	}
	// Shims left by containerd (their containers are killed with the cgroups, below).
	for _, pid := range shims() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	nodeDir := filepath.Join(c.Dir, "node")
	errs = append(errs, unmountUnder(nodeDir))
	netns, _ := filepath.Glob("/var/run/netns/cni-*")
	for _, f := range netns {
		_ = syscall.Unmount(f, syscall.MNT_DETACH)
		_ = os.Remove(f)
	}
	for _, r := range n.Rules {
		if err := sh("iptables", append([]string{"-w", "-t", r[0], "-D", r[1]}, r[2:]...)...); err != nil {
			errs = append(errs, err)
		}
	}
	for _, chain := range []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"} {
		for _, ipt := range []string{"iptables", "ip6tables"} {
			for _, table := range []string{"filter", "mangle", "nat"} {
				for _, parent := range []string{"INPUT", "OUTPUT", "FORWARD"} {
					for exec.Command(ipt, "-w", "-t", table, "-D", parent, "-j", chain).Run() == nil {
					}
				}
				_ = exec.Command(ipt, "-w", "-t", table, "-F", chain).Run()
				_ = exec.Command(ipt, "-w", "-t", table, "-X", chain).Run()
			}
		}
	}
	for _, r := range n.Routes {
		args := append([]string{"route", "del"}, r[1:]...)
		if err := sh("ip", args...); err != nil && !strings.Contains(err.Error(), "No such process") {
			errs = append(errs, err)
		}
	}
	if err := sh("ip", "link", "del", bridgeName); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
		errs = append(errs, err)
	}
	// CNI's leftover veths go with their namespaces; the bridge's with it.
	for s, v := range n.Sysctls {
		if err := os.WriteFile("/proc/sys/"+s, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s: %w", s, err))
		}
	}
	errs = append(errs, removeCgroupRoot())
	links, _ := filepath.Glob("/var/log/containers/*")
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && strings.HasPrefix(t, filepath.Join(nodeDir, "kubelet")) {
			_ = os.Remove(l)
		}
	}
	unlockRealNode(c.Dir)
	return errors.Join(errs...)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// unmountUnder unmounts every mount below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// issueClient writes NAME.crt/key: a client certificate for cn in org.
func (p *pki) issueClient(name, cn, org string) error {
	s := pkix.Name{CommonName: cn}
	if org != "" {
		s.Organization = []string{org}
	}
	return p.issue(name, &x509.Certificate{Subject: s, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// sourceDir is this package's folder (pause's source is beside it).
func sourceDir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Dir(self)
}

const containerdConfig = `version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`

const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "bollard",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": %q}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

const kubeletConfigTmpl = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
oomScoreAdj: 0
cgroupDriver: cgroupfs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
cgroupRoot: %q
failSwapOn: false
resolvConf: %q
containerRuntimeEndpoint: %q
registerWithTaints:
- {key: %q, effect: NoSchedule}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
serializeImagePulls: false
maxPods: 40
port: %d
`

const kubeProxyConfigTmpl = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: iptables
clusterCIDR: %q
hostnameOverride: %q
metricsBindAddress: 127.0.0.1:%d
healthzBindAddress: 127.0.0.1:%d
conntrack: {maxPerCore: 0, min: 0}
`

// drainRealNode deletes the real node's pods (no grace) and waits up to 20 s for kubelet to
// remove their containers, so nothing is left running under it.
func (c *Cluster) drainRealNode() error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + RealNodeName})
	if err != nil {
		return nil // the API server is gone already: the teardown kills what is left
	}
	zero := int64(0)
	for _, pod := range list.Items {
		_ = client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
	for ctx.Err() == nil && len(shims()) > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// shims are the PIDs of containerd's runc shims for Kubernetes' containers.
func shims() []int {
	out, _ := exec.Command("pgrep", "-f", "containerd-shim-runc-v2 -namespace k8s.io").Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
