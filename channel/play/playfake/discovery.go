package playfake

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
)

// discoveryGz is Google's discovery document for the Android Publisher API v3, copied
// unchanged (then gzipped) from google.golang.org/api v0.283.0,
// androidpublisher/v3/androidpublisher-api.json (revision 20260528); see README.md.
//
//go:embed androidpublisher-api.json.gz
var discoveryGz []byte

// discovery is the part of a discovery document the fake reads. Everything the fake knows
// about the API's shape — paths, HTTP methods, parameters, enums, upload limits — comes
// from here, never from the generated Go client.
type discovery struct {
	RootURL     string                `json:"rootUrl"`
	ServicePath string                `json:"servicePath"`
	Revision    string                `json:"revision"`
	Parameters  map[string]parameter  `json:"parameters"`
	Resources   map[string]resource   `json:"resources"`
	Schemas     map[string]schemaDesc `json:"schemas"`
}

type resource struct {
	Methods   map[string]*method  `json:"methods"`
	Resources map[string]resource `json:"resources"`
}

type method struct {
	ID          string               `json:"id"`
	HTTPMethod  string               `json:"httpMethod"`
	Path        string               `json:"path"`
	FlatPath    string               `json:"flatPath"`
	Parameters  map[string]parameter `json:"parameters"`
	Scopes      []string             `json:"scopes"`
	MediaUpload *mediaUpload         `json:"mediaUpload"`
}

type mediaUpload struct {
	Accept    []string `json:"accept"`
	MaxSize   int64    `json:"maxSize,string"`
	Protocols map[string]struct {
		Path string `json:"path"`
	} `json:"protocols"`
}

type parameter struct {
	Type     string   `json:"type"`
	Location string   `json:"location"`
	Enum     []string `json:"enum"`
}

type schemaDesc struct {
	Properties map[string]struct {
		Enum []string `json:"enum"`
	} `json:"properties"`
}

func loadDiscovery() (*discovery, error) {
	zr, err := gzip.NewReader(bytes.NewReader(discoveryGz))
	if err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	var d discovery
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	return &d, nil
}

// methods returns every method of the document, resources nested, sorted by id.
func (d *discovery) methods() []*method {
	var out []*method
	var walk func(resource)
	walk = func(r resource) {
		for _, m := range r.Methods {
			out = append(out, m)
		}
		for _, sub := range r.Resources {
			walk(sub)
		}
	}
	walk(resource{Resources: d.Resources})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// enum is the enum of a schema's property ("TrackRelease", "status").
func (d *discovery) enum(schema, property string) []string {
	return d.Schemas[schema].Properties[property].Enum
}

// route is one URL template of a method: its plain path, or the path media uploads of it
// use (mediaUpload.protocols.*.path).
type route struct {
	m        *method
	upload   bool
	template string
	segments []segment
}

// segment is one "/"-separated piece of a template: a literal ("edits") or a variable
// with an optional literal prefix and suffix ("{editId}:commit").
type segment struct {
	prefix, param, suffix string
}

// routes builds the route table: every method's flatPath (path where it has none) under
// rootUrl+servicePath, and every upload protocol's path, which the document gives absolute.
func (d *discovery) routes() ([]route, error) {
	root, err := url.Parse(d.RootURL)
	if err != nil {
		return nil, fmt.Errorf("discovery rootUrl: %w", err)
	}
	base := strings.TrimSuffix(root.Path, "/") + "/" + d.ServicePath
	var out []route
	for _, m := range d.methods() {
		p := m.FlatPath
		if p == "" {
			p = m.Path
		}
		r, err := newRoute(m, base+p, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		if m.MediaUpload == nil {
			continue
		}
		seen := map[string]bool{}
		for _, proto := range m.MediaUpload.Protocols {
			if seen[proto.Path] {
				continue
			}
			seen[proto.Path] = true
			r, err := newRoute(m, proto.Path, true)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func newRoute(m *method, template string, upload bool) (route, error) {
	r := route{m: m, upload: upload, template: template}
	for _, s := range strings.Split(strings.TrimPrefix(template, "/"), "/") {
		open, close := strings.Index(s, "{"), strings.Index(s, "}")
		if open < 0 {
			r.segments = append(r.segments, segment{prefix: s})
			continue
		}
		if close < open || strings.Contains(s[close+1:], "{") {
			return route{}, fmt.Errorf("%s: template %q: segment %q has no single {variable}", m.ID, template, s)
		}
		name := strings.TrimPrefix(s[open+1:close], "+")
		r.segments = append(r.segments, segment{prefix: s[:open], param: name, suffix: s[close+1:]})
	}
	return r, nil
}

// match reports whether path fits the route, with the path variables and a score: the
// number of literal characters matched, so "{editId}:commit" wins over "{editId}".
func (r route) match(segments []string) (map[string]string, int, bool) {
	if len(segments) != len(r.segments) {
		return nil, 0, false
	}
	params := map[string]string{}
	score := 0
	for i, seg := range r.segments {
		s := segments[i]
		if seg.param == "" {
			if s != seg.prefix {
				return nil, 0, false
			}
			score += len(s)
			continue
		}
		if !strings.HasPrefix(s, seg.prefix) || !strings.HasSuffix(s, seg.suffix) ||
			len(s) <= len(seg.prefix)+len(seg.suffix) {
			return nil, 0, false
		}
		v, err := url.PathUnescape(s[len(seg.prefix) : len(s)-len(seg.suffix)])
		if err != nil {
			return nil, 0, false
		}
		params[seg.param] = v
		score += len(seg.prefix) + len(seg.suffix)
	}
	return params, score, true
}

// lookup finds the best route for an HTTP method and escaped path. pathKnown tells a path
// the document has under another HTTP method from a path it does not have at all.
func lookup(routes []route, httpMethod, escapedPath string) (best *route, params map[string]string, pathKnown bool) {
	segments := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	bestScore := -1
	for i := range routes {
		p, score, ok := routes[i].match(segments)
		if !ok {
			continue
		}
		pathKnown = true
		if routes[i].m.HTTPMethod != httpMethod || score <= bestScore {
			continue
		}
		best, params, bestScore = &routes[i], p, score
	}
	return best, params, pathKnown
}

// checkQuery validates the query parameters the document types: an enum parameter must
// hold one of its values and a boolean "true" or "false". Parameters the document does not
// list (the upload protocol's upload_id) pass, as Google documents no rule for them.
func (d *discovery) checkQuery(m *method, q url.Values) error {
	for name, values := range q {
		p, ok := m.Parameters[name]
		if !ok || p.Location != "query" {
			if p, ok = d.Parameters[name]; !ok {
				continue
			}
		}
		for _, v := range values {
			if len(p.Enum) > 0 && !contains(p.Enum, v) {
				return fmt.Errorf("invalid value %q for parameter %s: one of %s", v, name, strings.Join(p.Enum, ", "))
			}
			if p.Type == "boolean" && v != "true" && v != "false" {
				return fmt.Errorf("invalid value %q for boolean parameter %s", v, name)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
