package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/analysis"
)

// RolloutSpec is a staged rollout of what a channel offers: each step's share held under the
// SLO guard (the same Analysis as a Release's canary), halted — and with RollbackOnFailure
// rolled back — on a breach.
type RolloutSpec struct {
	Channel, Platform string
	// Steps are the shares (percent, rising) offered in turn; the last is normally 100.
	Steps             []int
	Analysis          v1alpha1.Analysis
	RollbackOnFailure bool
	// Resume lifts a halt the rollout finds (a person decided to go on); without it a halted
	// channel is refused.
	Resume bool
}

// Outcome is how a rollout ended.
type Outcome string

const (
	Completed  Outcome = "COMPLETED"
	Halted     Outcome = "HALTED"
	RolledBack Outcome = "ROLLED_BACK"
)

// Rollout steps channel's version through spec.Steps, printing each step and the SLO values it
// saw to out. It resumes where the feed says the rollout is: steps at or below the share offered
// now are done already (the feed's signed pointer is the persisted state: a rollout stopped by a
// crash or a person goes on from there). On a breach — or no data with onNoData fail — it halts
// the channel (nobody new is offered the version) and, with RollbackOnFailure, points it back at
// the earlier version.
func Rollout(ctx context.Context, repo *Repo, spec RolloutSpec, prom *analysis.Prometheus, out io.Writer) (Outcome, error) {
	if len(spec.Steps) == 0 {
		return "", errors.New("no steps")
	}
	for i, s := range spec.Steps {
		if s < 1 || s > 100 || i > 0 && s <= spec.Steps[i-1] {
			return "", fmt.Errorf("steps %v: want rising percentages from 1 to 100", spec.Steps)
		}
	}
	if len(spec.Analysis.Metrics) == 0 {
		return "", errors.New("no SLO metric: a staged rollout without a guard is a plain publish")
	}
	p, err := repo.Pointer(spec.Channel, spec.Platform)
	if err != nil {
		return "", err
	}
	switch {
	case p.Withdrawn != "":
		return "", fmt.Errorf("channel %s (%s) was rolled back from %s to %s: publish a new version first", spec.Channel, spec.Platform, p.Withdrawn, p.Version)
	case p.Halted && !spec.Resume:
		return "", fmt.Errorf("channel %s (%s) is halted at %d%% of %s: resume it on purpose (--resume) or roll back", spec.Channel, spec.Platform, p.Percent, p.Version)
	case !p.Halted && p.Percent >= 100:
		return "", fmt.Errorf("channel %s (%s) offers %s to 100%% already: publish with --percent 0 to roll a version out", spec.Channel, spec.Platform, p.Version)
	}
	version := p.Version
	interval, hold, delay := max(dur(spec.Analysis.Interval, 10*time.Second), 100*time.Millisecond), dur(spec.Analysis.Hold, time.Minute), dur(spec.Analysis.InitialDelay, 0)
	fmt.Fprintf(out, "rollout of %s on channel %s (%s): steps %v, each held %s (SLO guard every %s)\n", p.Version, spec.Channel, spec.Platform, spec.Steps, hold, interval)
	for _, step := range spec.Steps {
		if step < p.Percent {
			// Passed before (the feed's pointer is the rollout's state); the step it stands at is
			// held again: an interrupted hold proved nothing.
			fmt.Fprintf(out, "step %d%%: done already (offered to %d%%)\n", step, p.Percent)
			continue
		}
		if p, err = repo.SetPercentOf(spec.Channel, spec.Platform, version, step); err != nil {
			return "", err
		}
		fmt.Fprintf(out, "step %d%%: %s offered to %d%% of installations\n", step, p.Version, step)
		if err := sleep(ctx, delay); err != nil {
			return "", err
		}
		// Evaluated at once, then every interval until the SLOs have held for hold: the last
		// evaluation is at the end of the hold.
	holding:
		for held := time.Duration(0); ; {
			// A person may press halt, roll back or publish meanwhile: the rollout stops, it never
			// undoes them.
			if now, err := repo.Pointer(spec.Channel, spec.Platform); err != nil {
				return "", err
			} else if now.Version != version || now.Halted || now.Withdrawn != "" || now.Percent != step {
				fmt.Fprintf(out, "step %d%%: the channel changed under the rollout (%s at %d%%, halted %t): stopped\nSTATUS: %s\n", step, now.Version, now.Percent, now.Halted, Halted)
				return Halted, nil
			}
			results := prom.Evaluate(ctx, spec.Analysis.Metrics, p.Version, time.Now())
			var breach, noData, seen []string
			for _, r := range results {
				seen = append(seen, r.String())
				switch {
				case r.Breached():
					breach = append(breach, r.String())
				case r.Err != nil:
					noData = append(noData, r.String())
				}
			}
			fmt.Fprintf(out, "  step %d%% SLO guard (%s of %s): %s\n", step, held.Round(time.Second), hold, strings.Join(seen, "; "))
			if len(noData) > 0 && spec.Analysis.OnNoData != "pause" {
				breach = append(breach, noData...)
			}
			if len(breach) > 0 {
				return stop(repo, spec, p, step, strings.Join(breach, "; "), out)
			}
			switch {
			case len(noData) > 0: // pause: wait for data; the hold starts again
				fmt.Fprintf(out, "  step %d%%: no data, paused (onNoData: pause)\n", step)
				held = 0
			case held >= hold:
				break holding
			default:
				held += interval
			}
			if err := sleep(ctx, interval); err != nil {
				return "", err
			}
		}
		fmt.Fprintf(out, "step %d%%: PASS\n", step)
	}
	fmt.Fprintf(out, "STATUS: %s — %s offered to %d%% of installations\n", Completed, p.Version, p.Percent)
	return Completed, nil
}

// stop is the red button on a breach: halt, and roll back when asked.
func stop(repo *Repo, spec RolloutSpec, p Pointer, step int, why string, out io.Writer) (Outcome, error) {
	if _, err := repo.Halt(spec.Channel, spec.Platform); err != nil {
		return "", fmt.Errorf("breach at %d%% (%s), and the halt failed: %w", step, why, err)
	}
	fmt.Fprintf(out, "step %d%%: FAIL — %s\nhalt: %s is offered to nobody new (installations that updated keep it)\n", step, why, p.Version)
	if !spec.RollbackOnFailure {
		fmt.Fprintf(out, "STATUS: %s at %d%%\n", Halted, step)
		return Halted, nil
	}
	back, err := repo.Rollback(spec.Channel, spec.Platform)
	if err != nil {
		fmt.Fprintf(out, "rollback: FAIL — %v\nSTATUS: %s at %d%%\n", err, Halted, step)
		return Halted, nil
	}
	fmt.Fprintf(out, "rollback: the channel offers %s again; installations on %s are offered it back\nSTATUS: %s\n", back.Version, p.Version, RolledBack)
	return RolledBack, nil
}

func dur(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
