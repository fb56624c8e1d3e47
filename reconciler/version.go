package reconciler

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Version tagging: every workload bollard rolls out says which version it runs, so traces, logs
// and metrics can be split by version and the SLO queries select the new instances.
const (
	LabelVersion     = "app.kubernetes.io/version"
	AnnotationDigest = "bollard.dev/digest"
	envOTel          = "OTEL_RESOURCE_ATTRIBUTES"
)

// podTemplatePath is where a kind keeps its pod template.
func podTemplatePath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		return []string{"spec", "template"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template"}
	}
	return nil
}

// versionOf is the version an image names: its tag, else the start of its digest.
func versionOf(image string) string {
	ref, digest, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	if d := strings.TrimPrefix(digest, "sha256:"); d != "" {
		return d[:min(12, len(d))]
	}
	return "latest"
}

// tagVersions labels each workload and its pods with app.kubernetes.io/version (its first
// container's image version, unless git set one), annotates the pods with the images
// (bollard.dev/digest) and adds service.version to OTEL_RESOURCE_ATTRIBUTES in every container;
// Deployments without a strategy get the safe rolling defaults (maxUnavailable 0, maxSurge 25%).
// It returns the version of the first workload that is not a hook: the one the SLO queries
// select.
func tagVersions(targets []*unstructured.Unstructured) (string, error) {
	first := ""
	for _, t := range targets {
		path := podTemplatePath(t.GetKind())
		if path == nil {
			continue
		}
		tmpl, found, err := unstructured.NestedMap(t.Object, path...)
		if err != nil || !found {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(tmpl, "spec", "containers")
		if len(containers) == 0 {
			continue
		}
		var images []string
		for _, c := range containers {
			if m, ok := c.(map[string]any); ok {
				img, _ := m["image"].(string)
				images = append(images, img)
			}
		}
		labels, _, _ := unstructured.NestedStringMap(tmpl, "metadata", "labels")
		version := labels[LabelVersion]
		if version == "" {
			version = versionOf(images[0])
		}
		if first == "" && !isHook(t) { // a migration Job is not what the SLO queries select
			first = version
		}
		setString(tmpl, version, "metadata", "labels", LabelVersion)
		setString(tmpl, strings.Join(images, ","), "metadata", "annotations", AnnotationDigest)
		for i, c := range containers {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			containers[i] = withServiceVersion(m, version)
		}
		if err := unstructured.SetNestedSlice(tmpl, containers, "spec", "containers"); err != nil {
			return "", err
		}
		if err := unstructured.SetNestedMap(t.Object, tmpl, path...); err != nil {
			return "", fmt.Errorf("%s %s: %w", t.GetKind(), t.GetName(), err)
		}
		l := t.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		if l[LabelVersion] == "" {
			l[LabelVersion] = version
		}
		t.SetLabels(l)
		if t.GetKind() == "Deployment" {
			if _, found, _ := unstructured.NestedMap(t.Object, "spec", "strategy"); !found {
				_ = unstructured.SetNestedMap(t.Object, map[string]any{"type": "RollingUpdate",
					"rollingUpdate": map[string]any{"maxUnavailable": int64(0), "maxSurge": "25%"}}, "spec", "strategy")
			}
		}
	}
	return first, nil
}

func setString(obj map[string]any, value string, fields ...string) {
	m, _, _ := unstructured.NestedStringMap(obj, fields[:len(fields)-1]...)
	if m == nil {
		m = map[string]string{}
	}
	m[fields[len(fields)-1]] = value
	_ = unstructured.SetNestedStringMap(obj, m, fields[:len(fields)-1]...)
}

// withServiceVersion sets service.version in the container's OTEL_RESOURCE_ATTRIBUTES.
func withServiceVersion(c map[string]any, version string) map[string]any {
	env, _ := c["env"].([]any)
	for i, e := range env {
		m, ok := e.(map[string]any)
		if !ok || m["name"] != envOTel {
			continue
		}
		if m["valueFrom"] != nil {
			return c // set from elsewhere: not bollard's to change
		}
		value, _ := m["value"].(string)
		var attrs []string
		for _, a := range strings.Split(value, ",") {
			if a != "" && !strings.HasPrefix(strings.TrimSpace(a), "service.version=") {
				attrs = append(attrs, a)
			}
		}
		m["value"] = strings.Join(append(attrs, "service.version="+version), ",")
		env[i] = m
		c["env"] = env
		return c
	}
	c["env"] = append(env, map[string]any{"name": envOTel, "value": "service.version=" + version})
	return c
}
