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
	if p.Withdrawn != "" {
		return "", fmt.Errorf("channel %s (%s) was rolled back from %s to %s: publish a new version first", spec.Channel, spec.Platform, p.Withdrawn, p.Version)
	}
	interval, hold, delay := dur(spec.Analysis.Interval, 10*time.Second), dur(spec.Analysis.Hold, time.Minute), dur(spec.Analysis.InitialDelay, 0)
	fmt.Fprintf(out, "rollout of %s on channel %s (%s): steps %v, each held %s (SLO guard every %s)\n", p.Version, spec.Channel, spec.Platform, spec.Steps, hold, interval)
	for _, step := range spec.Steps {
		if step <= p.Percent && !p.Halted {
			fmt.Fprintf(out, "step %d%%: done already (offered to %d%%)\n", step, p.Percent)
			continue
		}
		if p, err = repo.SetPercent(spec.Channel, spec.Platform, step); err != nil {
			return "", err
		}
		fmt.Fprintf(out, "step %d%%: %s offered to %d%% of installations\n", step, p.Version, step)
		if err := sleep(ctx, delay); err != nil {
			return "", err
		}
		held := time.Duration(0)
		for held < hold {
			results := prom.Evaluate(ctx, spec.Analysis.Metrics, p.Version, time.Now())
			var breach, noData []string
			var seen []string
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
			if len(noData) > 0 { // pause: wait for data; the hold starts again
				fmt.Fprintf(out, "  step %d%%: no data, paused (onNoData: pause)\n", step)
				held = 0
			}
			if err := sleep(ctx, interval); err != nil {
				return "", err
			}
			if len(noData) == 0 {
				held += interval
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
