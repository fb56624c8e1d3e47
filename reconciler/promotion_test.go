package reconciler

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"bollard.dev/bollard/api/v1alpha1"
)

func TestPromotionPins(t *testing.T) {
	d1 := "sha256:" + strings.Repeat("a", 64)
	d2 := "sha256:" + strings.Repeat("b", 64)
	ok := func(image, digest string) v1alpha1.ArtifactEvidence {
		return v1alpha1.ArtifactEvidence{Image: image, Digest: digest, Verified: true}
	}
	for _, tc := range []struct {
		name string
		log  v1alpha1.DeploymentLog
		pins string
		err  string
	}{
		{"tags and digests, one pin per image, sorted",
			v1alpha1.DeploymentLog{ID: 4, Status: "SUCCESS", Evidence: []v1alpha1.ArtifactEvidence{ok("reg:5000/shop/web:v2", d2), ok("reg:5000/shop/api@"+d1, d1), ok("reg:5000/shop/web:v2", d2)}},
			"reg:5000/shop/api@" + d1 + ",reg:5000/shop/web@" + d2, ""},
		{"rolled back", v1alpha1.DeploymentLog{ID: 5, Revision: "abcdef123", Status: "ROLLED_BACK", Evidence: []v1alpha1.ArtifactEvidence{ok("r/web:v3", d1)}},
			"", "Deployment Log #5 (revision abcdef1) ended ROLLED_BACK, not SUCCESS"},
		{"refused", v1alpha1.DeploymentLog{ID: 6, Status: "REFUSED"}, "", "ended REFUSED"},
		{"verification off", v1alpha1.DeploymentLog{ID: 7, Status: "SUCCESS"}, "", "holds no verified digest"},
		{"two digests of one repository", v1alpha1.DeploymentLog{ID: 9, Status: "SUCCESS", Evidence: []v1alpha1.ArtifactEvidence{ok("r/web:v3", d1), ok("r/web:v4", d2)}},
			"", "ran two digests of r/web"},
		{"one image not verified", v1alpha1.DeploymentLog{ID: 8, Status: "SUCCESS", Evidence: []v1alpha1.ArtifactEvidence{ok("r/web:v3", d1),
			{Image: "r/side:1", Digest: d2, Reason: "enforce mode: no signatures found"}}},
			"", "image r/side:1 of Deployment Log #8 was never verified there: enforce mode: no signatures found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins, err := PromotionPins(tc.log)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(pins, ",") != tc.pins {
				t.Fatalf("pins %v, err %v; want %s", pins, err, tc.pins)
			}
		})
	}
}

// TestPinArtifactList: a pin list sets each repository's containers to its digest; a pin whose
// repository no container runs is an error naming it.
func TestPinArtifactList(t *testing.T) {
	d := "sha256:" + strings.Repeat("c", 64)
	var dep map[string]any
	if err := yaml.Unmarshal([]byte(`{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {template: {spec: {containers: [
	  {name: web, image: "reg/shop/web:v1"}, {name: api, image: "reg/shop/api:v1"}, {name: side, image: "reg/other/side:1"}]}}}}`), &dep); err != nil {
		t.Fatal(err)
	}
	targets := []*unstructured.Unstructured{{Object: dep}}
	if err := pinArtifact(targets, "reg/shop/web@"+d+", reg/shop/api@"+d); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(images(targets), " "); got != "reg/shop/web@"+d+" reg/shop/api@"+d+" reg/other/side:1" {
		t.Errorf("images %s", got)
	}
	if err := pinArtifact(targets, "reg/shop/web@"+d+",reg/gone/x@"+d); err == nil || !strings.Contains(err.Error(), "no container of the revision runs an image of reg/gone/x") {
		t.Errorf("err = %v", err)
	}
}

// TestAnnotationsPatch: values are set, "" removes the annotation (JSON null in the merge patch).
func TestAnnotationsPatch(t *testing.T) {
	data, err := AnnotationsPatch(map[string]string{"a": "x\"y", "b": ""}).Data(nil)
	if err != nil || string(data) != `{"metadata":{"annotations":{"a":"x\"y","b":null}}}` {
		t.Errorf("patch %s, %v", data, err)
	}
}
