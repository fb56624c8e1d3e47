package admission

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// countingVerifier counts verifications that reach the real verifier.
type countingVerifier struct {
	*imagesig.Verifier
	calls atomic.Int64
}

func (c *countingVerifier) Verify(ctx context.Context, image string, authorities []imagesig.Authority) imagesig.Verdict {
	c.calls.Add(1)
	return c.Verifier.Verify(ctx, image, authorities)
}

func channelRelease(ns, ref string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "bollard.dev/v1alpha1", "kind": "ChannelRelease",
		"metadata": map[string]any{"name": "shop-android", "namespace": ns},
		"spec":     map[string]any{"artifact": map[string]any{"ref": ref, "version": "1.2.3"}, "target": map[string]any{"type": "feed"}}}}
}

func TestImageGate(t *testing.T) {
	reg := imagesigtest.NewRegistry(t)
	release := imagesigtest.NewSigner(t)
	signed := reg.Push(t, "shop/web:v1")
	release.Sign(t, signed)
	unsigned := reg.Push(t, "shop/web:v2")
	reg.Push(t, "other/tool:v1")

	policy := func(name, mode string, a v1beta1.Authority) v1beta1.ClusterImagePolicy {
		return v1beta1.ClusterImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.ClusterImagePolicySpec{
			Images: []v1beta1.ImagePattern{{Glob: reg.Host + "/shop/*"}}, Authorities: []v1beta1.Authority{a}, Mode: mode}}
	}
	keyAuthority := v1beta1.Authority{Name: "release", Key: &v1beta1.KeyRef{Data: string(release.PublicPEM)}}
	withImages := func(images ...string) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = nil
			for i, img := range images {
				d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: img})
			}
		}
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, berlin)
	// What one verification of the signed digest costs the registry.
	k, err := imagesig.ParseKey("release", release.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	before := reg.Requests.Load()
	imagesig.New(imagesig.Options{}).Verify(context.Background(), signed.String(), []imagesig.Authority{k})
	one := reg.Requests.Load() - before
	cases := []struct {
		name     string
		policies []v1beta1.ClusterImagePolicy
		noMatch  string
		req      Request
		allowed  bool
		reason   string
		warning  string
		calls    int64
		requests int64 // registry requests, when > 0
	}{
		{name: "signed image by tag", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)},
			req: Request{Operation: "CREATE", Now: now, Object: deployment("dev", withImages(reg.Host+"/shop/web:v1"))}, allowed: true, calls: 1},
		{name: "unsigned image denied with image, digest, policy and reason", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)},
			req:     Request{Operation: "CREATE", Now: now, Object: deployment("dev", withImages(reg.Host+"/shop/web:v2"))},
			allowed: false, reason: "image " + reg.Host + "/shop/web:v2 (" + unsigned.DigestStr() + ") in spec.template.spec.containers[a].image is not allowed by ClusterImagePolicy shop-signed: no signatures found", calls: 1},
		{name: "warn mode admits with a warning", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "warn", keyAuthority)},
			req:     Request{Operation: "CREATE", Now: now, Object: deployment("dev", withImages(unsigned.String()))},
			allowed: true, warning: "fails ClusterImagePolicy shop-signed (warn mode): no signatures found", calls: 1},
		{name: "the same image in three containers is verified once", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)},
			req:     Request{Operation: "CREATE", Now: now, Object: deployment("dev", withImages(signed.String(), signed.String(), signed.String()))},
			allowed: true, calls: 3, requests: one},
		{name: "unmatched image with no-match deny", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)}, noMatch: "deny",
			req:     Request{Operation: "CREATE", Now: now, Object: deployment("dev", withImages(reg.Host+"/other/tool:v1"))},
			allowed: false, reason: "matches no ClusterImagePolicy, and images without a policy are denied", calls: 0},
		{name: "unsupported authority fails closed, visibly", policies: []v1beta1.ClusterImagePolicy{policy("keyless", "", v1beta1.Authority{Name: "fulcio", Keyless: &v1beta1.KeylessRef{TrustRootRef: "public-good"}})},
			req:     Request{Operation: "CREATE", Now: now, Object: deployment("dev", withImages(signed.String()))},
			allowed: false, reason: "invalid ClusterImagePolicy: missing field(s): spec.authorities[0].keyless.identities", calls: 0},
		{name: "a ChannelRelease's artifact is judged like an image: signed", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)},
			req: Request{Operation: "CREATE", Now: now, Object: channelRelease("dev", reg.Host+"/shop/web:v1")}, allowed: true, calls: 1},
		{name: "a ChannelRelease's unsigned artifact is denied at spec.artifact.ref", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)},
			req:     Request{Operation: "CREATE", Now: now, Object: channelRelease("dev", unsigned.String())},
			allowed: false, reason: "image " + unsigned.String() + " in spec.artifact.ref is not allowed by ClusterImagePolicy shop-signed: no signatures found", calls: 1},
		{name: "an update that keeps the images is not re-verified", policies: []v1beta1.ClusterImagePolicy{policy("shop-signed", "", keyAuthority)},
			req: Request{Operation: "UPDATE", Now: now, OldObject: deployment("dev", withImages(unsigned.String())),
				Object: deployment("dev", withImages(unsigned.String()), func(d *appsv1.Deployment) { d.Labels = map[string]string{"x": "y"} })},
			allowed: true, calls: 0},
	}
	engine, err := NewEngine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cluster := testCluster()
			cluster.ImagePolicyList = tc.policies
			verifier := &countingVerifier{Verifier: imagesig.New(imagesig.Options{})}
			before := reg.Requests.Load()
			noMatch := tc.noMatch
			if noMatch == "" {
				noMatch = "allow"
			}
			d, err := NewGate(cluster, engine, WithImageVerification(verifier, noMatch)).Review(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.allowed || (tc.reason != "" && !containsSub(d.Reasons, tc.reason)) || (tc.warning != "" && !containsSub(d.Warnings, tc.warning)) {
				t.Errorf("decision %+v, want allowed %v, reason ~%q, warning ~%q", d, tc.allowed, tc.reason, tc.warning)
			}
			if got := verifier.calls.Load(); got != tc.calls {
				t.Errorf("%d verifications, want %d", got, tc.calls)
			}
			if got := reg.Requests.Load() - before; tc.requests > 0 && got != tc.requests {
				t.Errorf("%d registry requests, want %d (one verification)", got, tc.requests)
			}
			if tc.allowed && len(d.Reasons) > 0 {
				t.Errorf("allowed with reasons %q", d.Reasons)
			}
		})
	}
}
