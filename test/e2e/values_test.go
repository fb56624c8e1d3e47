package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
)

const valuesChart = `apiVersion: v2
name: shop
version: 1.0.0
`

const valuesTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/shop/web:{{ .Values.tag }}
`

// TestValuesChangeIsARevision: changing spec.render.values of the running commit is a new
// revision: its own Deployment Log, verified (the proof fails for v2), rolled back to the values
// last verified — not to what the broken values made — and a later good change succeeds.
func TestValuesChangeIsARevision(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	env.InstallCRDs(t, "../../charts/bollard/crds/*.yaml")
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "receiver"}, Data: map[string][]byte{"secret": []byte("k")}}); err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/v2") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(app.Close)
	repo := newGitRepo(t)
	commit := repo.commit(t, "chart", map[string]string{"chart/Chart.yaml": valuesChart, "chart/templates/web.yaml": valuesTemplate})
	startDaemon(t, env, ns, "receiver", t.TempDir())
	values := func(tag string) *apiextensionsv1.JSON {
		return &apiextensionsv1.JSON{Raw: []byte(`{"tag":"` + tag + `"}`)}
	}
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}, Spec: v1alpha1.ReleaseSpec{
		Source: v1alpha1.GitSource{URL: repo.url(), Path: "chart"}, Interval: metav1.Duration{Duration: time.Hour},
		Render: v1alpha1.Render{Mode: v1alpha1.RenderHelm, Values: values("v1")},
		Prove:  &v1alpha1.Prove{HTTP: &v1alpha1.HTTPProve{URL: app.URL + "/smoke/{{version}}"}, Timeout: &metav1.Duration{Duration: 2 * time.Second}}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	get := func() *v1alpha1.Release {
		var r v1alpha1.Release
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	image := func() string {
		var dep appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep); err != nil {
			return ""
		}
		return dep.Spec.Template.Spec.Containers[0].Image
	}
	setValues := func(tag string) {
		t.Helper()
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			r := get()
			r.Spec.Render.Values = values(tag)
			return env.Client.Update(ctx, r)
		}); err != nil {
			t.Fatal(err)
		}
	}
	// ended waits for the n-th Deployment Log to be final and returns it.
	ended := func(n int) v1alpha1.DeploymentLog {
		t.Helper()
		var l v1alpha1.DeploymentLog
		env.Eventually(t, 60*time.Second, "Deployment Log #"+string(rune('0'+n)), func(context.Context) (bool, error) {
			r := get()
			if reconciler.LatestID(r) < int64(n) || r.Status.Rollout == nil || r.Status.Rollout.Phase == "Verifying" || r.Status.Rollout.Phase == "Failing" {
				return false, nil
			}
			l = latestLog(t, r)
			return l.Status != v1alpha1.LogVerifying, nil
		})
		return l
	}
	if l := ended(1); l.Status != v1alpha1.LogSuccess || image() != "registry.local/shop/web:v1" {
		t.Fatalf("v1: %s %s, runs %s", l.Status, stepsOf(l), image())
	}
	setValues("v2")
	l := ended(2)
	if l.Revision != commit || l.Trigger != "spec" || l.Status != "ROLLED_BACK" || !strings.Contains(stepsOf(l), "prove FAIL") {
		t.Fatalf("the values change: %s trigger %s %s: %s", l.Revision[:7], l.Trigger, l.Status, stepsOf(l))
	}
	env.Eventually(t, 30*time.Second, "web back on the verified values (v1)", func(context.Context) (bool, error) {
		return image() == "registry.local/shop/web:v1", nil
	})
	setValues("v3")
	if l := ended(3); l.Status != v1alpha1.LogSuccess || image() != "registry.local/shop/web:v3" {
		t.Fatalf("v3: %s %s, runs %s", l.Status, stepsOf(l), image())
	}
}
