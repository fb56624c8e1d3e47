// Package manifest reads Kubernetes manifests (YAML, multi-document, or JSON) from files and
// folders. Errors name the file and line, so a CI log points at the fix.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one manifest document with where it came from.
type Object struct {
	*unstructured.Unstructured
	// Source is "file:line" of the document's first line.
	Source string
}

// Load reads every .yaml, .yml and .json file of paths (folders recursively, in name order).
func Load(paths ...string) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			objs, err := loadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expand(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if IsManifest(p) && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func loadFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// IsManifest reports whether a file name is one Load reads (.yaml, .yml, .json).
func IsManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Parse reads the documents of one file's data; errors and Sources name it as path:line.
func Parse(path string, data []byte) ([]Object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	line := 1
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		start := line + leadingBlankLines(doc)
		// The reader drops the "---" line that ends each document.
		line += bytes.Count(doc, []byte("\n")) + 1
		if len(bytes.TrimSpace(stripComments(doc))) == 0 || string(bytes.TrimSpace(doc)) == "---" {
			continue
		}
		// YAML to JSON, then decoded as the API machinery decodes objects: whole numbers become
		// int64, which unstructured objects copy, diff and apply.
		var obj map[string]any
		j, err := yaml.YAMLToJSON(doc)
		if err == nil {
			err = utiljson.Unmarshal(j, &obj)
		}
		if err != nil {
			at := start
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				n, _ := strconv.Atoi(m[1])
				at = start + n - 1
			}
			return nil, fmt.Errorf("%s:%d: %w", path, at, err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s:%d: document has no apiVersion and kind", path, start)
		}
		out = append(out, Object{Unstructured: u, Source: fmt.Sprintf("%s:%d", path, start)})
	}
}

func leadingBlankLines(doc []byte) int {
	n := 0
	for _, l := range bytes.Split(doc, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) != 0 && !bytes.HasPrefix(t, []byte("#")) && string(t) != "---" {
			break
		}
		n++
	}
	return n
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); !bytes.HasPrefix(t, []byte("#")) && string(t) != "---" {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
