// Package schema compares the database schema version a workload needs (bollard.dev/schema-version)
// with the version the migration step recorded as applied.
package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a schema version: a whole number ("42") or dotted whole numbers ("2026.11.3").
type Version []int

// Parse reads a version; anything else is an error that quotes the text.
func Parse(text string) (Version, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, fmt.Errorf("empty schema version")
	}
	var v Version
	for _, part := range strings.Split(text, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("schema version %q: want a whole number such as 42, or dotted numbers such as 2026.11.3", text)
		}
		v = append(v, n)
	}
	return v, nil
}

// Compare returns -1, 0 or 1 as v is older than, the same as, or newer than w; missing trailing
// parts count as 0 (so 42 == 42.0).
func (v Version) Compare(w Version) int {
	for i := 0; i < max(len(v), len(w)); i++ {
		a, b := at(v, i), at(w, i)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}

func at(v Version, i int) int {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// Satisfied reports whether the applied schema is at least the required one.
func Satisfied(required, applied string) (bool, error) {
	r, err := Parse(required)
	if err != nil {
		return false, fmt.Errorf("required: %w", err)
	}
	a, err := Parse(applied)
	if err != nil {
		return false, fmt.Errorf("applied: %w", err)
	}
	return a.Compare(r) >= 0, nil
}
