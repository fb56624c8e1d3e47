package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
)

// pinAll verifies every image (a narrow stand-in: FuzzMutate is about the patch, not signatures).
type pinAll struct{}

func (pinAll) Verify(_ context.Context, image string, _ []imagesig.Authority) imagesig.Verdict {
	return imagesig.Verdict{Image: image, Verified: true, Digest: "sha256:" + strings.Repeat("ab", 32), Authority: "k"}
}

// FuzzMutate sends arbitrary bodies to /mutate: never a panic; 200 with a response for the
// request's uid whose patch (if any) applies to the request's object and only pins images to
// digests, a denial only of a review it cannot read, or 400 with a message.
func FuzzMutate(f *testing.F) {
	seedReviews(f)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"Pod"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"a","image":"nginx:1.27"},{"name":"b/~","image":"registry.local/x@sha256:` + strings.Repeat("0", 64) + `"}],"initContainers":[{"name":"i","image":"busybox"}]}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":"CronJob"},"object":{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c","namespace":"shop"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"nginx"}]}}}}}}}}`))
	pol := policyv1beta1.ClusterImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Spec: policyv1beta1.ClusterImagePolicySpec{
		Images: []policyv1beta1.ImagePattern{{Glob: "**"}}, Authorities: []policyv1beta1.Authority{{Name: "k", Key: &policyv1beta1.KeyRef{Data: testKey}}}}}
	engine, err := admission.NewEngine(context.Background(), nil)
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{gate: admission.NewGate(&admission.Objects{ImagePolicyList: []policyv1beta1.ClusterImagePolicy{pol}}, engine, admission.WithImageVerification(pinAll{}, "deny")),
		events: fake.NewClientset(), metrics: newMetrics(), log: logr.Discard(), timeout: 1e9}
	s.ready.Store(true)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		out := answered(t, body, rec)
		if out == nil {
			return
		}
		if !out.Response.Allowed {
			// The one denial /mutate gives: a review it cannot read (fail closed, saying why).
			if r := out.Response.Result; r == nil || r.Code != http.StatusBadRequest || !strings.HasPrefix(r.Message, "bollard cannot read this request, denied to be safe: ") {
				t.Fatalf("/mutate denied a request it could read: %q", rec.Body)
			}
			return
		}
		if len(out.Response.Patch) == 0 {
			return
		}
		var in admissionv1.AdmissionReview
		_ = json.Unmarshal(body, &in)
		patch, err := jsonpatch.DecodePatch(out.Response.Patch)
		if err != nil {
			t.Fatalf("patch %s: %v", out.Response.Patch, err)
		}
		if _, err := patch.Apply(in.Request.Object.Raw); err != nil {
			t.Fatalf("patch %s does not apply to the object: %v", out.Response.Patch, err)
		}
		for _, op := range patch {
			v, _ := op.ValueInterface()
			if s, _ := v.(string); op.Kind() != "replace" || !strings.HasSuffix(s, "@sha256:"+strings.Repeat("ab", 32)) || !strings.HasSuffix(mustPath(op), "/image") {
				t.Errorf("patch op %v is not an image pinned to its digest", op)
			}
		}
	})
}

func mustPath(op jsonpatch.Operation) string { p, _ := op.Path(); return p }

// testKey is a P-256 public key (the policy must compile; pinAll never uses it).
const testKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZxAfzrQG1EbWyCI8LiSB7YgSFXoI
FNGTyQGKHFc6/H8TQumT9VLS78pUwtv3w7EfKoyFZoP32KrO7nzUy2q6Cw==
-----END PUBLIC KEY-----`
