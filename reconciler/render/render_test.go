package render

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
			objs, err := Render(at("deploy", tc.files), "deploy", tc.spec)
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

const shopApp = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/web:v1
        ports: [{containerPort: 9898}]
        resources: {limits: {cpu: 2, memory: 512Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 80, targetPort: 9898}]
  selector: {app: web}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 99}}
`

// deepCopyable fails when an object holds a value unstructured objects cannot copy (a Go int:
// the daemon panicked on every kustomize render with a number in it).
func deepCopyable(t testing.TB, objs []Object) {
	t.Helper()
	for _, o := range objs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), r)
				}
			}()
			o.DeepCopy()
		}()
	}
}

// TestRenderedNumbers: objects with integer fields come out of every render mode as the API
// machinery decodes them (int64), so they can be copied, diffed and applied.
func TestRenderedNumbers(t *testing.T) {
	for name, tc := range map[string]struct {
		files source.Files
		spec  v1alpha1.Render
	}{
		"directory": {source.Files{"app.yaml": []byte(shopApp)}, v1alpha1.Render{}},
		"kustomize": {source.Files{"kustomization.yaml": []byte("resources: [app.yaml]\nreplicas: [{name: web, count: 3}]\n"), "app.yaml": []byte(shopApp)}, v1alpha1.Render{}},
		"helm": {source.Files{"Chart.yaml": []byte("apiVersion: v2\nname: shop\nversion: 0.1.0\n"), "templates/app.yaml": []byte(shopApp)},
			v1alpha1.Render{Mode: v1alpha1.RenderHelm}},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := Render(at("deploy", tc.files), "deploy", tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if names(objs) == "" || len(objs) != 3 {
				t.Fatalf("objects %s", names(objs))
			}
			deepCopyable(t, objs)
			for _, o := range objs {
				if o.GetKind() != "Service" {
					continue
				}
				ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
				if port, ok := ports[0].(map[string]any)["port"].(int64); !ok || port != 80 {
					t.Errorf("Service port %#v, want int64 80", ports[0])
				}
			}
		})
	}
}

// FuzzRenderKustomize: whatever a kustomization and its resource hold, the render returns
// objects that can be copied, or an error — never a panic.
func FuzzRenderKustomize(f *testing.F) {
	f.Add("resources: [app.yaml]\n", shopApp)
	f.Add("resources: [app.yaml]\nnamePrefix: a-\nreplicas: [{name: web, count: 7}]\n", shopApp)
	f.Add("resources: [app.yaml]\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {n: \"1\"}\n")
	f.Add("resources: [app.yaml]\n", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1.5e3}]}\n")
	f.Fuzz(func(t *testing.T, kustomization, app string) {
		objs, err := Render(source.Files{"kustomization.yaml": []byte(kustomization), "app.yaml": []byte(app)}, "", v1alpha1.Render{})
		if err == nil {
			deepCopyable(t, objs)
		}
	})
}

// TestHermeticKustomize: a kustomization reaches nothing outside the revision — a loopback
// server it names sees no request — and the refusal names the file and the field; files of the
// revision, and URLs that are only values, render.
func TestHermeticKustomize(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stolen}\ndata: {secret: from-the-network}\n")
	}))
	defer srv.Close()
	cmFile := []byte(strings.Replace(cm, "%s", "local", 1))
	for name, tc := range map[string]struct {
		kustomization string
		want          string // "" renders
	}{
		"remote resource":        {"resources: [" + srv.URL + "/cm.yaml]\n", `deploy/kustomization.yaml: resources "` + srv.URL + `/cm.yaml" reaches outside the revision`},
		"remote base":            {"resources:\n- github.com/org/repo//base?ref=v1\n", `resources "github.com/org/repo//base?ref=v1" reaches outside`},
		"generator file by URL":  {"configMapGenerator:\n- name: meta\n  files: [token=" + srv.URL + "/latest/meta-data]\n", "configMapGenerator.files"},
		"helm chart from a repo": {"helmCharts:\n- {name: podinfo, repo: " + srv.URL + ", version: 6.0.0}\n", "helmCharts.repo"},
		"a host file":            {"configMapGenerator:\n- name: host\n  files: [/etc/hostname]\n", "/etc/hostname"},
		"files of the revision":  {"resources: [cm.yaml]\ncommonAnnotations: {docs: " + srv.URL + "/docs}\nconfigMapGenerator:\n- name: g\n  files: [cm.yaml]\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			objs, err := Render(at("deploy", source.Files{"kustomization.yaml": []byte(tc.kustomization), "cm.yaml": cmFile}), "deploy", v1alpha1.Render{})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("err = %v", err)
			case tc.want == "" && len(objs) != 2:
				t.Errorf("objects %s", names(objs))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want one with %q", err, tc.want)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the loopback server saw %d requests", n)
	}
}

// TestHelmReleaseNameAndTestHooks: .Release.Name is the name given (the daemon gives the
// Release's), and `helm test` hooks are neither rendered for apply nor pre-flighted.
func TestHelmReleaseNameAndTestHooks(t *testing.T) {
	files := source.Files{"Chart.yaml": []byte("apiVersion: v2\nname: podinfo\nversion: 6.0.0\n"),
		"templates/cm.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n"),
		"templates/tests/test.yaml": []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations: {helm.sh/hook: test}\n" +
			"spec: {containers: [{name: t, image: curl}]}\n")}
	for name, want := range map[string]string{"": "ConfigMap/podinfo-settings", "shop": "ConfigMap/shop-settings"} {
		objs, err := Render(at("chart", files), "chart", v1alpha1.Render{Mode: v1alpha1.RenderHelm, ReleaseName: name})
		if err != nil || names(objs) != want {
			t.Errorf("release name %q: objects %s (%v), want %s", name, names(objs), err, want)
		}
	}
}

// FuzzRenderDirectoryAndHelm: whatever a directory's manifest or a chart's template, values and
// Chart.yaml hold, the render returns objects that can be copied, or an error — never a panic.
func FuzzRenderDirectoryAndHelm(f *testing.F) {
	chart := "apiVersion: v2\nname: app\nversion: 0.1.0\n"
	tpl := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {n: {{ .Values.n | quote }}}\n"
	f.Add(shopApp, chart, tpl, "n: 1\n")
	f.Add("apiVersion: v1\nkind: List\nitems: [null]\n", chart, "{{ fail \"no\" }}", "")
	f.Add("", "apiVersion: v2\nname: app\nversion: not-semver\n", "{{ range $i := until 100000 }}x{{ end }}", "n: [1]\n")
	f.Add("kind: ConfigMap\n", chart, "{{ include \"x\" . }}", "n: {a: b}\n")
	f.Fuzz(func(t *testing.T, manifest, chartYAML, template, values string) {
		if objs, err := Render(source.Files{"deploy/app.yaml": []byte(manifest)}, "deploy", v1alpha1.Render{Mode: v1alpha1.RenderDirectory}); err == nil {
			deepCopyable(t, objs)
		}
		files := source.Files{"chart/Chart.yaml": []byte(chartYAML), "chart/templates/t.yaml": []byte(template), "chart/values.yaml": []byte(values)}
		if objs, err := Render(files, "chart", v1alpha1.Render{Mode: v1alpha1.RenderHelm, ReleaseName: "r"}); err == nil {
			deepCopyable(t, objs)
		}
	})
}

// at places files under dir, as a revision holds them.
func at(dir string, files source.Files) source.Files {
	out := source.Files{}
	for name, data := range files {
		out[dir+"/"+name] = data
	}
	return out
}

// TestKustomizeBasesInTheRevision: an overlay loads ../base from the same revision (Argo CD's and
// Flux's example layout); a base it reaches that names a remote resource is refused, naming that
// base's file; a path out of the repository finds nothing (no host files).
func TestKustomizeBasesInTheRevision(t *testing.T) {
	base := "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
	files := source.Files{
		"apps/base/kustomization.yaml":          []byte("resources: [service.yaml]\n"),
		"apps/base/service.yaml":                []byte(base),
		"apps/overlays/prod/kustomization.yaml": []byte("resources: [../../base]\nnamePrefix: prod-\n"),
		"unrelated/kustomization.yaml":          []byte("resources: [https://example.com/x.yaml]\n"),
	}
	objs, err := Render(files, "apps/overlays/prod", v1alpha1.Render{})
	if err != nil || names(objs) != "Service/prod-web" {
		t.Fatalf("overlay: %s, %v", names(objs), err)
	}
	deepCopyable(t, objs)
	files["apps/base/kustomization.yaml"] = []byte("resources: [service.yaml, https://example.com/x.yaml]\n")
	if _, err := Render(files, "apps/overlays/prod", v1alpha1.Render{}); err == nil || !strings.Contains(err.Error(), `apps/base/kustomization.yaml: resources "https://example.com/x.yaml" reaches outside the revision`) {
		t.Errorf("a remote resource in the base: %v", err)
	}
	files["apps/base/kustomization.yaml"] = []byte("resources: [service.yaml, ../../../../etc]\n")
	if _, err := Render(files, "apps/overlays/prod", v1alpha1.Render{}); err == nil || strings.Contains(err.Error(), "/src") {
		t.Errorf("a path out of the repository: %v", err)
	}
}

// TestRenderBounds: a Helm template that does not end fails its render at the time bound (the
// caller does not wait for it), and a revision over MaxObjects is refused naming the bound.
func TestRenderBounds(t *testing.T) {
	chart := source.Files{"chart/Chart.yaml": []byte("apiVersion: v2\nname: app\nversion: 0.1.0\n"),
		"chart/templates/t.yaml": []byte("{{ range until 50000 }}{{ range until 50000 }}{{ end }}{{ end }}\n")} // minutes of CPU, no output
	start := time.Now()
	_, err := Within(300*time.Millisecond, chart, "chart", v1alpha1.Render{Mode: v1alpha1.RenderHelm, ReleaseName: "r"})
	if err == nil || !strings.Contains(err.Error(), "render took longer than 300ms") || time.Since(start) > 2*time.Second {
		t.Errorf("a template that does not end: %v after %s", err, time.Since(start))
	}
	many := source.Files{}
	for i := range MaxObjects + 1 {
		many[fmt.Sprintf("deploy/cm-%05d.yaml", i)] = []byte(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d}\n", i))
	}
	if _, err := Within(0, many, "deploy", v1alpha1.Render{}); err == nil || !strings.Contains(err.Error(), "over the bound of 10000 per revision") {
		t.Errorf("%d objects: %v", MaxObjects+1, err)
	}
}
