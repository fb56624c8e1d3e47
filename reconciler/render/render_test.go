package render

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/source"
)

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata: {a: b}\n"

func names(objs []Object) string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(out, ",")
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files source.Files
		spec  v1alpha1.Render
		want  string // objects, or the error
		err   bool
	}{
		{"directory, name order, subfolders, non-manifests skipped",
			source.Files{"b.yaml": []byte(strings.Replace(cm, "%s", "b", 1)), "a/x.yml": []byte(strings.Replace(cm, "%s", "ax", 1) + "---\n" + strings.Replace(cm, "%s", "ax2", 1)), "README.md": []byte("# hi")},
			v1alpha1.Render{}, "ConfigMap/ax,ConfigMap/ax2,ConfigMap/b", false},
		{"directory, broken YAML names file and line",
			source.Files{"ok.yaml": []byte(strings.Replace(cm, "%s", "ok", 1)), "web.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata: [unclosed\n")},
			v1alpha1.Render{}, "deploy/web.yaml:", true},
		{"directory without manifests", source.Files{"README.md": []byte("x")}, v1alpha1.Render{}, "no manifests", true},
		{"kustomize, detected from kustomization.yaml",
			source.Files{"kustomization.yaml": []byte("resources: [cm.yaml]\nnamePrefix: shop-\nlabels:\n- pairs: {team: shop}\n"), "cm.yaml": []byte(strings.Replace(cm, "%s", "settings", 1))},
			v1alpha1.Render{}, "ConfigMap/shop-settings", false},
		{"kustomize, missing resource is named",
			source.Files{"kustomization.yaml": []byte("resources: [gone.yaml]\n")}, v1alpha1.Render{}, "gone.yaml", true},
		{"kustomize asked for, no kustomization", source.Files{"cm.yaml": []byte(strings.Replace(cm, "%s", "x", 1))},
			v1alpha1.Render{Mode: v1alpha1.RenderKustomize}, "no kustomization.yaml", true},
		{"helm chart with values files and inline values",
			source.Files{"Chart.yaml": []byte("apiVersion: v2\nname: shop\nversion: 0.1.0\n"), "values.yaml": []byte("name: one\nsize: s\n"),
				"prod.yaml": []byte("name: two\n"), "templates/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}-{{ .Values.size }}\n"),
				"templates/NOTES.txt": []byte("hi")},
			v1alpha1.Render{Mode: v1alpha1.RenderHelm, ValuesFiles: []string{"prod.yaml"}, Values: &apiextensionsv1.JSON{Raw: []byte(`{"size":"xl"}`)}},
			"ConfigMap/two-xl", false},
		{"helm template error is named",
			source.Files{"Chart.yaml": []byte("apiVersion: v2\nname: shop\nversion: 0.1.0\n"), "templates/cm.yaml": []byte("{{ .Values.x.y.z }}")},
			v1alpha1.Render{Mode: v1alpha1.RenderHelm}, "helm template", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Render(tc.files, "deploy", tc.spec)
			switch {
			case tc.err && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one with %q", err, tc.want)
			case !tc.err && err != nil:
				t.Errorf("err = %v", err)
			case !tc.err && names(objs) != tc.want:
				t.Errorf("objects %s, want %s", names(objs), tc.want)
			}
		})
	}
}
