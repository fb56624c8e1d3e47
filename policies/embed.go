// Package policies holds bollard's Rego policies, one folder per concern, each rule file beside
// its _test.rego. Every package under data.bollard contributes `deny` and `warn` messages; the
// input document is built by webhook/admission (see docs/policies.md).
package policies

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed */*.rego
var files embed.FS

// Modules returns the built-in policy modules by file name, without their tests.
func Modules() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		data, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		out["policies/"+path] = string(data)
		return nil
	})
	return out
}
