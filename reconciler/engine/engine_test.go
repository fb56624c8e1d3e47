package engine

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

const target = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  replicas: 2
  template:
    spec:
      containers: [{name: web, image: "web:v1"}]
`

// Drift with gitops-engine's diff: what git sets and live changed is drift; what only the API
// server or other writers added (defaults, status, annotations of their own) is not.
func TestDrift(t *testing.T) {
	for _, tc := range []struct {
		name, live, want string
	}{
		{"in sync, defaults and status added by the server", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}, resourceVersion: "7", annotations: {deployment.kubernetes.io/revision: "1"}}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  template:
    spec:
      containers: [{name: web, image: "web:v1", imagePullPolicy: IfNotPresent}]
status: {replicas: 2}
`, ""},
		{"scaled", strings.Replace(target, "replicas: 2", "replicas: 5", 1), "spec.replicas"},
		{"image changed", strings.Replace(target, "web:v1", "web:hotfix", 1), "spec.template.spec.containers"},
		{"label changed", strings.Replace(target, "labels: {app: web}", "labels: {app: other}", 1), "metadata.labels.app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Drift(context.Background(), obj(t, target), obj(t, tc.live))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("drift %v, want %q", got, tc.want)
			}
		})
	}
}
