package imagesig

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"bollard.dev/bollard/internal/manifest"
)

const upstream = "testdata/policy-controller-v0.15.1"

// TestUpstreamPoliciesAccepted reads sigstore policy-controller's own example and test policies,
// unchanged, in both versions it serves: every one policy-controller accepts is read, converted and
// validated, and compiles either to a policy bollard evaluates or to a problem that names each
// unsupported field (a policy bollard cannot evaluate fails closed for the images it matches).
func TestUpstreamPoliciesAccepted(t *testing.T) {
	secrets := func(ns, name string) (*corev1.Secret, error) {
		return nil, os.ErrNotExist
	}
	// An example that is a template: its KMS ARN holds "<< region >>" placeholders, which
	// policy-controller's validation (the same code) refuses until they are filled in.
	templates := map[string]string{"signed-by-aws-kms-key.yaml": "spec.authorities[0].key.kms"}
	var files, v1alpha1, evaluated int
	for _, dir := range []string{"examples", "valid", "e2e"} {
		objs, err := manifest.Load(filepath.Join(upstream, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() != "ClusterImagePolicy" {
				continue
			}
			files++
			if o.GetAPIVersion() == "policy.sigstore.dev/v1alpha1" {
				v1alpha1++
			}
			cip, err := FromUnstructured(o.Object)
			if err != nil {
				t.Errorf("%s: %v", o.Source, err)
				continue
			}
			_, err = Validate(context.Background(), cip, "")
			if field, ok := templates[filepath.Base(strings.Split(o.Source, ":")[0])]; ok {
				if err == nil || !strings.Contains(err.Error(), field) {
					t.Errorf("%s: a template with placeholders: want it refused naming %s, got %v", o.Source, field, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: policy-controller accepts it, bollard refuses: %v", o.Source, err)
				continue
			}
			p := Compile(cip, secrets)
			if p.Problem == "" {
				evaluated++
				continue
			}
			if !regexp.MustCompile(`spec\.(authorities\[\d+\]|policy|match)`).MatchString(p.Problem) {
				t.Errorf("%s: problem names no field: %s", o.Source, p.Problem)
			}
			t.Logf("%s: %s", o.Source, p.Problem)
		}
	}
	if files < 55 || v1alpha1 == 0 {
		t.Fatalf("read %d policies (%d v1alpha1): the vendored copy is incomplete", files, v1alpha1)
	}
	t.Logf("%d upstream policies (%d v1alpha1) accepted; %d evaluated as they are", files, v1alpha1, evaluated)
}

// TestUpstreamInvalidPoliciesRefused: each of policy-controller's invalid test policies is refused,
// and the error names the field(s) its "# ERROR:" line names.
func TestUpstreamInvalidPoliciesRefused(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(upstream, "invalid", "*.yaml"))
	if err != nil || len(paths) < 30 {
		t.Fatalf("%d invalid policies: %v", len(paths), err)
	}
	field := regexp.MustCompile(`spec\.[A-Za-z0-9_.\[\]-]+`)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := manifest.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var why error
			for _, o := range objs {
				cip, err := FromUnstructured(o.Object)
				if err == nil {
					_, err = Validate(context.Background(), cip, "")
				}
				if err != nil {
					why = err
				}
			}
			if why == nil {
				t.Fatalf("accepted; policy-controller refuses it")
			}
			_, want, _ := strings.Cut(string(data), "# ERROR:")
			want, _, _ = strings.Cut(want, "\n")
			for _, f := range field.FindAllString(want, -1) {
				if !strings.Contains(strings.ToLower(why.Error()), strings.ToLower(strings.TrimSuffix(f, "."))) {
					t.Errorf("error %q does not name %s (upstream: %s)", why, f, strings.TrimSpace(want))
				}
			}
		})
	}
}
