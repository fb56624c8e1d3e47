package kubetest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server loads a webhook configuration asynchronously, all its webhooks at once. So
// every configuration registered here carries one more webhook, the marker: it matches only
// ConfigMaps labelled with the configuration's name and is served by a tiny server of this package
// that denies them. Once a dry-run create of such a ConfigMap is denied by the marker, the API
// server is calling every webhook of the configuration.
const (
	markerLabel   = "kubetest.bollard.dev/marker"
	markerMessage = "kubetest marker webhook"
)

var (
	webhookSeq   atomic.Int64
	markerOnce   sync.Once
	markerServer *httptest.Server
)

func marker() *httptest.Server {
	markerOnce.Do(func() {
		markerServer = httptest.NewUnstartedServer(http.HandlerFunc(denyMarker))
		markerServer.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		markerServer.StartTLS()
	})
	return markerServer
}

func denyMarker(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
		return
	}
	review.Response = &admissionv1.AdmissionResponse{
		UID:    review.Request.UID,
		Result: &metav1.Status{Message: markerMessage, Code: http.StatusForbidden},
	}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// CABundle returns the PEM of a test server's certificate, for a webhook's clientConfig.caBundle.
func CABundle(s *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// RegisterValidatingWebhook registers hooks (clientConfig.url plus caBundle, as for a webhook
// running outside the cluster) and returns once the API server calls them. A hook without a
// namespaceSelector is scoped to namespace, so tests running in parallel do not see each other's
// webhooks. The configuration is removed when the test ends.
func (e *Env) RegisterValidatingWebhook(t testing.TB, namespace string, hooks ...admissionregistrationv1.ValidatingWebhook) {
	t.Helper()
	name := fmt.Sprintf("%s-%d", namespace, webhookSeq.Add(1))
	for i := range hooks {
		if hooks[i].NamespaceSelector == nil {
			hooks[i].NamespaceSelector = inNamespace(namespace)
		}
	}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks:   append(hooks, markerHook(name, namespace)),
	}
	api := e.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := api.Create(context.Background(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register webhook configuration %s: %v", name, err)
	}
	e.awaitRegistration(t, namespace, name, func(ctx context.Context) error { return api.Delete(ctx, name, metav1.DeleteOptions{}) })
}

// RegisterMutatingWebhook is RegisterValidatingWebhook for mutating webhooks (the marker is a
// mutating webhook of the same configuration, which denies just the same).
func (e *Env) RegisterMutatingWebhook(t testing.TB, namespace string, hooks ...admissionregistrationv1.MutatingWebhook) {
	t.Helper()
	name := fmt.Sprintf("%s-m%d", namespace, webhookSeq.Add(1))
	for i := range hooks {
		if hooks[i].NamespaceSelector == nil {
			hooks[i].NamespaceSelector = inNamespace(namespace)
		}
	}
	m := markerHook(name, namespace)
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: append(hooks, admissionregistrationv1.MutatingWebhook{Name: m.Name, ClientConfig: m.ClientConfig, Rules: m.Rules,
			ObjectSelector: m.ObjectSelector, NamespaceSelector: m.NamespaceSelector, SideEffects: m.SideEffects,
			FailurePolicy: m.FailurePolicy, TimeoutSeconds: m.TimeoutSeconds, AdmissionReviewVersions: m.AdmissionReviewVersions}),
	}
	api := e.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(context.Background(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register mutating webhook configuration %s: %v", name, err)
	}
	e.awaitRegistration(t, namespace, name, func(ctx context.Context) error { return api.Delete(ctx, name, metav1.DeleteOptions{}) })
}

func inNamespace(namespace string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}}
}

// markerHook is the marker webhook of configuration name: it matches only ConfigMaps labelled
// with the configuration's name, in namespace, and the marker server denies them.
func markerHook(name, namespace string) admissionregistrationv1.ValidatingWebhook {
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	timeout := int32(5)
	url := marker().URL + "/marker"
	return admissionregistrationv1.ValidatingWebhook{
		Name:                    "marker.kubetest.bollard.dev",
		ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: CABundle(marker())},
		Rules:                   []admissionregistrationv1.RuleWithOperations{configMapCreate()},
		ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{markerLabel: name}},
		NamespaceSelector:       inNamespace(namespace),
		SideEffects:             &none,
		FailurePolicy:           &fail,
		TimeoutSeconds:          &timeout,
		AdmissionReviewVersions: []string{"v1"},
	}
}

// awaitRegistration waits until the API server calls configuration name, and at the end of the
// test deletes it and waits until the API server no longer does.
func (e *Env) awaitRegistration(t testing.TB, namespace, name string, del func(context.Context) error) {
	t.Helper()
	t.Cleanup(func() {
		if err := del(context.Background()); err != nil {
			t.Errorf("delete webhook configuration %s: %v", name, err)
			return
		}
		e.Eventually(t, 30*time.Second, "webhook configuration "+name+" to be unloaded", func(ctx context.Context) (bool, error) {
			denied, err := e.markerDenied(ctx, namespace, name)
			return !denied, err
		})
	})
	e.Eventually(t, 30*time.Second, "the API server to call webhook configuration "+name, func(ctx context.Context) (bool, error) {
		return e.markerDenied(ctx, namespace, name)
	})
}

// markerDenied reports whether a dry-run create of the marker ConfigMap is denied by the marker.
func (e *Env) markerDenied(ctx context.Context, namespace, config string) (bool, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "marker-",
		Labels:       map[string]string{markerLabel: config},
	}}
	_, err := e.Clientset.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		return false, nil
	}
	if strings.Contains(err.Error(), markerMessage) {
		return true, nil
	}
	return false, err
}

func configMapCreate() admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{
			APIGroups:   []string{""},
			APIVersions: []string{"v1"},
			Resources:   []string{"configmaps"},
		},
	}
}
