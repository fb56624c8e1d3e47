package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestVersion(t *testing.T) {
	version, commit, buildDate = "v9.9.9", "abc1234", "2026-11-25T00:00:00Z"
	t.Cleanup(func() { version, commit, buildDate = "dev", "unknown", "unknown" })

	out, err := execute(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"v9.9.9", "abc1234", "2026-11-25T00:00:00Z", runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}

	out, err = execute(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var info buildInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, out)
	}
	if info.Version != "v9.9.9" || info.Commit != "abc1234" || info.GoVersion != runtime.Version() {
		t.Errorf("version -o json = %+v", info)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"version", "-o", "yaml"},
		{"version", "extra"},
		{"version", "--no-such-flag"},
		{"no-such-command"},
	} {
		_, err := execute(t, args...)
		if err == nil {
			t.Errorf("bollard %v: no error", args)
			continue
		}
		if code := exitCode(err); code != 2 {
			t.Errorf("bollard %v: exit code %d (%v), want 2", args, code, err)
		}
	}
}
