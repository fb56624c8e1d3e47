package render

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"bollard.dev/bollard/reconciler/source"
)

// Fields of a kustomization that name what kustomize loads: files and directories, or — what a
// render must never reach — URLs (remote bases, remote files, git repositories).
var loadFields = []string{"resources", "bases", "components", "crds", "patchesStrategicMerge", "transformers", "generators", "validators", "configurations"}

// remote reports a reference kustomize would fetch over the network.
func remote(ref string) bool {
	ref = strings.TrimSpace(ref)
	if u, err := url.Parse(ref); err == nil && u.Scheme != "" && u.Host != "" {
		return true
	}
	for _, prefix := range []string{"git@", "git::", "github.com/", "gitlab.com/", "bitbucket.org/", "ssh://"} {
		if strings.HasPrefix(ref, prefix) {
			return true
		}
	}
	return strings.Contains(ref, "?ref=") || strings.Contains(ref, ".git//")
}

// kustomizationIn is the kustomization file of dir in files ("" when none).
func kustomizationIn(files source.Files, dir string) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, ok := files[path.Join(dir, name)]; ok {
			return path.Join(dir, name)
		}
	}
	return ""
}

// hermetic refuses a kustomization that would reach outside the revision — remote resources,
// bases and components, remote generator files, Helm charts from a repository — checking the
// kustomization at root and every one it loads from the revision (../base), transitively. It
// names the file and the field.
func hermetic(files source.Files, root string) error {
	dirs := []string{strings.Trim(path.Clean("/"+root), "/")}
	seen := map[string]bool{}
	for len(dirs) > 0 {
		dir := dirs[0]
		dirs = dirs[1:]
		name := kustomizationIn(files, dir)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		var k map[string]any
		if err := yaml.Unmarshal(files[name], &k); err != nil {
			continue // kustomize says what is wrong with it
		}
		for _, field := range []string{"resources", "bases", "components"} {
			list, _ := k[field].([]any)
			for _, v := range list {
				if s, ok := v.(string); ok && !remote(s) {
					dirs = append(dirs, strings.Trim(path.Clean("/"+path.Join(dir, s)), "/"))
				}
			}
		}
		where := name
		refuse := func(field, ref string) error {
			return fmt.Errorf("%s: %s %q reaches outside the revision: renders are hermetic (vendor it into the repository)", where, field, ref)
		}
		for _, field := range loadFields {
			list, _ := k[field].([]any)
			for _, v := range list {
				if s, ok := v.(string); ok && remote(s) {
					return refuse(field, s)
				}
			}
		}
		for _, field := range []string{"patches", "patchesJson6902", "replacements"} {
			list, _ := k[field].([]any)
			for _, v := range list {
				if m, ok := v.(map[string]any); ok {
					if s, ok := m["path"].(string); ok && remote(s) {
						return refuse(field+".path", s)
					}
				}
			}
		}
		for _, field := range []string{"configMapGenerator", "secretGenerator"} {
			list, _ := k[field].([]any)
			for _, v := range list {
				m, _ := v.(map[string]any)
				for _, key := range []string{"files", "envs"} {
					entries, _ := m[key].([]any)
					for _, e := range entries {
						s, _ := e.(string)
						if _, file, ok := strings.Cut(s, "="); ok {
							s = file
						}
						if remote(s) {
							return refuse(field+"."+key, s)
						}
					}
				}
				if s, ok := m["env"].(string); ok && remote(s) {
					return refuse(field+".env", s)
				}
			}
		}
		if charts, _ := k["helmCharts"].([]any); len(charts) > 0 {
			for _, c := range charts {
				if m, ok := c.(map[string]any); ok && m["repo"] != nil && m["repo"] != "" {
					return refuse("helmCharts.repo", fmt.Sprint(m["repo"]))
				}
			}
		}
		if s, ok := k["openapi"].(map[string]any); ok {
			if p, ok := s["path"].(string); ok && remote(p) {
				return refuse("openapi.path", p)
			}
		}
	}
	return nil
}
