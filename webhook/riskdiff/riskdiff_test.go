package riskdiff

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/webhook/workload"
)

const secretValue = "postgres://app:s3cr3t-pa55@db.prod:5432/shop"

func base() *appsv1.Deployment {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(3)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name:  "web",
					Image: "registry.local/web@sha256:" + strings.Repeat("a", 64),
					Env: []corev1.EnvVar{
						{Name: "DATABASE_URL", Value: secretValue},
						{Name: "LOG_LEVEL", Value: "info"},
						{Name: "API_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "api"}, Key: "token"}}},
					},
					EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shared"}}}},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
					},
					LivenessProbe:  probe,
					ReadinessProbe: probe,
				}},
				Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "web-tls"}}}},
			}},
		},
	}
}

func toWorkload(t *testing.T, d *appsv1.Deployment) *workload.Workload {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		t.Fatal(err)
	}
	w, err := workload.FromObject(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestClassify(t *testing.T) {
	const c = "spec.template.spec.containers[web]"
	cases := []struct {
		name   string
		change func(d *appsv1.Deployment)
		opts   Options
		want   []Change
	}{
		{"nothing risky", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Env[1].Value = "debug" }, Options{}, nil},
		{"database URL changed by name", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env[0].Value = "postgres://app:n3w@db.other:5432/shop"
		}, Options{}, []Change{{v1alpha1.ChangeDatabaseURL, c + ".env[DATABASE_URL]", "database URL value changed"}}},
		{"database URL recognised by value shape", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env,
				corev1.EnvVar{Name: "PRIMARY", Value: "app:pw@tcp(db:3306)/shop"})
		}, Options{}, []Change{{v1alpha1.ChangeDatabaseURL, c + ".env[PRIMARY]", "database URL added"}}},
		{"database URL by a policy's name pattern", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "STORE_ENDPOINT", Value: "store:1"})
		}, Options{DatabaseEnvNames: []*regexp.Regexp{regexp.MustCompile("^STORE_")}},
			[]Change{{v1alpha1.ChangeDatabaseURL, c + ".env[STORE_ENDPOINT]", "database URL added"}}},
		{"database URL removed", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env = d.Spec.Template.Spec.Containers[0].Env[1:]
		}, Options{}, []Change{{v1alpha1.ChangeDatabaseURL, c + ".env[DATABASE_URL]", "database URL removed"}}},
		{"secretKeyRef changed", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env[2].ValueFrom.SecretKeyRef.Name = "api-v2"
		}, Options{}, []Change{{v1alpha1.ChangeSecretRef, c + ".env[API_TOKEN]", "secret reference changed: api/token → api-v2/token"}}},
		{"envFrom secret changed", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].EnvFrom[0].SecretRef.Name = "shared-v2"
		}, Options{}, []Change{{v1alpha1.ChangeSecretRef, c + ".envFrom", "secrets read as env changed: [shared] → [shared-v2]"}}},
		{"secret volume changed", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Volumes[0].Secret.SecretName = "web-tls-2027"
		}, Options{}, []Change{{v1alpha1.ChangeSecretRef, "spec.template.spec.volumes[tls]", "secret volume changed: web-tls → web-tls-2027"}}},
		{"cpu request quadrupled", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("2")
		}, Options{}, []Change{{v1alpha1.ChangeResources, c + ".resources.requests.cpu", "cpu request 500m → 2 (+300%)"}}},
		{"memory limit within threshold", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("640Mi")
		}, Options{}, nil},
		{"memory limit beyond a tighter threshold", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("640Mi")
		}, Options{ResourceChangePercent: 10}, []Change{{v1alpha1.ChangeResources, c + ".resources.limits.memory", "memory limit 512Mi → 640Mi (+25%)"}}},
		{"memory limit removed", func(d *appsv1.Deployment) {
			delete(d.Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
		}, Options{}, []Change{{v1alpha1.ChangeResources, c + ".resources.limits.memory", "memory limit removed (was 512Mi)"}}},
		{"probes removed", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].LivenessProbe = nil
			d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil
		}, Options{}, []Change{
			{v1alpha1.ChangeProbeRemoved, c + ".livenessProbe", "liveness probe removed"},
			{v1alpha1.ChangeProbeRemoved, c + ".readinessProbe", "readiness probe removed"},
		}},
		{"scaled to zero", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(0)) }, Options{},
			[]Change{{v1alpha1.ChangeScaleToZero, "spec.replicas", "replicas set to 0 (was 3)"}}},
		{"image by tag", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "registry.local/web:v2" }, Options{},
			[]Change{{v1alpha1.ChangeImageTag, c + ".image", "image registry.local/web:v2 is given by tag, not by digest"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur := base()
			tc.change(cur)
			got := Classify(toWorkload(t, base()), toWorkload(t, cur), tc.opts)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Classify =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			for _, ch := range got {
				if strings.Contains(ch.Detail, "s3cr3t") || strings.Contains(ch.Detail, "n3w") {
					t.Errorf("a change message shows a secret value: %q", ch.Detail)
				}
			}
		})
	}
}

func TestScaleFromZeroIsNotRisky(t *testing.T) {
	old, cur := base(), base()
	old.Spec.Replicas = ptr.To(int32(0))
	cur.Spec.Replicas = ptr.To(int32(0))
	if got := Classify(toWorkload(t, old), toWorkload(t, cur), Options{}); len(got) != 0 {
		t.Errorf("staying at zero classified as %+v", got)
	}
}

// FuzzClassify: any two objects of a pod-bearing kind (as JSON from a review) are classified
// without panicking, each change naming a class and a path.
func FuzzClassify(f *testing.F) {
	m, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(base())
	m["kind"] = "Deployment"
	d, _ := json.Marshal(m)
	f.Add(d, d)
	f.Add(d, []byte(strings.Replace(string(d), `"image"`, `"IMAGE"`, 1)))
	f.Add([]byte(`{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"DATABASE_URL","value":"x"}],"resources":{"limits":{"cpu":"1"}}}]}}}}`),
		[]byte(`{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"DATABASE_URL","valueFrom":null}],"resources":{"limits":{"cpu":"1e9"}}}],"volumes":[{"projected":{"sources":[null]}}]}}}}`))
	f.Fuzz(func(t *testing.T, oldJSON, curJSON []byte) {
		var o, c map[string]any
		if json.Unmarshal(oldJSON, &o) != nil || json.Unmarshal(curJSON, &c) != nil {
			return
		}
		ow, err := workload.FromObject(&unstructured.Unstructured{Object: o})
		if err != nil {
			return
		}
		cw, err := workload.FromObject(&unstructured.Unstructured{Object: c})
		if err != nil {
			return
		}
		for _, ch := range Classify(ow, cw, Options{}) {
			if ch.Class == "" || ch.Path == "" {
				t.Errorf("change %+v", ch)
			}
		}
	})
}
