//go:build peer

package peerbench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/sigstore/policy-controller/pkg/apis/config"
	policyv1alpha1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1alpha1"
	policycontrollerconfig "github.com/sigstore/policy-controller/pkg/config"
	pcwebhook "github.com/sigstore/policy-controller/pkg/webhook"
	webhookcip "github.com/sigstore/policy-controller/pkg/webhook/clusterimagepolicy"
	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	"knative.dev/pkg/logging"

	"bollard.dev/bollard/internal/admissionload"
	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

// peer is policy-controller's Validator for one ClusterImagePolicy: host/shop/* signed by signer.
func peer(b *testing.B, host string, signer imagesigtest.Signer, resolve bool) http.Handler {
	ctx := logging.WithLogger(context.Background(), zap.NewNop().Sugar())
	ctx = context.WithValue(ctx, kubeclient.Key{}, fake.NewClientset())
	cip := &policyv1alpha1.ClusterImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "shop-signed"}, Spec: policyv1alpha1.ClusterImagePolicySpec{
		Images:      []policyv1alpha1.ImagePattern{{Glob: host + "/shop/*"}},
		Authorities: []policyv1alpha1.Authority{{Name: "release", Key: &policyv1alpha1.KeyRef{Data: string(signer.PublicPEM)}}},
	}}
	compiled, err := json.Marshal(webhookcip.ConvertClusterImagePolicyV1alpha1ToWebhook(cip))
	if err != nil {
		b.Fatal(err)
	}
	policies, err := config.NewImagePoliciesConfigFromMap(map[string]string{cip.Name: string(compiled)})
	if err != nil {
		b.Fatal(err)
	}
	ctx = config.ToContext(ctx, &config.Config{ImagePolicyConfig: policies})
	ctx = policycontrollerconfig.ToContext(ctx, &policycontrollerconfig.PolicyControllerConfig{NoMatchPolicy: policycontrollerconfig.DenyAll, FailOnEmptyAuthorities: true})
	v := pcwebhook.NewValidator(ctx)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, fmt.Sprintf("bad review: %v", err), http.StatusBadRequest)
			return
		}
		var wp duckv1.WithPod
		if err := json.Unmarshal(review.Request.Object.Raw, &wp); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reqCtx := apis.WithinCreate(ctx)
		if resolve {
			v.ResolvePodSpecable(reqCtx, &wp)
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if fe := v.ValidatePodSpecable(reqCtx, &wp).Filter(apis.ErrorLevel); fe != nil {
			resp.Allowed, resp.Result = false, &metav1.Status{Code: http.StatusForbidden, Message: fe.Error()}
		}
		review.Request, review.Response = nil, resp
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&review)
	})
}

// BenchmarkPeerPolicyController is BenchmarkAdmissionHTTPS's runs against policy-controller.
func BenchmarkPeerPolicyController(b *testing.B) {
	admissionload.Suite(b, func(b *testing.B, host string, signer imagesigtest.Signer) (http.Handler, string) {
		return peer(b, host, signer, true), ""
	}, false)
}
