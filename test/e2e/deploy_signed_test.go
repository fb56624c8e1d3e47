package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// signingPolicy is an in-process OCI registry, a cosign key, and a ClusterImagePolicy (named
// after ns) requiring that key's signature on every image of the registry's shop/ repositories;
// plus ns's push receiver Secret (key "k").
func signingPolicy(t *testing.T, env *kubetest.Env, ns string) (*imagesigtest.Registry, imagesigtest.Signer) {
	t.Helper()
	ctx := context.Background()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	reg := imagesigtest.NewRegistry(t)
	signer := imagesigtest.NewSigner(t)
	cip := &policyv1beta1.ClusterImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-signed"}, Spec: policyv1beta1.ClusterImagePolicySpec{
		Images:      []policyv1beta1.ImagePattern{{Glob: reg.Host + "/shop/**"}},
		Authorities: []policyv1beta1.Authority{{Name: "release", Key: &policyv1beta1.KeyRef{Data: string(signer.PublicPEM)}}}}}
	if err := env.Client.Create(ctx, cip); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cip) })
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": []byte("k")}}); err != nil {
		t.Fatal(err)
	}
	return reg, signer
}

// signedAndUnsigned pushes shop/web:v1 signed by signer and shop/web:v2 unsigned.
func signedAndUnsigned(t *testing.T, reg *imagesigtest.Registry, signer imagesigtest.Signer) (signed, unsigned name.Digest) {
	t.Helper()
	signed = reg.Push(t, "shop/web:v1")
	signer.Sign(t, signed)
	return signed, reg.Push(t, "shop/web:v2")
}

// TestDeployUnsignedArtifact: with image verification on, the daemon's pre-flight refuses a
// revision whose image is not signed as the ClusterImagePolicy requires — nothing is applied, and
// `bollard deploy` exits 2 with the reason — while a signed one deploys.
func TestDeployUnsignedArtifact(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	reg, signer := signingPolicy(t, env, ns)
	signed, unsigned := signedAndUnsigned(t, reg, signer)
	web := func(image string) string {
		return strings.Replace(fmt.Sprintf(webYAML, 1, "x"), "registry.local/shop/web:x", image, 1)
	}
	repo := newGitRepo(t)
	repo.commit(t, "web, signed", map[string]string{"web.yaml": web(signed.String())})
	startDaemonWith(t, env, ns, "receiver", t.TempDir(), true)
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
		Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url()}, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 60*time.Second, "the signed revision verified", func(ctx context.Context) (bool, error) {
		var r v1alpha1.Release
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
		return err == nil && r.Status.Rollout != nil && r.Status.Rollout.Phase == "Succeeded", nil
	})
	// The Deployment Log says what was verified: the digest, the policy, the authority.
	if out, code := bollardCLI(t, env, "log", "shop", "-n", ns); code != 0 ||
		!strings.Contains(out, signed.String()+" ("+signed.DigestStr()+") verified by ClusterImagePolicy "+ns+"-signed, authority release") {
		t.Errorf("bollard log (exit %d) does not say which digest and authority verified:\n%s", code, out)
	}
	repo.commit(t, "web, unsigned", map[string]string{"web.yaml": web(unsigned.String())})
	out, code := bollardCLI(t, env, "deploy", "shop", "-n", ns)
	want := "image " + unsigned.String() + " in spec.template.spec.containers[web].image is not allowed by ClusterImagePolicy " + ns + "-signed: no signatures found"
	if code != 2 || !strings.Contains(out, "REFUSED") || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 2 with %q:\n%s", code, want, out)
	}
	var r v1alpha1.Release
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status.Phase != "Refused" {
		t.Errorf("phase %s", r.Status.Phase)
	}
	f := &releaseFixture{env: env, ns: ns}
	if f.image() != signed.String() {
		t.Errorf("a refused revision changed web to %s", f.image())
	}

	// --artifact pins the image by digest, through the same pre-flight.
	out, code = bollardCLI(t, env, "deploy", "shop", "-n", ns, "--artifact", unsigned.String())
	if code != 2 || !strings.Contains(out, "no signatures found") {
		t.Errorf("--artifact unsigned: exit %d:\n%s", code, out)
	}
	out, code = bollardCLI(t, env, "deploy", "shop", "-n", ns, "--artifact", signed.String())
	if code != 0 || !strings.Contains(out, "**STATUS**: 🟢 SUCCESS.") || f.image() != signed.String() {
		t.Errorf("--artifact signed: exit %d, web runs %s:\n%s", code, f.image(), out)
	}

}
