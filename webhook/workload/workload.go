// Package workload finds the pod template in the objects the gate checks: Pods, Deployments,
// StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs.
package workload

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Workload is the part of an object that says what runs.
type Workload struct {
	Kind string
	Meta metav1.ObjectMeta
	// Template is the pod template's metadata (the Pod's own for a Pod).
	Template metav1.ObjectMeta
	Spec     corev1.PodSpec
	// SpecPath is where Spec sits in the object, for messages: "spec.template.spec".
	SpecPath string
	// Replicas is spec.replicas where the kind has it (nil when unset or not applicable).
	Replicas *int64
	// Rest is the object's spec without replicas, to tell a real change from a scale.
	Rest map[string]any
}

// templatePaths says where each kind keeps its pod template.
var templatePaths = map[string][]string{
	"Pod":                   nil,
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// Supported reports whether kind carries a pod template the gate understands.
func Supported(kind string) bool {
	_, ok := templatePaths[kind]
	return ok
}

// FromObject decodes the workload view of obj. Errors name the field that does not decode.
func FromObject(obj *unstructured.Unstructured) (*Workload, error) {
	kind := obj.GetKind()
	path, ok := templatePaths[kind]
	if !ok {
		return nil, fmt.Errorf("kind %s carries no pod template", kind)
	}
	w := &Workload{Kind: kind}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mustMap(obj.Object["metadata"]), &w.Meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if path == nil {
		w.Template, w.SpecPath = w.Meta, "spec"
		spec, _, err := unstructured.NestedMap(obj.Object, "spec")
		if err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &w.Spec); err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
		w.Rest = spec
		return w, nil
	}
	tmpl, found, err := unstructured.NestedMap(obj.Object, path...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	if !found {
		return nil, fmt.Errorf("%s is missing", strings.Join(path, "."))
	}
	var pt corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pt); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(path, "."), err)
	}
	w.Template, w.Spec, w.SpecPath = pt.ObjectMeta, pt.Spec, strings.Join(path, ".")+".spec"
	if r, found, err := unstructured.NestedFieldNoCopy(obj.Object, "spec", "replicas"); err == nil && found {
		switch n := r.(type) {
		case int64:
			w.Replicas = &n
		case float64:
			v := int64(n)
			w.Replicas = &v
		}
	}
	if spec, ok := obj.Object["spec"].(map[string]any); ok {
		w.Rest = make(map[string]any, len(spec))
		for k, v := range spec {
			if k != "replicas" {
				w.Rest[k] = v
			}
		}
	}
	return w, nil
}

func mustMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// Annotation returns the workload's annotation, or else its pod template's.
func (w *Workload) Annotation(key string) (string, bool) {
	if v, ok := w.Meta.Annotations[key]; ok {
		return v, true
	}
	v, ok := w.Template.Annotations[key]
	return v, ok
}

// Containers returns init, regular and ephemeral containers with the path of each.
func (w *Workload) Containers() []Container {
	var out []Container
	for _, c := range w.Spec.InitContainers {
		out = append(out, Container{Container: c, Path: fmt.Sprintf("%s.initContainers[%s]", w.SpecPath, c.Name)})
	}
	for _, c := range w.Spec.Containers {
		out = append(out, Container{Container: c, Path: fmt.Sprintf("%s.containers[%s]", w.SpecPath, c.Name)})
	}
	for _, c := range w.Spec.EphemeralContainers {
		out = append(out, Container{Container: corev1.Container(c.EphemeralContainerCommon), Path: fmt.Sprintf("%s.ephemeralContainers[%s]", w.SpecPath, c.Name)})
	}
	return out
}

// ImageField is where one container's image sits in the object, as a JSON pointer for a patch.
type ImageField struct {
	Pointer string // "/spec/template/spec/containers/0/image"
	Image   string
}

// ImageFields lists the images of init, regular and ephemeral containers with their JSON pointers.
func (w *Workload) ImageFields() []ImageField {
	base := "/" + strings.ReplaceAll(w.SpecPath, ".", "/")
	var out []ImageField
	for i, c := range w.Spec.InitContainers {
		out = append(out, ImageField{Pointer: fmt.Sprintf("%s/initContainers/%d/image", base, i), Image: c.Image})
	}
	for i, c := range w.Spec.Containers {
		out = append(out, ImageField{Pointer: fmt.Sprintf("%s/containers/%d/image", base, i), Image: c.Image})
	}
	for i, c := range w.Spec.EphemeralContainers {
		out = append(out, ImageField{Pointer: fmt.Sprintf("%s/ephemeralContainers/%d/image", base, i), Image: c.Image})
	}
	return out
}

// Container is a container with its path in the object.
type Container struct {
	corev1.Container
	Path string
}
