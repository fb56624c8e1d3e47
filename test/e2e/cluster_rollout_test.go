package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/test/cluster"
	"bollard.dev/bollard/test/kubetest"
)

// These tests prove the harness the rest of bollard is tested on: the local control plane runs
// Deployments like a real cluster does, rolling updates included, and stuck rollouts fail the
// way Kubernetes reports them.

func deployment(namespace, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
		},
	}
}

// rolledOut is kubectl rollout status's test: the controller saw the latest spec and every
// replica is updated and available, with no old ones left.
func rolledOut(d *appsv1.Deployment) error {
	s, want := d.Status, *d.Spec.Replicas
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.Replicas != want || s.AvailableReplicas != want {
		return fmt.Errorf("generation %d/%d, updated %d, total %d, available %d of %d",
			s.ObservedGeneration, d.Generation, s.UpdatedReplicas, s.Replicas, s.AvailableReplicas, want)
	}
	return nil
}

func waitRolledOut(t *testing.T, env *kubetest.Env, key client.ObjectKey) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	env.Eventually(t, 60*time.Second, "deployment "+key.String()+" to roll out", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, key, &d); err != nil {
			return false, err
		}
		err := rolledOut(&d)
		return err == nil, err
	})
	return &d
}

// runningImages counts the images of the web pods that are not being deleted; a pod that is not
// Running on the kwok node is an error.
func runningImages(ctx context.Context, env *kubetest.Env, namespace string) (map[string]int, error) {
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"app": "web"}); err != nil {
		return nil, err
	}
	images := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName != cluster.NodeName || p.Status.Phase != corev1.PodRunning {
			return nil, fmt.Errorf("pod %s: node %q, phase %s; want Running on %s", p.Name, p.Spec.NodeName, p.Status.Phase, cluster.NodeName)
		}
		images[p.Spec.Containers[0].Image]++
	}
	return images, nil
}

// waitImages waits until exactly want.count pods run want.image and no other image runs.
func waitImages(t *testing.T, env *kubetest.Env, namespace, image string, count int) {
	t.Helper()
	env.Eventually(t, 30*time.Second, fmt.Sprintf("%d pods running %s only", count, image), func(ctx context.Context) (bool, error) {
		got, err := runningImages(ctx, env, namespace)
		if err != nil {
			return false, err
		}
		if got[image] != count || len(got) != 1 {
			return false, fmt.Errorf("pods per image: %v", got)
		}
		return true, nil
	})
}

func TestDeploymentRollingUpdate(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	d := deployment(ns, "registry.local/web:v1", 3)
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	d = waitRolledOut(t, env, client.ObjectKeyFromObject(d))
	if !hasCondition(d, appsv1.DeploymentAvailable, "MinimumReplicasAvailable") {
		t.Errorf("deployment not Available: %+v", d.Status.Conditions)
	}
	waitImages(t, env, ns, "registry.local/web:v1", 3)

	d.Spec.Template.Spec.Containers[0].Image = "registry.local/web:v2"
	if err := env.Client.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	d = waitRolledOut(t, env, client.ObjectKeyFromObject(d))
	if !hasCondition(d, appsv1.DeploymentProgressing, "NewReplicaSetAvailable") {
		t.Errorf("rollout did not complete: %+v", d.Status.Conditions)
	}
	waitImages(t, env, ns, "registry.local/web:v2", 3)

	// A rolling update keeps the old ReplicaSet, scaled to zero, for rollback.
	var sets appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &sets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	replicas := map[string]int32{}
	for _, rs := range sets.Items {
		replicas[rs.Spec.Template.Spec.Containers[0].Image] = *rs.Spec.Replicas
	}
	if len(sets.Items) != 2 || replicas["registry.local/web:v1"] != 0 || replicas["registry.local/web:v2"] != 3 {
		t.Errorf("replica sets after the update: %v, want v1 at 0 and v2 at 3", replicas)
	}
}

func TestDeploymentNeverReadyExceedsProgressDeadline(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	d := deployment(ns, "registry.local/web:stuck", 2)
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(5))
	d.Spec.Template.Annotations = map[string]string{cluster.ReadyDelayAnnotation: "1h"}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 30*time.Second, "ProgressDeadlineExceeded", func(ctx context.Context) (bool, error) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
			return false, err
		}
		return hasCondition(d, appsv1.DeploymentProgressing, "ProgressDeadlineExceeded"), nil
	})
	if d.Status.AvailableReplicas != 0 {
		t.Errorf("available replicas = %d, want 0 while pods never become Ready", d.Status.AvailableReplicas)
	}
}

func TestPodReadyDelay(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	d := deployment(ns, "registry.local/web:slow", 1)
	d.Spec.Template.Annotations = map[string]string{cluster.ReadyDelayAnnotation: "2s"}
	created := time.Now()
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, env, client.ObjectKeyFromObject(d))
	if elapsed := time.Since(created); elapsed < 2*time.Second {
		t.Errorf("a pod annotated with a 2s ready delay was available after %s", elapsed)
	}
}

func hasCondition(d *appsv1.Deployment, typ appsv1.DeploymentConditionType, reason string) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == typ && c.Reason == reason {
			return true
		}
	}
	return false
}
