package e2e

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/imagesig"
)

// TestGateEveryPath: no way around the signature gate through the real API server — a bare Pod
// claiming a controller owner, a person's edit of a controller-owned ReplicaSet, an ephemeral
// container (kubectl debug) and a ReplicationController are all checked; Pods the built-in
// controllers make from a checked Deployment still run. And a production workload labelled dev
// is still under production's freeze.
func TestGateEveryPath(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	reg, signer := signingPolicy(t, env, ns)
	signed, unsigned := signedAndUnsigned(t, reg, signer)
	gate := startGateWith(t, env, ns, webhook.Config{Images: imagesig.New(imagesig.Options{Timeout: 3 * time.Second, NegativeTTL: time.Second}), NoMatchPolicy: "allow"})
	denied := func(t *testing.T, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "no signatures found") {
			t.Errorf("err = %v, want the unsigned image denied", err)
		}
	}
	env.Eventually(t, 30*time.Second, "the gate to see the ClusterImagePolicy", func(ctx context.Context) (bool, error) {
		err := env.Client.Create(ctx, deployment(ns, unsigned.String(), 1), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "no signatures found"), nil
	})
	pod := func(name, image string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
	}

	t.Run("a signed Deployment's Pods, made by the built-in controllers, run", func(t *testing.T) {
		if err := env.Client.Create(ctx, deployment(ns, signed.String(), 2)); err != nil {
			t.Fatal(err)
		}
		waitRolledOut(t, env, client.ObjectKey{Namespace: ns, Name: "web"})
		// The ReplicaSet and both Pods were written by the built-in controllers: the registration's
		// match condition kept them from the webhook altogether (an exempt decision would be counted).
		metrics := scrape(t, gate)
		if m := regexp.MustCompile(`bollard_admission_decisions_total\{verdict="exempt"\} (\d+)`).FindStringSubmatch(metrics); m != nil && m[1] != "0" {
			t.Errorf("the webhook was sent %s controller writes, want none", m[1])
		}
		if !regexp.MustCompile(`bollard_admission_decisions_total\{verdict="allowed"\} 1\b`).MatchString(metrics) {
			t.Errorf("want exactly the Deployment decided:\n%s", metrics)
		}
	})
	t.Run("a bare Pod claiming a controller owner is checked", func(t *testing.T) {
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner"}}
		if err := env.Client.Create(ctx, owner); err != nil {
			t.Fatal(err)
		}
		p := pod("forged", unsigned.String())
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}
		denied(t, env.Client.Create(ctx, p))
	})
	t.Run("a person's edit of a controller-owned ReplicaSet is checked", func(t *testing.T) {
		var sets appsv1.ReplicaSetList
		if err := env.Client.List(ctx, &sets, client.InNamespace(ns)); err != nil || len(sets.Items) == 0 {
			t.Fatalf("the Deployment's ReplicaSet: %v (%d)", err, len(sets.Items))
		}
		rs := sets.Items[0]
		rs.Spec.Template.Spec.Containers[0].Image = unsigned.String()
		denied(t, env.Client.Update(ctx, &rs))
	})
	t.Run("kubectl debug: an ephemeral container is checked", func(t *testing.T) {
		p := pod("debugged", signed.String())
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		debug := func(name, image string) error {
			return retry.RetryOnConflict(retry.DefaultRetry, func() error { // kwok writes the Pod's status
				cur, err := env.Clientset.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Spec.EphemeralContainers = append(cur.Spec.EphemeralContainers, corev1.EphemeralContainer{
					EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
						TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
				_, err = env.Clientset.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, p.Name, cur, metav1.UpdateOptions{})
				return err
			})
		}
		denied(t, debug("debugger", unsigned.String()))
		if err := debug("signed-debugger", signed.String()); err != nil {
			t.Errorf("a signed ephemeral container: %v", err)
		}
	})
	t.Run("a ReplicationController is checked", func(t *testing.T) {
		labels := map[string]string{"app": "rc"}
		rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rc"}, Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](1), Selector: labels,
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod("x", unsigned.String()).Spec}}}
		denied(t, env.Client.Create(ctx, rc))
		rc.Spec.Template.Spec.Containers[0].Image = signed.String()
		if err := env.Client.Create(ctx, rc); err != nil {
			t.Errorf("a signed ReplicationController: %v", err)
		}
	})
	t.Run("a production workload labelled dev is still frozen", func(t *testing.T) {
		var n corev1.Namespace
		if err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			t.Fatal(err)
		}
		n.Labels[v1alpha1.LabelEnvironment] = "production"
		if err := env.Client.Update(ctx, &n); err != nil {
			t.Fatal(err)
		}
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-prod-freeze"}, Spec: v1alpha1.DeployPolicySpec{
			Scope: v1alpha1.Scope{Namespaces: []string{ns}, Environments: []string{"production"}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()}}})
		escape := deployment(ns, signed.String(), 1)
		escape.Name = "escape"
		escape.Labels = map[string]string{v1alpha1.LabelEnvironment: "dev"}
		env.Eventually(t, 30*time.Second, "the freeze in force", func(ctx context.Context) (bool, error) {
			err := env.Client.Create(ctx, escape.DeepCopy(), client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), "code-freeze"), nil
		})
	})
	t.Run("deleting a workload during the freeze is denied; a break-glass delete is admitted", func(t *testing.T) {
		web := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-prod-freeze"}, Spec: v1alpha1.DeployPolicySpec{
			Scope: v1alpha1.Scope{Namespaces: []string{ns}, Environments: []string{"production"}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()},
			BreakGlass: &v1alpha1.BreakGlass{Users: []string{"oncall@example.com"}}}})
		want := "deletes of Deployment web to production are frozen by window `code-freeze` of DeployPolicy " + ns + "-prod-freeze"
		env.Eventually(t, 30*time.Second, "the freeze in force for deletes", func(ctx context.Context) (bool, error) {
			err := env.Client.Delete(ctx, web.DeepCopy(), client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), want), nil
		})
		if err := env.Client.Delete(ctx, web.DeepCopy()); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("delete during the freeze: err = %v, want %q", err, want)
		}
		waitEvent(t, env, ns, "Denied", "web", "DELETE by", want)
		oncall, _ := as(t, env, ns, "oncall@example.com")
		// The annotation first (an annotation is not a deploy: admitted during the freeze), then the delete.
		if err := update(ctx, env, oncall, client.ObjectKeyFromObject(web), func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{v1alpha1.AnnotationBreakGlass: "INC-9 web leaks data"}
		}); err != nil {
			t.Fatalf("break-glass annotation: %v", err)
		}
		env.Eventually(t, 30*time.Second, "the break-glass delete admitted", func(ctx context.Context) (bool, error) {
			err := oncall.Delete(ctx, web.DeepCopy())
			return err == nil, nil
		})
		waitEvent(t, env, ns, "BreakGlass", "web", "oncall@example.com", "INC-9 web leaks data")
	})
}

// scrape reads the gate's /metrics.
func scrape(t *testing.T, gate *httptest.Server) string {
	t.Helper()
	resp, err := gate.Client().Get(gate.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
