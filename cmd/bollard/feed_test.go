package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFeedCommand: bollard feed init, publish, percent, halt and rollback change what the channel
// offers; bad input is a usage error.
func TestFeedCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "feed")
	files := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if err := os.WriteFile(filepath.Join(files, "shop-"+v+".exe"), []byte("MZ shop "+v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"feed", "init", dir}, 0, "feed created in " + dir},
		{[]string{"feed", "init", dir}, 1, "holds a feed already"},
		{[]string{"feed", "publish", dir, filepath.Join(files, "shop-1.0.0.exe"), "--platform", "windows-amd64", "--version", "1.0.0"}, 0,
			`stable windows-amd64: {"version":"1.0.0","target":"app/windows-amd64/1.0.0/shop-1.0.0.exe","rolloutPercent":100,"halted":false}`},
		{[]string{"feed", "publish", dir, filepath.Join(files, "shop-1.1.0.exe"), "--platform", "windows-amd64", "--version", "1.1.0", "--percent", "10"}, 0,
			`"version":"1.1.0","target":"app/windows-amd64/1.1.0/shop-1.1.0.exe","rolloutPercent":10,"halted":false,"previous":"1.0.0"`},
		{[]string{"feed", "percent", dir, "50", "--platform", "windows-amd64"}, 0, `"rolloutPercent":50`},
		{[]string{"feed", "halt", dir, "--platform", "windows-amd64"}, 0, `"halted":true`},
		{[]string{"feed", "rollback", dir, "--platform", "windows-amd64"}, 0, `{"version":"1.0.0","target":"app/windows-amd64/1.0.0/shop-1.0.0.exe","rolloutPercent":100,"halted":false,"withdrawn":"1.1.0"}`},
		{[]string{"feed", "show", dir, "--platform", "windows-amd64"}, 0, `"withdrawn":"1.1.0"`},
		{[]string{"feed", "rotate-keys", dir, "--role", "root,timestamp"}, 0, "root version 2, new keys for [root timestamp], valid until " + time.Now().UTC().AddDate(1, 0, 0).Format("2006-01-02")},
		{[]string{"feed", "rotate-keys", dir}, 0, "root version 3, new keys for []"},
		{[]string{"feed", "rotate-keys", dir, "--role", "mirror"}, 1, `rotate "mirror": a feed's roles are root, targets, snapshot and timestamp`},
		{[]string{"feed", "show", dir, "--platform", "windows-amd64"}, 0, `"withdrawn":"1.1.0"`},
		{[]string{"feed", "percent", dir, "150", "--platform", "windows-amd64"}, 1, "want 0 to 100"},
		{[]string{"feed", "percent", dir, "ten", "--platform", "windows-amd64"}, 2, ""},
		{[]string{"feed", "show", dir}, 2, ""},
		{[]string{"feed", "show", dir, "--platform", "darwin-arm64"}, 1, "no version for darwin-arm64"},
		{[]string{"feed", "publish", dir, filepath.Join(files, "shop-1.0.0.exe"), "--platform", "windows-amd64", "--version", "../x"}, 1, "want letters"},
		{[]string{"feed", "show", t.TempDir(), "--platform", "windows-amd64"}, 1, "made by bollard feed init?"},
	} {
		out, err := execute(t, tc.args...)
		code := 0
		if err != nil {
			code = exitCode(err)
			out += err.Error()
		}
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d (%v), want %d; output %q lacks %q", tc.args[1:], code, err, tc.code, out, tc.want)
		}
	}
}
