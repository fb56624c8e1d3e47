package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

const shopRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: shop
spec:
  parentRefs: [{name: gateway}]
  rules:
  - backendRefs: [{name: web, port: 80}]
`

// TestCanaryHTTPRoute: with a Gateway API HTTPRoute (the real CRD, v1.4.0) the canary's share
// of requests is set exactly by backend weights at each step — the stable Service pinned to the
// running version, a canary Service for the new one — and the route is git's again once promoted.
func TestCanaryHTTPRoute(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 4)
	env, ns := f.env, f.ns
	ctx := context.Background()
	env.InstallCRDs(t, "testdata/gateway-api/*.yaml")
	first := f.repo.commit(t, "web Service and route", map[string]string{"svc.yaml": webService, "route.yaml": shopRoute})
	f.create(t, v1alpha1.ReleaseSpec{Strategy: &v1alpha1.Strategy{Type: "canary", Steps: []int32{10, 50, 100}, HTTPRoute: "shop"}})
	if r := f.ended(t, first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	weights := func() (map[string]int64, error) {
		route := &unstructured.Unstructured{}
		route.SetAPIVersion("gateway.networking.k8s.io/v1")
		route.SetKind("HTTPRoute")
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, route); err != nil {
			return nil, err
		}
		rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
		out := map[string]int64{}
		for _, ref := range rules[0].(map[string]any)["backendRefs"].([]any) {
			m := ref.(map[string]any)
			w, _ := m["weight"].(int64)
			out[m["name"].(string)] = w
		}
		return out, nil
	}
	second := f.commitAndPush(t, "v2", 4)
	seen := map[string]bool{}
	env.Eventually(t, 60*time.Second, "weights 90/10, then 50/50", func(context.Context) (bool, error) {
		w, err := weights()
		if err != nil {
			return false, err
		}
		var svc corev1.Service
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &svc); err != nil {
			return false, err
		}
		if w["web"] == 90 && w["web-canary"] == 10 && svc.Spec.Selector["app.kubernetes.io/version"] == "v1" {
			seen["10"] = true
		}
		if w["web"] == 50 && w["web-canary"] == 50 {
			seen["50"] = true
		}
		return seen["10"] && seen["50"], nil
	})
	r := f.ended(t, second)
	got := stepsOf(latestLog(t, r))
	if r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(got, "canary 10% OK: 10% of requests by HTTPRoute shop (exact weights)") {
		t.Fatalf("rollout %+v: %s", r.Status.Rollout, got)
	}
	env.Eventually(t, 30*time.Second, "git's route and Service again, canary gone", func(context.Context) (bool, error) {
		w, err := weights()
		if err != nil {
			return false, err
		}
		var svc corev1.Service
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &svc); err != nil {
			return false, err
		}
		canarySvc := apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &corev1.Service{}))
		canaryDep := apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &appsv1.Deployment{}))
		_, web := w["web"] // the API server defaults the weight to 1
		return len(w) == 1 && web && len(svc.Spec.Selector) == 1 && canarySvc && canaryDep && f.image() == "registry.local/shop/web:v2", nil
	})
}
