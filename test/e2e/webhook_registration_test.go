package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/test/kubetest"
)

// TestRegisterValidatingWebhook proves the helper later webhook tests rely on: once it returns,
// the real API server sends AdmissionReviews to a webhook running as a local process, and its
// denial reaches the client.
func TestRegisterValidatingWebhook(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	var calls atomic.Int32
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var d appsv1.Deployment
		if err := json.Unmarshal(review.Request.Object.Raw, &d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, ":forbidden") {
			resp = &admissionv1.AdmissionResponse{UID: review.Request.UID,
				Result: &metav1.Status{Code: http.StatusForbidden, Message: "image tag forbidden by test webhook"}}
		}
		review.Request, review.Response = nil, resp
		_ = json.NewEncoder(w).Encode(review)
	}))
	server.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	server.StartTLS()
	t.Cleanup(server.Close)

	url := server.URL + "/validate"
	none := admissionregistrationv1.SideEffectClassNone
	env.RegisterValidatingWebhook(t, ns, admissionregistrationv1.ValidatingWebhook{
		Name:         "deployments.e2e.bollard.dev",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: kubetest.CABundle(server)},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
		}},
		SideEffects:             &none,
		AdmissionReviewVersions: []string{"v1"},
	})

	err := env.Client.Create(ctx, deployment(ns, "registry.local/web:forbidden", 1))
	if err == nil || !strings.Contains(err.Error(), "image tag forbidden by test webhook") {
		t.Fatalf("create with a forbidden tag: err = %v, want the webhook's denial", err)
	}
	if err := env.Client.Create(ctx, deployment(ns, "registry.local/web:v1", 1)); err != nil {
		t.Fatalf("create with an allowed tag: %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("webhook called %d times, want 2 (once per create)", calls.Load())
	}
}
