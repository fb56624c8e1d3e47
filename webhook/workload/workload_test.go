package workload

import (
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
