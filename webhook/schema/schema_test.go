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
