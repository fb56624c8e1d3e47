package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/internal/manifest"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
)

const upstreamPolicies = "../../webhook/imagesig/testdata/policy-controller-v0.15.1"

// TestUpstreamPoliciesThroughAPIServer applies sigstore policy-controller's own example and test
// ClusterImagePolicies — v1alpha1 and v1beta1, unchanged but for a name prefix that keeps this
// test's writes apart — to the real API server with bollard's CRD and its policies.bollard.dev
// webhook: every policy policy-controller accepts is admitted (server-side dry run: a policy
// matching `**` must not reach the gates of parallel tests), every one it refuses is refused with
// the field policy-controller names, and a stored v1alpha1 policy reads back as v1beta1.
func TestUpstreamPoliciesThroughAPIServer(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	gate := startGate(t, env, ns, "")
	hook := webhook.PolicyWebhook(gate.URL+"/validate", kubetest.CABundle(gate), 10)
	// Only this test's policies (cluster-scoped objects ignore the namespaceSelector).
	hook.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "this-test", Expression: "object.metadata.name.startsWith('" + ns + "-')"}}
	env.RegisterValidatingWebhook(t, ns, hook)

	load := func(t *testing.T, dir string) []manifest.Object {
		objs, err := manifest.Load(filepath.Join(upstreamPolicies, dir))
		if err != nil {
			t.Fatal(err)
		}
		var out []manifest.Object
		for _, o := range objs {
			if o.GetKind() == "ClusterImagePolicy" {
				o.SetName(ns + "-" + o.GetName())
				out = append(out, o)
			}
		}
		return out
	}
	var v1alpha1, admitted int
	for _, dir := range []string{"examples", "valid", "e2e"} {
		for _, o := range load(t, dir) {
			err := env.Client.Create(ctx, o.Unstructured.DeepCopy(), client.DryRunAll)
			if strings.HasSuffix(strings.Split(o.Source, ":")[0], "signed-by-aws-kms-key.yaml") {
				// A template: its ARN holds "<< region >>" placeholders policy-controller refuses too.
				if err == nil || !strings.Contains(err.Error(), "spec.authorities[0].key.kms") {
					t.Errorf("%s: err = %v, want refused naming spec.authorities[0].key.kms", o.Source, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: policy-controller accepts it; the API server with bollard refused it: %v", o.Source, err)
				continue
			}
			admitted++
			if strings.HasSuffix(o.GetAPIVersion(), "/v1alpha1") {
				v1alpha1++
			}
		}
	}
	if admitted < 50 || v1alpha1 == 0 {
		t.Errorf("admitted %d upstream policies (%d v1alpha1): want all of them", admitted, v1alpha1)
	}

	field := regexp.MustCompile(`spec\.[A-Za-z0-9_.\[\]-]+`)
	for _, o := range load(t, "invalid") {
		data, err := os.ReadFile(strings.Split(o.Source, ":")[0])
		if err != nil {
			t.Fatal(err)
		}
		err = env.Client.Create(ctx, o.Unstructured.DeepCopy(), client.DryRunAll)
		if err == nil {
			t.Errorf("%s: admitted; policy-controller refuses it", o.Source)
			continue
		}
		_, want, _ := strings.Cut(string(data), "# ERROR:")
		want, _, _ = strings.Cut(want, "\n")
		for _, f := range field.FindAllString(want, -1) {
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(f)) {
				t.Errorf("%s: error %q does not name %s", o.Source, err, f)
			}
		}
	}

	t.Run("an invalid glob is refused with policy-controller's message", func(t *testing.T) {
		p := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
			"metadata": map[string]any{"name": ns + "-regexp-glob"},
			"spec":     map[string]any{"images": []any{map[string]any{"glob": "registry.local/.+"}}, "authorities": []any{map[string]any{"static": map[string]any{"action": "pass"}}}}}}
		err := env.Client.Create(ctx, p, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "invalid value: registry.local/.+: spec.images[0].glob") {
			t.Errorf("err = %v, want the glob refused", err)
		}
	})

	t.Run("a v1alpha1 policy is stored and served as v1beta1", func(t *testing.T) {
		objs := load(t, "valid")
		var alpha *unstructured.Unstructured
		for _, o := range objs {
			if strings.Contains(o.Source, "valid-policy-hash-algo-sha512.yaml") {
				alpha = o.Unstructured.DeepCopy()
			}
		}
		if alpha == nil || alpha.GetAPIVersion() != "policy.sigstore.dev/v1alpha1" {
			t.Fatalf("valid-policy-hash-algo-sha512.yaml: want a v1alpha1 policy, got %v", alpha)
		}
		// Its globs must not reach parallel tests' gates: point them at a registry nobody uses.
		_ = unstructured.SetNestedSlice(alpha.Object, []any{map[string]any{"glob": "never.invalid/" + ns + "/**"}}, "spec", "images")
		if err := env.Client.Create(ctx, alpha); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), alpha) })
		var beta policyv1beta1.ClusterImagePolicy
		if err := env.Client.Get(ctx, client.ObjectKey{Name: alpha.GetName()}, &beta); err != nil {
			t.Fatal(err)
		}
		if beta.APIVersion != "" && beta.APIVersion != "policy.sigstore.dev/v1beta1" || len(beta.Spec.Authorities) == 0 {
			t.Fatalf("read back as v1beta1: %+v", beta)
		}
		found := false
		for _, a := range beta.Spec.Authorities {
			if a.Key != nil && a.Key.HashAlgorithm == "sha512" {
				found = true
			}
		}
		if !found {
			t.Errorf("hashAlgorithm sha512 lost between v1alpha1 and v1beta1: %+v", beta.Spec.Authorities)
		}
	})
}
