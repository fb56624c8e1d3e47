package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/internal/manifest"
)

// InstallCRDs applies the CustomResourceDefinitions in the YAML files matching glob (server-side
// apply: a cluster kept between runs gets the current schema) and waits until the API server
// serves them.
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
		//nolint:staticcheck // client.Apply with an unstructured object is the simple form here
		if err := e.Client.Patch(ctx, o.Unstructured, client.Apply, client.ForceOwnership, client.FieldOwner("bollard-tests")); err != nil {
			t.Fatalf("apply CRD %s: %v", o.GetName(), err)
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
