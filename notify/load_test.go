package notify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSecretsFromFileAndEnv(t *testing.T) {
	keyFile := writeFile(t, "ops-key", "key-from-file\n")
	urlFile := writeFile(t, "slack-url", "https://hooks.slack.example/services/T0/B0/XYZ\n")
	t.Setenv("BOLLARD_TEST_SLACK_KEY", "key-from-env")
	path := writeFile(t, "notifications.yaml", `
- name: ops
  url: https://hooks.example.com/bollard
  secretFile: `+keyFile+`
  events: [refused, rolled-back, rollback-failed]
- name: slack
  urlFile: `+urlFile+`
  format: slack
  secretEnv: BOLLARD_TEST_SLACK_KEY
`)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d targets, want 2", len(got))
	}
	ops, sl := got[0], got[1]
	if ops.Name != "ops" || ops.URL != "https://hooks.example.com/bollard" || ops.Format != FormatCloudEvents ||
		string(ops.Secret) != "key-from-file" || !slices.Equal(ops.Events, []string{Refused, RolledBack, RollbackFailed}) {
		t.Errorf("ops = %+v (secret %q), want cloudevents with the file's key, no trailing newline, and three kinds", ops, ops.Secret)
	}
	if sl.Name != "slack" || sl.URL != "https://hooks.slack.example/services/T0/B0/XYZ" || sl.Format != FormatSlack ||
		string(sl.Secret) != "key-from-env" || len(sl.Events) != 0 {
		t.Errorf("slack = %+v (secret %q), want slack with the URL from its file and the key from the environment", sl, sl.Secret)
	}
	if s := ops.String() + sl.String(); strings.Contains(s, "key-from") || strings.Contains(s, "XYZ") {
		t.Errorf("Target.String shows a secret or a webhook URL: %s", s)
	}

	// The same targets as JSON.
	jsonPath := writeFile(t, "notifications.json", `[{"name": "ops", "url": "http://127.0.0.1:8080/hook", "secretEnv": "BOLLARD_TEST_SLACK_KEY"}]`)
	if got, err := Load(jsonPath); err != nil || len(got) != 1 || string(got[0].Secret) != "key-from-env" {
		t.Errorf("JSON file: got %+v, %v", got, err)
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Setenv("BOLLARD_TEST_EMPTY", "")
	for _, tc := range []struct {
		name, file string
		want       []string // all in the error
	}{
		{"inline secret", `
- name: ops
  url: https://hooks.example.com/bollard
  secret: hunter2-inline`, []string{`target "ops"`, "secret", "secretFile", "secretEnv"}},
		{"unknown format", `
- name: ops
  url: https://hooks.example.com/bollard
  format: teams`, []string{`target "ops"`, "format", `"teams"`, "cloudevents, slack"}},
		{"unknown kind", `
- name: ops
  url: https://hooks.example.com/bollard
  events: [refused, rollback]`, []string{`target "ops"`, "events[1]", `"rollback"`}},
		{"non-http url", `
- name: ops
  url: ftp://files.example.com/drop/s3cr3t-token`, []string{`target "ops"`, "url", `"ftp"`}},
		{"url without host", `
- name: ops
  url: https:///hook`, []string{`target "ops"`, "url", "host"}},
		{"no url", `
- name: ops`, []string{`target "ops"`, "url", "required"}},
		{"no name", `
- url: https://hooks.example.com/bollard`, []string{"target #1", "name", "required"}},
		{"duplicate name", `
- {name: ops, url: "https://a.example.com/"}
- {name: ops, url: "https://b.example.com/"}`, []string{`target "ops"`, "name", "#1"}},
		{"secret file and env", `
- name: ops
  url: https://hooks.example.com/bollard
  secretFile: /nonexistent
  secretEnv: X`, []string{`target "ops"`, "secretFile", "secretEnv"}},
		{"missing secret file", `
- name: ops
  url: https://hooks.example.com/bollard
  secretFile: /nonexistent/key`, []string{`target "ops"`, "secretFile", "/nonexistent/key"}},
		{"empty secret env", `
- name: ops
  url: https://hooks.example.com/bollard
  secretEnv: BOLLARD_TEST_EMPTY`, []string{`target "ops"`, "secretEnv", "$BOLLARD_TEST_EMPTY"}},
		{"unknown field", `
- name: ops
  url: https://hooks.example.com/bollard
  evnets: [refused]`, []string{`target "ops"`, `"evnets"`}},
		{"not a list", `name: ops`, []string{"list of targets"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "notifications.yaml", tc.file))
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %s", err, w)
				}
			}
			for _, secret := range []string{"hunter2-inline", "s3cr3t-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q repeats a credential", err)
				}
			}
		})
	}
}

// A key loaded from a file signs what the target receives.
func TestLoadedSecretSigns(t *testing.T) {
	r := newReceiver(t, nil)
	keyFile := writeFile(t, "key", "loaded-key\n")
	targets, err := Load(writeFile(t, "n.yaml", "- {name: "+t.Name()+", url: "+r.URL+", secretFile: "+keyFile+"}"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := start(t, targets, Options{})
	n.Notify(Event{Kind: DriftReverted, Release: "shop/web", Summary: "1 object reverted"})
	verifySignature(t, []byte("loaded-key"), r.wait(t, 1)[0])
}
