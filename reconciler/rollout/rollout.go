// Package rollout is the rollout of a Release's new revision as one explicit state machine:
// a Strategy (rolling, canary by replica ratio, canary by HTTPRoute, blue/green — one file each)
// is a list of phases, each applying its objects and verified by its checks (health, prove, the
// SLO guard) in order; Next is every transition, a pure function of the persisted status
// (v1alpha1.RolloutStatus) and what the last check saw. The reconciler does the I/O: it runs
// the check Next names, applies the phase it names, and persists the status it returns.
//
//	phase i, check c ──pass──► next check of phase i ──…──► phase i+1 (Apply) ──…──► Complete
//	       │                                                        │
//	       └──wait──► (same, message, requeue)      apply failed ───┴──► Fail
//	       └──fail──► Fail (persisted as Failing, then rolled back or halted)
package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
)

// Phase is one phase of a strategy: what it is called in the Deployment Log, the canary weight
// it asks for, and the checks that verify it, in order (none: applied, then done).
type Phase struct {
	Name   string
	Weight int32
	Checks []v1alpha1.RolloutCheck
	// Prefix names the phase in its checks' log lines ("canary 10% "): a canary's steps are told
	// apart in the log.
	Prefix string
}

// Result is what a check saw.
type Result int

const (
	Wait Result = iota // not yet: check again after Outcome.Wait
	Pass
	Fail
)

// Outcome is one run of a check.
type Outcome struct {
	Result Result
	// Step is the check's log line (Pass, Fail).
	Step v1alpha1.LogStep
	// Message says what it sees (Wait); Wait is when to check again.
	Message string
	Wait    time.Duration
	// Paused: the SLO guard waits for data (onNoData: pause).
	Paused bool
}

// Check verifies a phase: one run says what it saw. The reconciler implements health (the new
// pods Ready), prove (an HTTP check or a Job) and the SLO guard (Prometheus).
type Check interface {
	Run(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) (Outcome, error)
}

// Checks are the implementations of each kind of check.
type Checks map[v1alpha1.RolloutCheck]Check

// Run runs ro's check; a check with no implementation (none left to run) passes.
func (c Checks) Run(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) (Outcome, error) {
	if check, ok := c[ro.Check]; ok {
		return check.Run(ctx, rel, ro, now)
	}
	return Outcome{Result: Pass}, nil
}

// Action is what the reconciler does after a transition.
type Action int

const (
	// Save persists the status and checks again after Requeue.
	Save Action = iota
	// Apply applies phase Status.Index (its objects), then persists the status.
	Apply
	// Complete ends the rollout as verified.
	Complete
	// Failed ends the rollout as failed (Transition.Failed says why): rolled back or halted.
	Failed
)

// Transition is the new status, what to do, and the log lines it adds.
type Transition struct {
	Status  v1alpha1.RolloutStatus
	Action  Action
	Log     []v1alpha1.LogStep
	Failed  v1alpha1.LogStep
	Requeue time.Duration
}

// Next is the state machine: the transition from ro after its running check saw out, at now;
// delay is the SLO guard's initial delay (the hold starts after it).
func Next(s Strategy, ro v1alpha1.RolloutStatus, out Outcome, now time.Time, delay time.Duration) Transition {
	phase, ok := s.Phase(ro.Index)
	if !ok { // a phase the strategy no longer has (the spec changed): nothing left to check
		return Transition{Status: done(ro), Action: Complete}
	}
	switch out.Result {
	case Fail:
		step := out.Step
		if phase.Prefix != "" {
			step.Name = phase.Prefix + step.Name
			if ro.Achieved != "" {
				step.Detail = ro.Achieved + "; " + step.Detail
			}
		}
		return Transition{Status: ro, Action: Failed, Failed: step}
	case Wait:
		ro.Message = out.Message
		switch {
		case out.Paused:
			ro.Phase = v1alpha1.RolloutPaused
		case ro.Phase == v1alpha1.RolloutPaused:
			// Data again: the hold counts from now (time without data proved nothing).
			ro.Phase, ro.CheckStartedAt = v1alpha1.RolloutVerifying, metav1.NewTime(now)
		}
		return Transition{Status: ro, Action: Save, Requeue: max(out.Wait, 100*time.Millisecond)}
	}
	// Pass: the next check of the phase, or the next phase, or done.
	ro.Phase = v1alpha1.RolloutVerifying
	var log []v1alpha1.LogStep
	if out.Step.Name != "" {
		step := out.Step
		step.Name = phase.Prefix + step.Name
		log = append(log, step)
	}
	if i := slices.Index(phase.Checks, ro.Check); i >= 0 && i+1 < len(phase.Checks) {
		ro.Check = phase.Checks[i+1]
		ro.CheckStartedAt = startOf(ro.Check, now, delay)
		ro.Message = fmt.Sprintf("%s%s: %s", phase.Prefix, out.Step.Name, out.Step.Detail)
		return Transition{Status: ro, Action: Save, Log: log, Requeue: time.Second}
	}
	if phase.Prefix != "" {
		log = append(log, v1alpha1.LogStep{Name: phase.Name, Result: v1alpha1.ResultOK, Detail: ro.Achieved})
	}
	next, ok := s.Phase(ro.Index + 1)
	if !ok {
		return Transition{Status: done(ro), Action: Complete, Log: log}
	}
	ro.Index++
	ro.CanaryWeight, ro.Achieved, ro.Check = next.Weight, "", ""
	if len(next.Checks) > 0 {
		ro.Check = next.Checks[0]
	}
	ro.CheckStartedAt = startOf(ro.Check, now, delay)
	ro.Message = "applying " + next.Name
	return Transition{Status: ro, Action: Apply, Log: log, Requeue: time.Second}
}

// Resume fills in a status that names no check where its phase has some (a rollout persisted by
// a daemon before the status had checks): the phase's checks run again from the first, so
// nothing counts as verified that was not checked.
func Resume(s Strategy, ro v1alpha1.RolloutStatus, now time.Time) v1alpha1.RolloutStatus {
	if phase, ok := s.Phase(ro.Index); ok && len(phase.Checks) > 0 && !slices.Contains(phase.Checks, ro.Check) {
		ro.Check, ro.CheckStartedAt = phase.Checks[0], metav1.NewTime(now)
	}
	return ro
}

// Start is the status of a rollout of revision by s, its first phase applied at now.
func Start(s Strategy, ro v1alpha1.RolloutStatus, now time.Time, delay time.Duration) v1alpha1.RolloutStatus {
	first, _ := s.Phase(0)
	ro.Strategy, ro.Phase, ro.Index, ro.CanaryWeight = s.Type(), v1alpha1.RolloutVerifying, 0, first.Weight
	ro.Check = ""
	if len(first.Checks) > 0 {
		ro.Check = first.Checks[0]
	}
	ro.StartedAt, ro.CheckStartedAt = metav1.NewTime(now), startOf(ro.Check, now, delay)
	return ro
}

func startOf(c v1alpha1.RolloutCheck, now time.Time, delay time.Duration) metav1.Time {
	if c == v1alpha1.CheckAnalysis {
		return metav1.NewTime(now.Add(delay))
	}
	return metav1.NewTime(now)
}

func done(ro v1alpha1.RolloutStatus) v1alpha1.RolloutStatus {
	ro.Phase, ro.Message, ro.Check = v1alpha1.RolloutSucceeded, "verified", ""
	return ro
}
