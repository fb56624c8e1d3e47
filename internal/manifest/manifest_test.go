package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFolder(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b/app.yaml", `# the app
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
---
`)
	write(t, dir, "a.json", `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}`)
	write(t, dir, "README.md", "not a manifest")
	objs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+" "+o.GetName()+" @"+strings.TrimPrefix(o.Source, dir+"/"))
	}
	want := []string{"Namespace shop @a.json:1", "Deployment web @b/app.yaml:2", "ConfigMap cfg @b/app.yaml:6"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("loaded %q, want %q", got, want)
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ content, want string }{
		"bad.yaml":    {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   labels: x\n", "bad.yaml:9:"},
		"nokind.yaml": {"metadata: {name: a}\n", "nokind.yaml:1: document has no apiVersion and kind"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, dir, name, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
}

// FuzzParse: any file content (YAML streams, JSON, lists) parses to objects that each have a kind
// and an apiVersion and a source line, or fails with an error — never a panic.
func FuzzParse(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: s}}]\n")
	f.Add(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w"},"spec":{"replicas":1e400}}`)
	f.Add("---\n---\n# only a comment\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: &a {name: *a}\n")
	f.Add("a: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[")
	f.Fuzz(func(t *testing.T, content string) {
		objs, err := Parse("x.yaml", []byte(content))
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.GetKind() == "" || o.GetAPIVersion() == "" || !strings.HasPrefix(o.Source, "x.yaml:") {
				t.Errorf("object %v from %s lacks kind, apiVersion or source", o.Object, o.Source)
			}
			_ = o.DeepCopy()
		}
	})
}
