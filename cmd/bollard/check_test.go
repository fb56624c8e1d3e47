package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Monday 30 November 2026, 03:47 in Berlin: inside the black-friday window of testdata/check.
const (
	insideFreeze = "2026-11-30T03:47:00+01:00"
	afterFreeze  = "2026-12-01T12:00:00+01:00"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"allowed outside the freeze", []string{"check", "-f", "testdata/check", "--now", afterFreeze}, 0,
			[]string{"ALLOW Deployment shop/checkout (CREATE, testdata/check/app.yaml:1)"}},
		{"denied inside the freeze", []string{"check", "-f", "testdata/check", "--now", insideFreeze}, 1,
			[]string{"DENY  Deployment shop/checkout", "✗ deploys to production are frozen by window `black-friday` of DeployPolicy retail (Fri 00:00–Mon 06:00 Europe/Berlin, ends in 2h13m)"}},
		{"break-glass by sre inside the freeze", []string{"check", "-f", "testdata/check", "--now", insideFreeze, "--user", "ann", "--group", "sre",
			"-f", "testdata/check-glass"}, 1, []string{
			"DENY  Deployment shop/checkout (CREATE, testdata/check/app.yaml:1)",
			"ALLOW Deployment shop/checkout-hotfix (CREATE, testdata/check-glass/app.yaml:1)",
			`! break-glass by ann inside a freeze, reason "INC-7 checkout down"`}},
		{"break-glass by someone else", []string{"check", "-f", "testdata/check", "--now", insideFreeze, "--user", "bob",
			"-f", "testdata/check-glass"}, 1, []string{"✗ deploys to production are frozen by window `black-friday` of DeployPolicy retail (Fri 00:00–Mon 06:00 Europe/Berlin, ends in 2h13m); break-glass is not allowed for bob by the policy"}},
		{"extra policy module", []string{"check", "-f", "testdata/check", "--now", afterFreeze, "--policy", "testdata/team.rego"}, 1,
			[]string{"✗ Deployment checkout has no team label"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execute(t, tc.args...)
			code := 0
			if err != nil {
				code = exitCode(err)
			}
			if code != tc.code {
				t.Fatalf("exit code %d (%v), want %d\n%s", code, err, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	out, err := execute(t, "check", "-f", "testdata/check", "--now", insideFreeze, "-o", "json")
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("err = %v, want exit 1", err)
	}
	var doc struct {
		Results []struct {
			Kind, Name, Operation string
			Allowed               bool
			Reasons               []string
		}
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(doc.Results) != 1 || doc.Results[0].Allowed || doc.Results[0].Operation != "CREATE" || len(doc.Results[0].Reasons) != 1 {
		t.Errorf("results = %+v", doc.Results)
	}
}

func TestCheckBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "-f", "testdata/check-broken"}, "testdata/check-broken/app.yaml:5:"},
		{[]string{"check"}, "give at least one -f"},
		{[]string{"check", "-f", "testdata/check", "--now", "tomorrow"}, "--now"},
		{[]string{"check", "-f", "testdata/check", "--policy", "testdata/broken.rego"}, "policy module broken.rego"},
		{[]string{"check", "-f", "testdata/nope"}, "no such file"},
	} {
		_, err := execute(t, tc.args...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bollard %v: err = %v (exit %d), want exit 2 and %q", tc.args, err, exitCode(err), tc.want)
		}
	}
}
