package reconciler

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"bollard.dev/bollard/api/v1alpha1"
)

func TestVersionOf(t *testing.T) {
	for image, want := range map[string]string{
		"registry.local/shop/web:v2":                           "v2",
		"registry.local:5000/shop/web":                         "latest",
		"registry.local:5000/shop/web:1.4@sha256:0123456789ab": "1.4",
		"registry.local/shop/web@sha256:0123456789abcdef0123":  "0123456789ab",
	} {
		if got := versionOf(image); got != want {
			t.Errorf("versionOf(%s) = %s, want %s", image, got, want)
		}
	}
}

func TestTagVersions(t *testing.T) {
	var dep, cron, cm map[string]any
	for doc, into := range map[string]*map[string]any{
		`{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {template: {spec: {containers: [
		  {name: web, image: "r/web:v7", env: [{name: OTEL_RESOURCE_ATTRIBUTES, value: "team=shop,service.version=old"}]},
		  {name: proxy, image: "r/proxy:3"}]}}}}`: &dep,
		`{apiVersion: batch/v1, kind: CronJob, metadata: {name: report}, spec: {jobTemplate: {spec: {template: {metadata: {labels: {app.kubernetes.io/version: "2026.11"}},
		  spec: {containers: [{name: r, image: "r/report:9"}]}}}}}}`: &cron,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}`: &cm,
	} {
		if err := yaml.Unmarshal([]byte(doc), into); err != nil {
			t.Fatal(err)
		}
	}
	objs := []*unstructured.Unstructured{{Object: cm}, {Object: dep}, {Object: cron}}
	first, err := tagVersions(objs)
	if err != nil || first != "v7" {
		t.Fatalf("first version %q, %v", first, err)
	}
	d := objs[1]
	labels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	annotations, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "annotations")
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	env := func(i int) string {
		return strings.Replace(strings.TrimPrefix(fmtAny(containers[i].(map[string]any)["env"]), "["), "]", "", 1)
	}
	if labels[LabelVersion] != "v7" || d.GetLabels()[LabelVersion] != "v7" || annotations[AnnotationDigest] != "r/web:v7,r/proxy:3" {
		t.Errorf("deployment tags: labels %v, object labels %v, annotations %v", labels, d.GetLabels(), annotations)
	}
	if !strings.Contains(env(0), "team=shop,service.version=v7") || strings.Contains(env(0), "old") || !strings.Contains(env(1), "service.version=v7") {
		t.Errorf("OTEL_RESOURCE_ATTRIBUTES: %s | %s", env(0), env(1))
	}
	if s, _, _ := unstructured.NestedMap(d.Object, "spec", "strategy", "rollingUpdate"); s["maxUnavailable"] != int64(0) || s["maxSurge"] != "25%" {
		t.Errorf("rolling defaults %v", s)
	}
	cl, _, _ := unstructured.NestedStringMap(objs[2].Object, "spec", "jobTemplate", "spec", "template", "metadata", "labels")
	if cl[LabelVersion] != "2026.11" {
		t.Errorf("a version git sets is kept: %v", cl)
	}
	if _, found, _ := unstructured.NestedMap(objs[0].Object, "metadata", "labels"); found {
		t.Error("a ConfigMap got version labels")
	}
}

func fmtAny(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

func TestRenderSpecReleaseName(t *testing.T) {
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	if got := renderSpec(rel).ReleaseName; got != "shop" {
		t.Errorf("default Helm release name %q, want the Release's", got)
	}
	rel.Spec.Render.ReleaseName = "podinfo"
	if got := renderSpec(rel).ReleaseName; got != "podinfo" {
		t.Errorf("release name %q, want the one given", got)
	}
}
