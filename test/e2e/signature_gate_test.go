package e2e

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// TestSignatureGate: kubectl-style creates through the real API server, decided by the webhook
// against a real OCI registry (go-containerregistry's, on loopback) holding real cosign
// signatures in both formats cosign v3 writes.
func TestSignatureGate(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	reg := imagesigtest.NewRegistry(t)
	classic, bundled := imagesigtest.NewSigner(t), imagesigtest.NewBundleSigner(t)
	v1 := reg.Push(t, "shop/web:v1")
	classic.Sign(t, v1)
	v2 := reg.Push(t, "shop/web:v2")
	bundled.Sign(t, v2)
	unsigned := reg.Push(t, "shop/web:v3")
	late := reg.Push(t, "shop/web:v4")

	cip := &policyv1beta1.ClusterImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-signed"},
		Spec: policyv1beta1.ClusterImagePolicySpec{
			Images: []policyv1beta1.ImagePattern{{Glob: reg.Host + "/shop/*"}},
			Authorities: []policyv1beta1.Authority{
				{Name: "release-v2", Key: &policyv1beta1.KeyRef{Data: string(classic.PublicPEM)}},
				{Name: "release-v3", Key: &policyv1beta1.KeyRef{Data: string(bundled.PublicPEM)}},
			},
		},
	}
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	if err := env.Client.Create(ctx, cip); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cip) })
	gate := startGateWith(t, env, ns, webhook.Config{Images: imagesig.New(imagesig.Options{Timeout: 3 * time.Second, NegativeTTL: time.Second}), NoMatchPolicy: "allow"})
	env.Eventually(t, 30*time.Second, "the gate to see the ClusterImagePolicy", func(ctx context.Context) (bool, error) {
		err := env.Client.Create(ctx, deployment(ns, unsigned.String(), 1), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "ClusterImagePolicy "+cip.Name) {
			return true, nil
		}
		return false, err
	})

	t.Run("classic signature by tag is admitted", func(t *testing.T) {
		d := deployment(ns, reg.Host+"/shop/web:v1", 1)
		d.Name = "classic"
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatalf("signed image: %v", err)
		}
	})
	t.Run("bundle signature is admitted", func(t *testing.T) {
		d := deployment(ns, v2.String(), 1)
		d.Name = "bundle"
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatalf("bundle-signed image: %v", err)
		}
	})
	t.Run("unsigned image is rejected, naming image, digest, policy and reason", func(t *testing.T) {
		d := deployment(ns, reg.Host+"/shop/web:v3", 1)
		d.Name = "unsigned"
		err := env.Client.Create(ctx, d)
		want := "image " + reg.Host + "/shop/web:v3 (" + unsigned.DigestStr() + ") in spec.template.spec.containers[web].image is not allowed by ClusterImagePolicy " + cip.Name + ": no signatures found"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want %q", err, want)
		}
	})
	t.Run("registry down: cached digests still admitted, new ones denied as unreachable", func(t *testing.T) {
		reg.Down.Store(true)
		defer reg.Down.Store(false)
		d := deployment(ns, v1.String(), 1)
		d.Name = "cached"
		if err := env.Client.Create(ctx, d); err != nil {
			t.Errorf("verified before the outage: %v", err)
		}
		d = deployment(ns, late.String(), 1)
		d.Name = "late"
		if err := env.Client.Create(ctx, d); err == nil || !strings.Contains(err.Error(), "registry unreachable") {
			t.Errorf("err = %v, want a denial saying registry unreachable", err)
		}
	})
	t.Run("the mutating endpoint pins a verified tag to its digest", func(t *testing.T) {
		mutating := webhook.MutatingWebhook(gate.URL+"/mutate", kubetest.CABundle(gate), "", 10)
		mutating.NamespaceSelector = nil
		env.RegisterMutatingWebhook(t, ns, mutating)
		d := deployment(ns, reg.Host+"/shop/web:v1", 1)
		d.Name = "pinned"
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		if got, want := d.Spec.Template.Spec.Containers[0].Image, reg.Host+"/shop/web:v1@"+v1.DigestStr(); got != want {
			t.Errorf("stored image %s, want %s", got, want)
		}
		// An unsigned tag is not pinned; the validating webhook still rejects it.
		u := deployment(ns, reg.Host+"/shop/web:v3", 1)
		u.Name = "unpinned"
		if err := env.Client.Create(ctx, u); err == nil || !strings.Contains(err.Error(), "no signatures found") {
			t.Errorf("unsigned with the mutating webhook on: %v", err)
		}
	})
	t.Run("verifications are counted in /metrics", func(t *testing.T) {
		resp, err := gate.Client().Get(gate.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`bollard_image_verifications_total{cache="miss",outcome="verified"}`,
			`bollard_image_verifications_total{cache="hit",outcome="verified"}`,
			`bollard_image_verifications_total{cache="miss",outcome="registry_error"}`,
			`bollard_image_verifications_total{cache="miss",outcome="not_verified"}`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
	t.Run("images no policy matches follow the no-match policy (allow)", func(t *testing.T) {
		d := deployment(ns, "registry.local/other/tool:v1", 1)
		d.Name = "unmatched"
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatalf("unmatched image with no-match allow: %v", err)
		}
	})
}
