package schema

import (
	"strings"
	"testing"
)

func TestSatisfied(t *testing.T) {
	for _, tc := range []struct {
		required, applied string
		want              bool
	}{
		{"42", "42", true},
		{"42", "43", true},
		{"43", "42", false},
		{"42", "42.0", true},
		{"2026.11.3", "2026.11.10", true},
		{"2026.12", "2026.11.10", false},
		{" 7 ", "7", true},
	} {
		got, err := Satisfied(tc.required, tc.applied)
		if err != nil || got != tc.want {
			t.Errorf("Satisfied(%q, %q) = %v, %v; want %v", tc.required, tc.applied, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for text, want := range map[string]string{"": "empty", "v42": `"v42"`, "4.x": `"4.x"`, "-1": `"-1"`} {
		if _, err := Parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %s", text, err, want)
		}
	}
	if _, err := Satisfied("43", "latest"); err == nil || !strings.Contains(err.Error(), "applied") {
		t.Errorf("Satisfied with a bad applied version: %v", err)
	}
}

// FuzzParse: any text parses to a version that prints back to an equivalent one, or fails with
// an error quoting it; Satisfied never panics and is reflexive for versions that parse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"42", "2026.11.3", " 7 ", "", "1..2", "99999999999999999999", "-1"} {
		f.Add(s, "41")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		_, _ = Satisfied(a, b)
		if _, err := Parse(a); err != nil {
			return
		}
		if ok, err := Satisfied(a, a); err != nil || !ok {
			t.Errorf("Satisfied(%q, %q) = %v, %v", a, a, ok, err)
		}
	})
}
