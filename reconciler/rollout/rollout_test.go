package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
)

var now = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

func release(s *v1alpha1.Strategy, prove, analysis bool) *v1alpha1.Release {
	rel := &v1alpha1.Release{Spec: v1alpha1.ReleaseSpec{Strategy: s}}
	if prove {
		rel.Spec.Prove = &v1alpha1.Prove{HTTP: &v1alpha1.HTTPProve{URL: "http://x"}}
	}
	if analysis {
		rel.Spec.Analysis = &v1alpha1.Analysis{Prometheus: "http://p"}
	}
	return rel
}

func pass(name string) Outcome {
	return Outcome{Result: Pass, Step: v1alpha1.LogStep{Name: name, Result: v1alpha1.ResultOK, Detail: name + " ok"}}
}

var (
	canarySpec    = &v1alpha1.Strategy{Type: v1alpha1.StrategyCanary, Steps: []int32{10, 50, 100}}
	blueGreenSpec = &v1alpha1.Strategy{Type: v1alpha1.StrategyBlueGreen, ActiveService: "web", PreviewService: "web-preview"}
)

// TestNext is the state machine as a transition table: from a status and what its check saw, the
// status after, what the reconciler does, and the log lines added.
func TestNext(t *testing.T) {
	at := func(typ v1alpha1.StrategyType, index int32, check v1alpha1.RolloutCheck) v1alpha1.RolloutStatus {
		return v1alpha1.RolloutStatus{Revision: "r2", Strategy: typ, Phase: v1alpha1.RolloutVerifying, Index: index, Check: check,
			Achieved: "10% asked: 1/10 replicas on the new version = 10%", CheckStartedAt: metav1.NewTime(now.Add(-time.Minute))}
	}
	paused := func(ro v1alpha1.RolloutStatus) v1alpha1.RolloutStatus { ro.Phase = v1alpha1.RolloutPaused; return ro }
	cases := []struct {
		name   string
		rel    *v1alpha1.Release
		from   v1alpha1.RolloutStatus
		out    Outcome
		action Action
		index  int32
		check  v1alpha1.RolloutCheck
		phase  v1alpha1.RolloutPhase
		log    string // the log lines added, "name RESULT: detail | …"
		failed string // Transition.Failed, "name: detail"
	}{
		{"rolling: health passes, prove next", release(nil, true, true), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckHealth), pass("health"),
			Save, 0, v1alpha1.CheckProve, v1alpha1.RolloutVerifying, "health OK: health ok", ""},
		{"rolling: prove passes, SLO guard next", release(nil, true, true), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckProve), pass("prove"),
			Save, 0, v1alpha1.CheckAnalysis, v1alpha1.RolloutVerifying, "prove OK: prove ok", ""},
		{"rolling: the SLO guard holds: verified", release(nil, true, true), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckAnalysis), pass("SLO guard"),
			Complete, 0, "", v1alpha1.RolloutSucceeded, "SLO guard OK: SLO guard ok", ""},
		{"rolling without prove or SLOs: health is all", release(nil, false, false), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckHealth), pass("health"),
			Complete, 0, "", v1alpha1.RolloutSucceeded, "health OK: health ok", ""},
		{"rolling: health times out: failed", release(nil, false, false), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckHealth),
			Outcome{Result: Fail, Step: v1alpha1.LogStep{Name: "health", Result: v1alpha1.ResultFail, Detail: "1/2 Ready"}},
			Failed, 0, v1alpha1.CheckHealth, v1alpha1.RolloutVerifying, "", "health: 1/2 Ready"},
		{"waiting keeps the check, says what it sees", release(nil, false, false), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckHealth),
			Outcome{Result: Wait, Message: "1/2 Ready", Wait: time.Second}, Save, 0, v1alpha1.CheckHealth, v1alpha1.RolloutVerifying, "", ""},
		{"no data with onNoData pause: paused", release(nil, false, true), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckAnalysis),
			Outcome{Result: Wait, Paused: true, Message: "no data"}, Save, 0, v1alpha1.CheckAnalysis, v1alpha1.RolloutPaused, "", ""},
		{"data again after a pause: verifying, the hold from now", release(nil, false, true), paused(at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckAnalysis)),
			Outcome{Result: Wait, Message: "data again"}, Save, 0, v1alpha1.CheckAnalysis, v1alpha1.RolloutVerifying, "", ""},
		{"canary step: health, then its proof", release(canarySpec, true, true), at(v1alpha1.StrategyCanary, 0, v1alpha1.CheckHealth), pass("health"),
			Save, 0, v1alpha1.CheckProve, v1alpha1.RolloutVerifying, "canary 10% health OK: health ok", ""},
		{"canary step held: the next weight is applied", release(canarySpec, true, true), at(v1alpha1.StrategyCanary, 0, v1alpha1.CheckAnalysis), pass("SLO guard"),
			Apply, 1, v1alpha1.CheckHealth, v1alpha1.RolloutVerifying, "canary 10% SLO guard OK: SLO guard ok | canary 10% OK: 10% asked: 1/10 replicas on the new version = 10%", ""},
		{"last canary step held: promoted", release(canarySpec, false, false), at(v1alpha1.StrategyCanary, 1, v1alpha1.CheckHealth), pass("health"),
			Apply, 2, v1alpha1.CheckHealth, v1alpha1.RolloutVerifying, "canary 50% health OK: health ok | canary 50% OK: 10% asked: 1/10 replicas on the new version = 10%", ""},
		{"promoted and healthy: verified", release(canarySpec, true, true), at(v1alpha1.StrategyCanary, 2, v1alpha1.CheckHealth), pass("health"),
			Complete, 2, "", v1alpha1.RolloutSucceeded, "health OK: health ok", ""},
		{"canary breach names the step and the weight", release(canarySpec, false, true), at(v1alpha1.StrategyCanary, 0, v1alpha1.CheckAnalysis),
			Outcome{Result: Fail, Step: v1alpha1.LogStep{Name: "SLO guard (1m0s)", Result: v1alpha1.ResultFail, Detail: "errors 5% > 1%"}},
			Failed, 0, v1alpha1.CheckAnalysis, v1alpha1.RolloutVerifying, "", "canary 10% SLO guard (1m0s): 10% asked: 1/10 replicas on the new version = 10%; errors 5% > 1%"},
		{"blue/green: green verified, the switch is applied", release(blueGreenSpec, true, true), at(v1alpha1.StrategyBlueGreen, 0, v1alpha1.CheckAnalysis), pass("SLO guard"),
			Apply, 1, v1alpha1.CheckHealth, v1alpha1.RolloutVerifying, "SLO guard OK: SLO guard ok", ""},
		{"blue/green: after the switch no second proof", release(blueGreenSpec, true, true), at(v1alpha1.StrategyBlueGreen, 1, v1alpha1.CheckHealth), pass("health"),
			Save, 1, v1alpha1.CheckAnalysis, v1alpha1.RolloutVerifying, "health OK: health ok", ""},
		{"blue/green: blue on green's template healthy, git's state next", release(blueGreenSpec, true, true), at(v1alpha1.StrategyBlueGreen, 2, v1alpha1.CheckHealth), pass("health"),
			Apply, 3, "", v1alpha1.RolloutVerifying, "health OK: health ok", ""},
		{"a first revision rolls out as rolling whatever the spec says", release(canarySpec, false, false), at(v1alpha1.StrategyRolling, 0, v1alpha1.CheckHealth), pass("health"),
			Complete, 0, "", v1alpha1.RolloutSucceeded, "health OK: health ok", ""},
		{"a phase the strategy no longer has: nothing left to check", release(canarySpec, false, false), at(v1alpha1.StrategyCanary, 7, v1alpha1.CheckHealth), pass("health"),
			Complete, 7, "", v1alpha1.RolloutSucceeded, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := Next(For(tc.rel, tc.from.Strategy), tc.from, tc.out, now, 5*time.Second)
			st := tr.Status
			if tr.Action != tc.action || st.Index != tc.index || st.Check != tc.check || st.Phase != tc.phase {
				t.Errorf("action %d index %d check %q phase %s; want %d %d %q %s", tr.Action, st.Index, st.Check, st.Phase, tc.action, tc.index, tc.check, tc.phase)
			}
			var log []string
			for _, l := range tr.Log {
				log = append(log, l.Name+" "+string(l.Result)+": "+l.Detail)
			}
			if got := strings.Join(log, " | "); got != tc.log {
				t.Errorf("log %q, want %q", got, tc.log)
			}
			if got := tr.Failed.Name + ": " + tr.Failed.Detail; tc.failed != "" && got != tc.failed || tc.failed == "" && tr.Failed.Name != "" {
				t.Errorf("failed %q, want %q", got, tc.failed)
			}
			if st.Check == v1alpha1.CheckAnalysis && tc.from.Check != v1alpha1.CheckAnalysis && !st.CheckStartedAt.Time.Equal(now.Add(5*time.Second)) {
				t.Errorf("the SLO guard starts at %v, want after the initial delay", st.CheckStartedAt)
			}
			if tc.from.Phase == v1alpha1.RolloutPaused && st.Phase == v1alpha1.RolloutVerifying && !st.CheckStartedAt.Time.Equal(now) {
				t.Errorf("out of a pause the hold starts at %v, want now", st.CheckStartedAt)
			}
			if tr.Action == Apply && st.Achieved != "" {
				t.Errorf("a phase to apply carries the last one's achievement %q", st.Achieved)
			}
		})
	}
}

// TestResume: a persisted rollout that names no check (an older daemon's) runs its phase's checks
// from the first instead of counting as verified.
func TestResume(t *testing.T) {
	ro := v1alpha1.RolloutStatus{Revision: "r2", Strategy: v1alpha1.StrategyRolling, Phase: v1alpha1.RolloutVerifying}
	s := For(release(nil, true, true), ro.Strategy)
	got := Resume(s, ro, now)
	if got.Check != v1alpha1.CheckHealth || !got.CheckStartedAt.Time.Equal(now) {
		t.Fatalf("resumed %+v", got)
	}
	if tr := Next(s, got, pass("health"), now, 0); tr.Action != Save || tr.Status.Check != v1alpha1.CheckProve {
		t.Errorf("after health: %+v", tr)
	}
	ro.Check = v1alpha1.CheckAnalysis
	if got := Resume(s, ro, now); got.Check != v1alpha1.CheckAnalysis {
		t.Errorf("a named check was reset: %+v", got)
	}
}

// TestStrategies: the phases each strategy goes through, and their checks.
func TestStrategies(t *testing.T) {
	phases := func(s Strategy) string {
		var out []string
		for i := int32(0); ; i++ {
			p, ok := s.Phase(i)
			if !ok {
				return strings.Join(out, " → ")
			}
			var checks []string
			for _, c := range p.Checks {
				checks = append(checks, string(c))
			}
			out = append(out, p.Name+" ["+strings.Join(checks, ",")+"]")
		}
	}
	for name, tc := range map[string]struct {
		rel  *v1alpha1.Release
		want string
	}{
		"rolling":  {release(nil, true, true), "rollout [health,prove,analysis]"},
		"canary":   {release(canarySpec, true, true), "canary 10% [health,prove,analysis] → canary 50% [health,prove,analysis] → promote [health]"},
		"defaults": {release(&v1alpha1.Strategy{Type: v1alpha1.StrategyCanary}, false, true), "canary 1% [health,analysis] → canary 10% [health,analysis] → canary 50% [health,analysis] → promote [health]"},
		"route": {release(&v1alpha1.Strategy{Type: v1alpha1.StrategyCanary, HTTPRoute: "shop", Steps: []int32{25, 100}}, false, false),
			"canary 25% [health] → promote [health]"},
		"blue/green": {release(blueGreenSpec, true, true), "green [health,prove,analysis] → switch [health,analysis] → blue takes green's template [health] → promote []"},
	} {
		if got := phases(For(tc.rel, "")); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
	if For(release(canarySpec, false, false), v1alpha1.StrategyRolling).Type() != v1alpha1.StrategyRolling {
		t.Error("a rollout started as rolling changed strategy")
	}
}

// TestRouteWeightsMalformed: an HTTPRoute from git with null or non-object rules or backendRefs is
// refused with the path of what is wrong, never a panic.
func TestRouteWeightsMalformed(t *testing.T) {
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "web"}, "spec": map[string]any{}}}
	for name, tc := range map[string]struct {
		rules []any
		want  string
	}{
		"null rule":           {[]any{nil}, "spec.rules[0] is not an object"},
		"string rule":         {[]any{"x"}, "spec.rules[0] is not an object"},
		"null backendRef":     {[]any{map[string]any{"backendRefs": []any{nil}}}, "spec.rules[0].backendRefs[0] is not an object"},
		"no Service":          {[]any{map[string]any{"backendRefs": []any{}}}, "no backendRef to a Service"},
		"second rule is null": {[]any{map[string]any{"backendRefs": []any{map[string]any{"name": "web"}}}, nil}, "spec.rules[1] is not an object"},
	} {
		route := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
			"metadata": map[string]any{"name": "shop"}, "spec": map[string]any{"rules": tc.rules}}}
		_, _, err := routeWeights([]*unstructured.Unstructured{route, svc}, "shop", 10, "1")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
