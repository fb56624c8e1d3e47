package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/workload"
)

// TestGateCustomWorkloads: an Argo Rollout (its CRD installed from Argo Rollouts v1.9.1's own
// YAML) is checked like a Deployment — an unsigned image in its pod template is denied through
// the API server, a signed one admitted — and one with a workloadRef (no template of its own) is
// let through, its pods being checked where the template is.
func TestGateCustomWorkloads(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	env.InstallCRDs(t, "testdata/argo-rollouts-v1.9.1/rollout-crd.yaml")
	reg, signer := signingPolicy(t, env, ns)
	signed, unsigned := signedAndUnsigned(t, reg, signer)
	startGateWith(t, env, ns, webhook.Config{Images: imagesig.New(imagesig.Options{Timeout: 3 * time.Second, NegativeTTL: time.Second}),
		NoMatchPolicy: "deny", WorkloadKinds: workload.DefaultCustom})
	rollout := func(name, image string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{
				"replicas": int64(2),
				"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
				"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}}}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": name}},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": image}}},
				},
			},
		}}
	}
	env.Eventually(t, 30*time.Second, "the gate to check Rollouts", func(ctx context.Context) (bool, error) {
		err := env.Client.Create(ctx, rollout("web", unsigned.String()), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "no signatures found"), nil
	})
	err := env.Client.Create(ctx, rollout("web", unsigned.String()))
	if want := "image " + unsigned.String() + " in spec.template.spec.containers[web].image is not allowed by ClusterImagePolicy " + ns + "-signed: no signatures found"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("unsigned Rollout: err = %v, want %q", err, want)
	}
	if err := env.Client.Create(ctx, rollout("web", signed.String())); err != nil {
		t.Errorf("signed Rollout: %v", err)
	}
	ref := rollout("by-ref", unsigned.String())
	unstructured.RemoveNestedField(ref.Object, "spec", "template")
	_ = unstructured.SetNestedMap(ref.Object, map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "spec", "workloadRef")
	if err := env.Client.Create(ctx, ref, client.DryRunAll); err != nil {
		t.Errorf("Rollout with a workloadRef: %v", err)
	}
}
