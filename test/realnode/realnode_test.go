// Package realnode tests the real-node lane of the local test cluster: a real kubelet with
// containerd and runc beside kwok's fake node, pods running real containers from images built
// here and pulled from the cluster's local registry, kube-proxy routing Services, and pod traffic
// that never leaves the machine.
package realnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"bollard.dev/bollard/test/cluster"
	"bollard.dev/bollard/test/kubetest"
)

func TestMain(m *testing.M) { kubetest.MainRealNode(m) }

// pushStatic builds the Go command in pkg (static, linux/amd64) into an image and pushes it to the
// real node's registry as repo:tag; pods name it registry.local/repo:tag.
func pushStatic(t testing.TB, env *kubetest.Env, pkg, repo, tag string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), repo)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	img, err := cluster.StaticImage(bin, "/"+repo)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(env.Registry(t) + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return cluster.RegistryHost + "/" + repo + ":" + tag
}

// onRealNode makes a pod template land on the real node.
func onRealNode(spec *corev1.PodSpec) {
	spec.NodeSelector = map[string]string{cluster.RealNodeLabel: "true"}
	spec.Tolerations = []corev1.Toleration{{Key: cluster.RealNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
}

// TestRealPods: a Deployment of a real HTTP server (the demo's fake app, built here) runs on the
// real node — pulled from the local registry, Ready by an HTTP probe kubelet sends — and answers
// through its pods' addresses and through its Service's ClusterIP (kube-proxy's rules), from the
// machine and from another pod; its log is read through the API server from kubelet.
func TestRealPods(t *testing.T) {
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	image := pushStatic(t, env, "bollard.dev/bollard/hack/fakeapp", "fakeapp", "v1")
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: image, Args: []string{":8080", "v1=1:0"},
					Ports:          []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/metrics", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	onRealNode(&dep.Spec.Template.Spec)
	started := time.Now()
	if _, err := env.Clientset.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := env.Clientset.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "2 real pods Ready", func(ctx context.Context) (bool, error) {
		d, err := env.Clientset.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2, nil
	})
	t.Logf("2 real pods Ready %s after the Deployment was created", time.Since(started).Round(10*time.Millisecond))
	pods, err := env.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) (string, error) {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != cluster.RealNodeName || !strings.HasPrefix(p.Status.PodIP, "10.88.0.") {
			t.Errorf("pod %s on %s at %s, want the real node's bridge", p.Name, p.Spec.NodeName, p.Status.PodIP)
		}
		if body, err := get("http://" + p.Status.PodIP + ":8080/metrics"); err != nil || !strings.Contains(body, "v1") {
			t.Errorf("pod %s: %v %q", p.Name, err, body)
		}
	}
	env.Eventually(t, 30*time.Second, "the Service answers on its ClusterIP", func(context.Context) (bool, error) {
		_, err := get("http://" + svc.Spec.ClusterIP + "/metrics")
		return err == nil, nil
	})

	// From another pod, through the ClusterIP.
	probe := pushStatic(t, env, "bollard.dev/bollard/test/realnode/probe", "probe", "v1")
	runProbe(t, env, ns, "from-pod", probe, "http://"+svc.Spec.ClusterIP+"/metrics")
	waitLog(t, env, ns, "from-pod", "http://"+svc.Spec.ClusterIP+"/metrics OK 200")
}

// TestPodTrafficStaysOnMachine: a pod has no route off the machine, and a Service whose endpoint
// is outside it (the one way a pod could still get traffic routed out) is dropped at the bridge;
// the drop rule's counter proves where.
func TestPodTrafficStaysOnMachine(t *testing.T) {
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	// A Service without selector, its endpoint an address outside the machine (TEST-NET-3).
	svc, err := env.Clientset.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "outside"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clientset.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "outside-1", Labels: map[string]string{discoveryv1.LabelServiceName: "outside"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"203.0.113.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := dropped(t)
	probe := pushStatic(t, env, "bollard.dev/bollard/test/realnode/probe", "probe", "v1")
	time.Sleep(2 * time.Second) // kube-proxy's rules for the new Service (it syncs within a second)
	runProbe(t, env, ns, "egress", probe, "http://"+svc.Spec.ClusterIP+"/", "http://203.0.113.10/", "http://192.0.2.1/")
	waitLog(t, env, ns, "egress", "http://192.0.2.1/ FAIL")
	logs := podLog(t, env, ns, "egress")
	for _, url := range []string{"http://" + svc.Spec.ClusterIP + "/", "http://203.0.113.10/", "http://192.0.2.1/"} {
		if !strings.Contains(logs, url+" FAIL") {
			t.Errorf("a pod reached %s:\n%s", url, logs)
		}
	}
	if after := dropped(t); after <= before {
		t.Errorf("the bridge's drop rule counted %d packets before, %d after: the Service's traffic was not dropped there", before, after)
	}
}

// dropped is the packet count of the mangle rule that drops forwarding off the bridge.
func dropped(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "mangle", "-L", "FORWARD", "-v", "-x", "-n").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == "DROP" && strings.Contains(line, "bollard0") && strings.Contains(line, "!bollard0") {
			if v, err := strconv.Atoi(f[0]); err == nil {
				n += v
			}
		}
	}
	return n
}

func runProbe(t testing.TB, env *kubetest.Env, ns, podName, image string, urls ...string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: image, Args: urls}}}}
	onRealNode(&pod.Spec)
	if _, err := env.Clientset.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func podLog(t testing.TB, env *kubetest.Env, ns, podName string) string {
	b, err := env.Clientset.CoreV1().Pods(ns).GetLogs(podName, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		return ""
	}
	return string(b)
}

func waitLog(t testing.TB, env *kubetest.Env, ns, podName, want string) {
	t.Helper()
	env.Eventually(t, time.Minute, fmt.Sprintf("%q in pod %s's log", want, podName), func(context.Context) (bool, error) {
		return bytes.Contains([]byte(podLog(t, env, ns, podName)), []byte(want)), nil
	})
}
