// Package workload finds the pod template in the objects the gate checks: Pods, Deployments,
// StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs, and the custom
// resources registered (Argo Rollouts' Rollout, Knative's Service by default) — and bollard's
// ChannelRelease, whose one "container" is the OCI artifact it ships (spec.artifact.ref): the
// same policies judge an app-store bundle and an image.
package workload

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// artifact: a ChannelRelease, whose one container is spec.artifact.ref.
	artifact bool
}

// Kind is a resource whose objects carry a pod template: the built-in workloads, and custom
// resources registered with Register (Argo Rollouts' Rollout, Knative's Service, …).
type Kind struct {
	Group, Version, Resource, Kind string
	// TemplatePath is where the pod template sits, e.g. spec.template; nil: the object is a Pod.
	TemplatePath []string
}

// String is the form ParseKind reads: group/version/resource/Kind=spec.template.
func (k Kind) String() string {
	return fmt.Sprintf("%s/%s/%s/%s=%s", k.Group, k.Version, k.Resource, k.Kind, strings.Join(k.TemplatePath, "."))
}

// ParseKind reads "argoproj.io/v1alpha1/rollouts/Rollout=spec.template".
func ParseKind(s string) (Kind, error) {
	ref, path, ok := strings.Cut(strings.TrimSpace(s), "=")
	parts := strings.Split(ref, "/")
	if !ok || len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" || parts[3] == "" || path == "" {
		return Kind{}, fmt.Errorf("workload kind %q: want group/version/resource/Kind=path.to.template, e.g. argoproj.io/v1alpha1/rollouts/Rollout=spec.template", s)
	}
	k := Kind{Group: parts[0], Version: parts[1], Resource: parts[2], Kind: parts[3], TemplatePath: strings.Split(path, ".")}
	for _, f := range k.TemplatePath {
		if f == "" {
			return Kind{}, fmt.Errorf("workload kind %q: template path %q has an empty field", s, path)
		}
	}
	return k, nil
}

// DefaultCustom are the custom resources checked by default, the documented examples: Argo
// Rollouts' Rollout and Knative Serving's Service. Where their CRD is not installed the rule
// matches nothing.
var DefaultCustom = []Kind{
	{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts", Kind: "Rollout", TemplatePath: []string{"spec", "template"}},
	{Group: "serving.knative.dev", Version: "v1", Resource: "services", Kind: "Service", TemplatePath: []string{"spec", "template"}},
}

// builtin says where each built-in kind keeps its pod template.
var builtin = map[schema.GroupKind][]string{
	{Kind: "Pod"}:                        nil,
	{Group: "apps", Kind: "Deployment"}:  {"spec", "template"},
	{Group: "apps", Kind: "StatefulSet"}: {"spec", "template"},
	{Group: "apps", Kind: "DaemonSet"}:   {"spec", "template"},
	{Group: "apps", Kind: "ReplicaSet"}:  {"spec", "template"},
	{Kind: "ReplicationController"}:      {"spec", "template"},
	{Group: "batch", Kind: "Job"}:        {"spec", "template"},
	{Group: "batch", Kind: "CronJob"}:    {"spec", "jobTemplate", "spec", "template"},
}

// artifactKind carries no pod template but one artifact reference at spec.artifact.ref,
// checked as the image of one container named "artifact".
var artifactKind = schema.GroupKind{Group: "bollard.dev", Kind: "ChannelRelease"}

var (
	customMu sync.RWMutex
	custom   = map[schema.GroupKind][]string{}
)

// Register adds custom resources to the kinds the gate checks (process-wide: the webhook and the
// daemon register what their flags name at start). A built-in kind cannot be redefined.
func Register(kinds ...Kind) error {
	customMu.Lock()
	defer customMu.Unlock()
	for _, k := range kinds {
		gk := schema.GroupKind{Group: k.Group, Kind: k.Kind}
		if _, ok := builtin[gk]; ok || gk == artifactKind {
			return fmt.Errorf("workload kind %s: a built-in kind", k)
		}
		if len(k.TemplatePath) == 0 {
			return fmt.Errorf("workload kind %s: no template path", k)
		}
		custom[gk] = k.TemplatePath
	}
	return nil
}

// templatePath is where kind (of apiVersion) keeps its pod template; isCustom says it is a
// registered custom resource. An object without apiVersion, or with a core one, is looked up
// among the built-in kinds by name.
func templatePath(apiVersion, kind string) (p []string, isCustom, ok bool) {
	gk := schema.FromAPIVersionAndKind(apiVersion, kind).GroupKind()
	if gk == artifactKind {
		return []string{"spec", "artifact"}, false, true
	}
	if gk.Group == "" { // no apiVersion, or a core one: the built-in kinds by name (no core kind shares one)
		for b, p := range builtin {
			if b.Kind == kind {
				return p, false, true
			}
		}
		return nil, false, false
	}
	if p, ok := builtin[gk]; ok {
		return p, false, true
	}
	customMu.RLock()
	defer customMu.RUnlock()
	p, ok = custom[gk]
	return p, true, ok
}

// Supported reports whether an object of kind (of apiVersion) carries a pod template the gate
// understands.
func Supported(apiVersion, kind string) bool {
	_, _, ok := templatePath(apiVersion, kind)
	return ok
}

// ErrNoTemplate is FromObject's error for a custom resource without a pod template of its own
// (an Argo Rollout with a workloadRef): what it runs is checked where the template is.
var ErrNoTemplate = errors.New("no pod template of its own")

// FromObject decodes the workload view of obj. Errors name the field that does not decode.
func FromObject(obj *unstructured.Unstructured) (*Workload, error) {
	kind := obj.GetKind()
	path, isCustom, ok := templatePath(obj.GetAPIVersion(), kind)
	if !ok {
		return nil, fmt.Errorf("kind %s carries no pod template", kind)
	}
	w := &Workload{Kind: kind}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mustMap(obj.Object["metadata"]), &w.Meta); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if schema.FromAPIVersionAndKind(obj.GetAPIVersion(), kind).GroupKind() == artifactKind {
		ref, _, err := unstructured.NestedString(obj.Object, "spec", "artifact", "ref")
		if err != nil || ref == "" {
			return nil, errors.New("spec.artifact.ref: want the artifact's reference (repository@sha256:…)")
		}
		spec, _ := obj.Object["spec"].(map[string]any)
		w.Template, w.SpecPath, w.Rest, w.artifact = w.Meta, "spec.artifact", spec, true
		w.Spec.Containers = []corev1.Container{{Name: "artifact", Image: ref}}
		return w, nil
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
	if !found && isCustom {
		return nil, fmt.Errorf("%s %s: %s is absent: %w", kind, obj.GetName(), strings.Join(path, "."), ErrNoTemplate)
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
	if w.artifact {
		return []Container{{Container: w.Spec.Containers[0], Path: "spec.artifact", imagePath: "spec.artifact.ref"}}
	}
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
	if w.artifact {
		return []ImageField{{Pointer: "/spec/artifact/ref", Image: w.Spec.Containers[0].Image}}
	}
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
	// imagePath is where the image is when not at Path + ".image" (a ChannelRelease's artifact).
	imagePath string
}

// ImagePath is where the container's image sits in the object, for messages.
func (c Container) ImagePath() string {
	if c.imagePath != "" {
		return c.imagePath
	}
	return c.Path + ".image"
}
