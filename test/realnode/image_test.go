package realnode

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"bollard.dev/bollard/test/cluster"
	"bollard.dev/bollard/test/kubetest"
)

// TestBollardImageRuns: the image make image builds (static, non-root, signed) runs on the real
// node as the chart runs it — non-root, read-only root filesystem, no capabilities — pulled by
// digest from the cluster's registry.
func TestBollardImageRuns(t *testing.T) {
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	_, ref, _ := madeImage(t, env)
	// Pods name the registry registry.local.
	image := cluster.RegistryHost + strings.TrimPrefix(ref, env.Registry(t))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bollard"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "bollard", Image: image, Args: []string{"version"},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}
	onRealNode(&pod.Spec)
	if _, err := env.Clientset.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, time.Minute, "the bollard pod succeeded", func(ctx context.Context) (bool, error) {
		p, err := env.Clientset.CoreV1().Pods(ns).Get(ctx, "bollard", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed {
			t.Fatalf("the bollard pod failed: %+v\n%s", p.Status.ContainerStatuses, podLog(t, env, ns, "bollard"))
		}
		return p.Status.Phase == corev1.PodSucceeded, nil
	})
	if log := podLog(t, env, ns, "bollard"); !strings.Contains(log, "v0.0.1-realnode") {
		t.Errorf("bollard version in the pod: %q", log)
	}
}
