package flags

import (
	"reflect"
	"strings"
	"testing"
)

const doc = `{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on",
                     "targeting": {"if": [{"===": [{"var": "email"}, "qa@example.com"]}, "off"]}},
    "payments-v2":  {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"},
    "legacy-api":   {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
    "banner-color": {"state": "ENABLED", "variants": {"red": "#f00", "blue": "#00f"}, "defaultVariant": "blue"}
  }
}`

func TestCheck(t *testing.T) {
	set, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		annotation string
		want       []Mismatch
	}{
		{"new-checkout=on,payments-v2=off", nil},
		{"new-checkout=true, payments-v2=disabled", nil},
		{"legacy-api=off", nil},
		{"banner-color=blue", nil},
		{"new-checkout=off,payments-v2=on", []Mismatch{{"new-checkout", "off", "on"}, {"payments-v2", "on", "off"}}},
		{"legacy-api=on", []Mismatch{{"legacy-api", "on", "off"}}},
		{"banner-color=red", []Mismatch{{"banner-color", "red", "blue"}}},
		{"dark-mode=on", []Mismatch{{"dark-mode", "on", "missing"}}},
	}
	for _, tc := range cases {
		t.Run(tc.annotation, func(t *testing.T) {
			reqs, err := ParseRequirements(tc.annotation)
			if err != nil {
				t.Fatal(err)
			}
			if got := set.Check(reqs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Check = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRequirementsErrors(t *testing.T) {
	for annotation, want := range map[string]string{
		"new-checkout":       "want name=state",
		"=on":                "want name=state",
		"a=on,a=off":         "required twice",
		" , ":                "no flag requirements",
		"new-checkout=on,x=": "want name=state",
	} {
		if _, err := ParseRequirements(annotation); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRequirements(%q) = %v, want %q", annotation, err, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"not json":        {`{"flags":`, "flagd document"},
		"no flags":        {`{"flag": {}}`, `no "flags" object`},
		"bad state":       {`{"flags": {"x": {"state": "ON", "variants": {"on": true}, "defaultVariant": "on"}}}`, `flag x: state "ON"`},
		"unknown default": {`{"flags": {"x": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "yes"}}}`, `flag x: defaultVariant "yes"`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParse: a flag document (flagd JSON, as a ConfigMap holds it) and a requirement annotation,
// whatever they hold, parse or fail with an error; a parsed set answers every requirement.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"flags": {"new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`), "new-checkout=on")
	f.Add([]byte(`{"flags": {"x": {"state": "DISABLED", "variants": {"a": 1}, "defaultVariant": "b"}}}`), "x=off, y=on")
	f.Add([]byte(`{"flags": {"x": null}}`), "=,=")
	f.Fuzz(func(t *testing.T, doc []byte, annotation string) {
		set, err := Parse(doc)
		reqs, rerr := ParseRequirements(annotation)
		if err != nil || rerr != nil {
			return
		}
		for _, m := range set.Check(reqs) {
			if m.Flag == "" || m.Have == m.Want {
				t.Errorf("mismatch %+v", m)
			}
		}
	})
}
