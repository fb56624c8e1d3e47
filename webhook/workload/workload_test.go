package workload

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func obj(kind string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": kind,
		"metadata": map[string]any{"name": "x", "annotations": map[string]any{"a": "workload"}},
		"spec":     spec,
	}}
}

func container(image string) map[string]any {
	return map[string]any{"containers": []any{map[string]any{"name": "c", "image": image}}}
}

func TestFromObjectFindsThePodTemplate(t *testing.T) {
	template := map[string]any{"metadata": map[string]any{"annotations": map[string]any{"b": "template"}}, "spec": container("img:1")}
	cases := []struct {
		kind, path string
		spec       map[string]any
	}{
		{"Pod", "spec", container("img:1")},
		{"Deployment", "spec.template.spec", map[string]any{"replicas": int64(3), "template": template}},
		{"StatefulSet", "spec.template.spec", map[string]any{"template": template}},
		{"CronJob", "spec.jobTemplate.spec.template.spec", map[string]any{"schedule": "@daily", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			w, err := FromObject(obj(tc.kind, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			cs := w.Containers()
			if w.SpecPath != tc.path || len(cs) != 1 || cs[0].Image != "img:1" || cs[0].Path != tc.path+".containers[c]" {
				t.Errorf("path %q, containers %+v", w.SpecPath, cs)
			}
			if v, _ := w.Annotation("a"); v != "workload" {
				t.Errorf("workload annotation = %q", v)
			}
			if w.Rest == nil {
				t.Error("no spec to compare updates with")
			}
		})
	}
}

func TestFromObjectErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		o    *unstructured.Unstructured
		want string
	}{
		"no template":      {obj("Deployment", map[string]any{"replicas": int64(1)}), "spec.template is missing"},
		"template not map": {obj("Deployment", map[string]any{"template": "x"}), "spec.template"},
		"containers wrong": {obj("Pod", map[string]any{"containers": "x"}), "spec"},
		"unsupported kind": {obj("Service", map[string]any{}), "carries no pod template"},
		"spec not a map":   {&unstructured.Unstructured{Object: map[string]any{"kind": "Pod", "spec": 7}}, "spec"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := FromObject(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FromObject = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCustomKinds: registered custom resources are found by group and kind (Knative's Service is
// not the core Service), their template decoded at the path given; one without a template is
// ErrNoTemplate; kinds are parsed from and printed to the flag's form; a built-in cannot be
// redefined.
func TestCustomKinds(t *testing.T) {
	if err := Register(DefaultCustom...); err != nil {
		t.Fatal(err)
	}
	if Supported("v1", "Service") || !Supported("serving.knative.dev/v1", "Service") || !Supported("argoproj.io/v1alpha1", "Rollout") || Supported("example.com/v1", "Rollout") {
		t.Error("custom kinds are not told apart by group")
	}
	ksvc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": map[string]any{"name": "hello"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containerConcurrency": int64(10),
			"containers": []any{map[string]any{"image": "ghcr.io/knative/helloworld-go:latest"}}}}}}}
	w, err := FromObject(ksvc)
	if err != nil || len(w.Spec.Containers) != 1 || w.Spec.Containers[0].Image != "ghcr.io/knative/helloworld-go:latest" || w.SpecPath != "spec.template.spec" {
		t.Fatalf("Knative Service: %+v %v", w, err)
	}
	ro := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": map[string]any{"name": "r"},
		"spec": map[string]any{"workloadRef": map[string]any{"kind": "Deployment", "name": "web"}}}}
	if _, err := FromObject(ro); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("Rollout with a workloadRef: %v, want ErrNoTemplate", err)
	}
	for _, k := range DefaultCustom {
		back, err := ParseKind(k.String())
		if err != nil || back.String() != k.String() {
			t.Errorf("%s round-trips to %s (%v)", k, back, err)
		}
	}
	for _, bad := range []string{"argoproj.io/rollouts/Rollout=spec.template", "a/b/c/D=", "a/b/c/D=spec..template", "a/b/c/D"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
	}
	if err := Register(Kind{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", TemplatePath: []string{"spec"}}); err == nil {
		t.Error("a built-in kind was redefined")
	}
}
