// Package render turns the files of a revision into Kubernetes objects: a plain directory of
// YAML/JSON, a kustomization, or a Helm chart. Errors name the file (and line where there is one).
package render

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/internal/manifest"
	"bollard.dev/bollard/reconciler/source"
)

// Object is a rendered object and where it came from (file:line, or the renderer).
type Object struct {
	*unstructured.Unstructured
	Source string
}

// Render renders the directory root of a revision's files (all of them, keyed by their path in
// the repository) as spec says: a plain directory and a Helm chart are what is under root; a
// kustomization may load bases and components from anywhere in the revision, and nothing outside
// it.
func Render(files source.Files, root string, spec v1alpha1.Render) ([]Object, error) {
	objs, err := render(files, root, spec)
	if err == nil && len(objs) > MaxObjects {
		err = fmt.Errorf("%s: %d objects, over the bound of %d per revision", displayRoot(root), len(objs), MaxObjects)
	}
	return objs, err
}

func render(files source.Files, root string, spec v1alpha1.Render) ([]Object, error) {
	under := files.Under(root)
	mode := spec.Mode
	if mode == "" {
		mode = v1alpha1.RenderDirectory
		if kustomization(under) != "" {
			mode = v1alpha1.RenderKustomize
		}
	}
	switch mode {
	case v1alpha1.RenderDirectory:
		return directory(under, root)
	case v1alpha1.RenderKustomize:
		return kustomize(files, root)
	case v1alpha1.RenderHelm:
		return helm(under, root, spec)
	}
	return nil, fmt.Errorf("render mode %q: want directory, kustomize or helm", mode)
}

func kustomization(files source.Files) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, ok := files[name]; ok {
			return name
		}
	}
	return ""
}

// directory parses every .yaml, .yml and .json file, in name order.
func directory(files source.Files, root string) ([]Object, error) {
	out, err := parseManifests(files, func(name string) string { return path.Join(root, name) })
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no manifests (.yaml, .yml, .json)", displayRoot(root))
	}
	return out, err
}

// parseManifests parses the manifest files of files in name order; source names each file in
// messages (sourceOf).
func parseManifests(files source.Files, sourceOf func(name string) string) ([]Object, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		if manifest.IsManifest(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []Object
	for _, name := range names {
		objs, err := manifest.Parse(sourceOf(name), files[name])
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			out = append(out, Object{Unstructured: o.Unstructured, Source: o.Source})
		}
	}
	return out, nil
}

// kustomize builds the kustomization at root in an in-memory copy of the revision: bases
// elsewhere in the repository (../base) load; nothing outside it does — no host file, no remote
// base or file (refused before the build, naming the file and field): a revision renders the same
// every time.
func kustomize(files source.Files, root string) ([]Object, error) {
	if kustomization(files.Under(root)) == "" {
		return nil, fmt.Errorf("%s: render mode kustomize, but there is no kustomization.yaml", displayRoot(root))
	}
	if err := hermetic(files, root); err != nil {
		return nil, err
	}
	fs := filesys.MakeFsInMemory()
	for name, data := range files {
		if err := fs.WriteFile(path.Join("/src", name), data); err != nil {
			return nil, err
		}
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, path.Join("/src", displayRoot(root)))
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "/src/", "")
		return nil, fmt.Errorf("%s: kustomize: %s", displayRoot(root), strings.ReplaceAll(msg, "/src", "."))
	}
	var out []Object
	for _, r := range res.Resources() {
		// Through JSON, as the API machinery decodes objects: integers become int64 (kyaml's
		// map holds Go ints, which unstructured objects cannot deep-copy).
		data, err := r.MarshalJSON()
		u := &unstructured.Unstructured{}
		if err == nil {
			err = u.UnmarshalJSON(data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: kustomize: %s %s: %w", displayRoot(root), r.GetKind(), r.GetName(), err)
		}
		out = append(out, Object{Unstructured: u, Source: "kustomize build " + displayRoot(root)})
	}
	return out, nil
}

func displayRoot(root string) string {
	if root == "" || root == "." || root == "/" {
		return "."
	}
	return strings.Trim(root, "/")
}
