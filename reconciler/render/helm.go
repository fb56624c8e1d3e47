package render

import (
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/yaml"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/source"
)

// helm renders the chart at the root with its values, the valuesFiles on top, then the inline
// values — as `helm template` does, offline (dependencies must be vendored in charts/).
func helm(files source.Files, root string, spec v1alpha1.Render) ([]Object, error) {
	if _, ok := files["Chart.yaml"]; !ok {
		return nil, fmt.Errorf("%s: render mode helm, but there is no Chart.yaml", displayRoot(root))
	}
	var buffered []*loader.BufferedFile
	for name, data := range files {
		buffered = append(buffered, &loader.BufferedFile{Name: name, Data: data})
	}
	chrt, err := loader.LoadFiles(buffered)
	if err != nil {
		return nil, fmt.Errorf("%s: helm chart: %w", displayRoot(root), err)
	}
	values := map[string]any{}
	for _, f := range spec.ValuesFiles {
		data, ok := files[strings.TrimPrefix(path.Clean(f), "/")]
		if !ok {
			return nil, fmt.Errorf("%s: values file %s is not in the chart", displayRoot(root), f)
		}
		v, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Join(root, f), err)
		}
		values = chartutil.CoalesceTables(v, values)
	}
	if spec.Values != nil && len(spec.Values.Raw) > 0 {
		var inline map[string]any
		if err := yaml.Unmarshal(spec.Values.Raw, &inline); err != nil {
			return nil, fmt.Errorf("spec.render.values: %w", err)
		}
		values = chartutil.CoalesceTables(inline, values)
	}
	name := spec.ReleaseName
	if name == "" {
		name = chrt.Name()
	}
	renderValues, err := chartutil.ToRenderValues(chrt, values, chartutil.ReleaseOptions{Name: name, Namespace: "", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("%s: helm values: %w", displayRoot(root), err)
	}
	rendered, err := engine.Render(chrt, renderValues)
	if err != nil {
		return nil, fmt.Errorf("%s: helm template: %w", displayRoot(root), err)
	}
	manifests := source.Files{}
	for name, text := range rendered {
		manifests[name] = []byte(text)
	}
	objs, err := parseManifests(manifests, func(name string) string { return path.Join(root, strings.TrimPrefix(name, chrt.Name()+"/")) })
	if err != nil {
		return nil, err
	}
	// Test hooks (helm test) are run by a person, never applied nor pre-flighted with a release.
	out := objs[:0]
	for _, o := range objs {
		if !testHook(o.GetAnnotations()["helm.sh/hook"]) {
			out = append(out, o)
		}
	}
	return out, nil
}

func testHook(hook string) bool {
	for _, h := range strings.Split(hook, ",") {
		switch strings.TrimSpace(h) {
		case "test", "test-success", "test-failure":
			return true
		}
	}
	return false
}
