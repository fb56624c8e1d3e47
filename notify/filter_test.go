package notify

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestTargetGetsOnlyItsKinds(t *testing.T) {
	all, refusedOnly := newReceiver(t, nil), newReceiver(t, nil)
	n, _ := start(t, []Target{
		{Name: t.Name() + "/all", URL: all.URL},
		{Name: t.Name() + "/refused", URL: refusedOnly.URL, Events: []string{Refused}},
	}, Options{})
	for _, e := range []Event{
		{Kind: Refused, Summary: "r1"}, {Kind: RolledBack, Summary: "b1"}, {Kind: Succeeded, Summary: "s1"},
		{Kind: BreakGlass, Summary: "g1"}, {Kind: Refused, Summary: "r2"},
		{Kind: Refused, Summary: "last"}, // a target's events arrive in order: once this is in, nothing else is coming
	} {
		n.Notify(e)
	}

	summaries := func(reqs []received) (kinds, got []string) {
		for _, r := range reqs {
			var ce struct {
				Type string
				Data Data
			}
			if err := json.Unmarshal(r.body, &ce); err != nil {
				t.Fatal(err)
			}
			kinds, got = append(kinds, ce.Type), append(got, ce.Data.Summary)
		}
		return kinds, got
	}
	kinds, got := summaries(refusedOnly.wait(t, 3))
	if want := []string{"r1", "r2", "last"}; !slices.Equal(got, want) || slices.ContainsFunc(kinds, func(k string) bool { return k != "dev.bollard.refused" }) {
		t.Errorf("target with events [refused] got %v (types %v), want %v", got, kinds, want)
	}
	_, got = summaries(all.wait(t, 6))
	if want := []string{"r1", "b1", "s1", "g1", "r2", "last"}; !slices.Equal(got, want) {
		t.Errorf("target with no events listed got %v, want every event in order %v", got, want)
	}
	if extra := len(refusedOnly.requests()); extra != 3 {
		t.Errorf("target with events [refused] got %d requests, want 3", extra)
	}
}
