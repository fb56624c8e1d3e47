package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/internal/manifest"
)

// InstallCRDs creates the CustomResourceDefinitions in the YAML files matching glob (those that
// exist already are kept) and waits until the API server serves them.
func (e *Env) InstallCRDs(t testing.TB, glob string) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRD files match %s (%v)", glob, err)
	}
	objs, err := manifest.Load(files...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range objs {
		if err := e.Client.Create(ctx, o.Unstructured); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create CRD %s: %v", o.GetName(), err)
		}
		name := o.GetName()
		e.Eventually(t, 30*time.Second, "CRD "+name+" Established", func(ctx context.Context) (bool, error) {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(o.GroupVersionKind())
			if err := e.Client.Get(ctx, clientKey(name), crd); err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, fmt.Errorf("CRD %s not Established yet", name)
		})
	}
}
