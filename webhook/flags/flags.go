// Package flags reads live feature-flag states from an OpenFeature flagd flag-definition document
// and checks a workload's bollard.dev/requires-flags against them.
package flags

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Requirement is one entry of bollard.dev/requires-flags: "new-checkout=off".
type Requirement struct {
	Flag string `json:"flag"`
	Want string `json:"want"`
}

// ParseRequirements parses "new-checkout=off,payments-v2=on".
func ParseRequirements(annotation string) ([]Requirement, error) {
	var reqs []Requirement
	seen := map[string]bool{}
	for _, part := range strings.Split(annotation, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, want, ok := strings.Cut(part, "=")
		name, want = strings.TrimSpace(name), strings.TrimSpace(want)
		if !ok || name == "" || want == "" {
			return nil, fmt.Errorf("flag requirement %q: want name=state, e.g. new-checkout=off", part)
		}
		if seen[name] {
			return nil, fmt.Errorf("flag %s required twice", name)
		}
		seen[name] = true
		reqs = append(reqs, Requirement{Flag: name, Want: normalize(want)})
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("no flag requirements in %q", annotation)
	}
	return reqs, nil
}

// normalize folds the spellings of a boolean state into on / off.
func normalize(state string) string {
	switch strings.ToLower(state) {
	case "on", "true", "enabled":
		return "on"
	case "off", "false", "disabled":
		return "off"
	}
	return state
}

// Set is the flags of one flagd document.
type Set struct {
	states map[string]string
}

type flagDef struct {
	State          string                     `json:"state"`
	Variants       map[string]json.RawMessage `json:"variants"`
	DefaultVariant string                     `json:"defaultVariant"`
}

// Parse reads a flagd flag-definition document. A flag's live state is its default variant
// (targeting rules need an evaluation context, which a deploy does not have): a boolean variant
// reads as on / off, any other as the variant's name; a DISABLED flag reads as off.
func Parse(doc []byte) (*Set, error) {
	var file struct {
		Flags map[string]flagDef `json:"flags"`
	}
	if err := json.Unmarshal(doc, &file); err != nil {
		return nil, fmt.Errorf("flagd document: %w", err)
	}
	if file.Flags == nil {
		return nil, fmt.Errorf(`flagd document: no "flags" object`)
	}
	s := &Set{states: map[string]string{}}
	for name, def := range file.Flags {
		state, err := def.liveState()
		if err != nil {
			return nil, fmt.Errorf("flagd document: flag %s: %w", name, err)
		}
		s.states[name] = state
	}
	return s, nil
}

func (d flagDef) liveState() (string, error) {
	switch d.State {
	case "DISABLED":
		return "off", nil
	case "ENABLED":
	default:
		return "", fmt.Errorf("state %q: want ENABLED or DISABLED", d.State)
	}
	raw, ok := d.Variants[d.DefaultVariant]
	if !ok {
		return "", fmt.Errorf("defaultVariant %q is not one of its variants", d.DefaultVariant)
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if b {
			return "on", nil
		}
		return "off", nil
	}
	return d.DefaultVariant, nil
}

// State returns a flag's live state and whether the flag exists.
func (s *Set) State(flag string) (string, bool) {
	state, ok := s.states[flag]
	return state, ok
}

// Mismatch is a requirement the live states do not meet.
type Mismatch struct {
	Flag string `json:"flag"`
	Want string `json:"want"`
	Have string `json:"have"` // "missing" when the flag is not defined
}

// Check returns the requirements that are not met, sorted by flag.
func (s *Set) Check(reqs []Requirement) []Mismatch {
	var out []Mismatch
	for _, r := range reqs {
		have, ok := s.State(r.Flag)
		if !ok {
			out = append(out, Mismatch{Flag: r.Flag, Want: r.Want, Have: "missing"})
		} else if have != r.Want {
			out = append(out, Mismatch{Flag: r.Flag, Want: r.Want, Have: have})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Flag < out[j].Flag })
	return out
}
