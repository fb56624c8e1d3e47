// Package charttest renders bollard's Helm chart in tests, with the helm CLI make test builds.
package charttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"bollard.dev/bollard/internal/manifest"
)

// Helm is the helm CLI make test builds ($BOLLARD_HELM), or one on PATH; without either the
// test fails (never skips).
func Helm(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("BOLLARD_HELM"); h != "" {
		return h
	}
	h, err := exec.LookPath("helm")
	if err != nil {
		t.Fatal("no helm CLI: make test builds one and sets BOLLARD_HELM, or put helm on PATH")
	}
	return h
}

// Render is `helm template bollard DIR ARGS…`, as objects.
func Render(t testing.TB, dir string, args ...string) []manifest.Object {
	t.Helper()
	args = append([]string{"template", "bollard", dir}, args...)
	out, err := exec.Command(Helm(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, out)
	}
	rendered := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(rendered, out, 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.Load(rendered)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
