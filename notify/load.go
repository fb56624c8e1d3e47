package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// fileTarget is one target as written in the notifications file. Credentials are never inline:
// the secret, and the URL when it is one (a Slack webhook URL is), come from a file (a mounted
// Secret) or an environment variable.
type fileTarget struct {
	Name       string   `json:"name"`
	URL        string   `json:"url,omitempty"`
	URLFile    string   `json:"urlFile,omitempty"`
	URLEnv     string   `json:"urlEnv,omitempty"`
	Format     string   `json:"format,omitempty"`
	SecretFile string   `json:"secretFile,omitempty"`
	SecretEnv  string   `json:"secretEnv,omitempty"`
	Events     []string `json:"events,omitempty"`
}

// Load reads the targets from a YAML or JSON file holding a list of them:
//
//	# notifications.yaml
//	- name: ops                                # required, unique: logs and the target label
//	  url: https://hooks.example.com/bollard   # or urlFile: /path, or urlEnv: NAME
//	  format: cloudevents                      # the default; or slack
//	  secretFile: /etc/bollard/notify/ops-key  # or secretEnv: NAME; optional
//	  events: [refused, rolled-back]           # the default: all kinds
//
// A secret file's trailing newline is not part of the key. An inline "secret" is refused, and so
// is any field Load does not know; every error names the target and the field.
func Load(path string) ([]Target, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("notifications %s: %w", path, err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(js, &items); err != nil {
		return nil, fmt.Errorf("notifications %s: want a list of targets: %w", path, err)
	}
	var targets []Target
	for i, item := range items {
		t, err := loadTarget(item)
		if err != nil {
			return nil, fmt.Errorf("notifications %s: target %s: %w", path, targetLabel(item, i), err)
		}
		if j := slices.IndexFunc(targets, func(o Target) bool { return o.Name == t.Name }); j >= 0 {
			return nil, fmt.Errorf("notifications %s: target %q: name: also used by target #%d", path, t.Name, j+1)
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// targetLabel names the i-th target in errors: by its name when it has one.
func targetLabel(item json.RawMessage, i int) string {
	var named struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(item, &named) == nil && named.Name != "" {
		return fmt.Sprintf("%q", named.Name)
	}
	return fmt.Sprintf("#%d", i+1)
}

func loadTarget(item json.RawMessage) (Target, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(item, &fields); err != nil {
		return Target{}, fmt.Errorf("want a mapping: %w", err)
	}
	if _, ok := fields["secret"]; ok {
		return Target{}, errors.New("secret: inline secrets are not accepted: use secretFile (a mounted Secret) or secretEnv")
	}
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.DisallowUnknownFields()
	var ft fileTarget
	if err := dec.Decode(&ft); err != nil {
		return Target{}, err
	}

	if ft.Name == "" {
		return Target{}, errors.New("name: required")
	}
	t := Target{Name: ft.Name, Format: ft.Format, Events: ft.Events}
	var err error
	if t.URL, err = credential("url", ft.URL, ft.URLFile, ft.URLEnv); err != nil {
		return Target{}, err
	}
	if t.URL == "" {
		return Target{}, errors.New("url: required (or urlFile or urlEnv)")
	}
	if err := checkURL(t.URL); err != nil {
		return Target{}, fmt.Errorf("url: %w", err)
	}
	if t.Format == "" {
		t.Format = FormatCloudEvents
	}
	if _, ok := encoders[t.Format]; !ok {
		return Target{}, fmt.Errorf("format: unknown format %q (known: %s)", t.Format, strings.Join(formats(), ", "))
	}
	for i, k := range t.Events {
		if !slices.Contains(kinds, k) {
			return Target{}, fmt.Errorf("events[%d]: unknown kind %q (known: %s)", i, k, strings.Join(kinds, ", "))
		}
	}
	secret, err := credential("secret", "", ft.SecretFile, ft.SecretEnv)
	if err != nil {
		return Target{}, err
	}
	if secret != "" {
		t.Secret = []byte(secret)
	}
	return t, nil
}

// credential is the value given inline, in a file or in an environment variable — at most one of
// them. Errors name the field and where it was read from, never the value.
func credential(field, inline, file, env string) (string, error) {
	given := 0
	for _, s := range []string{inline, file, env} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		if inline != "" {
			return "", fmt.Errorf("%s: give one of %s, %sFile and %sEnv", field, field, field, field)
		}
		return "", fmt.Errorf("%s: give one of %sFile and %sEnv", field, field, field)
	}
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%sFile: %w", field, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%sFile: %s is empty", field, file)
		}
		return v, nil
	case env != "":
		v := os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("%sEnv: $%s is not set or empty", field, env)
		}
		return v, nil
	}
	return inline, nil
}

// checkURL accepts absolute http and https URLs. Its errors do not repeat the URL, which may hold
// a credential.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return withoutURL(err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}
