package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
)

func newPromoteCommand() *cobra.Command {
	var kube kubeOptions
	var from, to string
	var record int64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "promote RELEASE --from ENVIRONMENT --to ENVIRONMENT [--record N]",
		Short: "Deploy in one environment exactly the digests another verified: staging → production",
		Long: `Promote RELEASE from one environment to the next: the Release of that name in the namespace
labelled bollard.dev/environment=--to deploys exactly the image digests its namesake in --from
verified and deployed with SUCCESS — its DeploymentRecord is the evidence — and the command
follows it like bollard deploy.

The source is the newest change of the --from Release that went through pre-flight (a self-heal
is skipped), or --record N. It is refused (exit 2, nothing asked of the target) when that change
did not end SUCCESS, or any of its images was not verified (no signature checked, no digest).

The target keeps its own git revision and runs its own pre-flight (freeze windows, flags, risky
changes, schema, signatures under its policies) and rollout, with the digests pinned: the
annotations bollard.dev/artifact (the digests) and bollard.dev/promoted-from (the record), which
the daemon checks against the record before pre-flight. The target's Deployment Log links the
source record. The pins hold until a deploy without them (bollard deploy) or a rollback of the
promotion.

Exit codes: 0 deployed and verified, 1 rolled back or failed, 2 refused (here or by pre-flight).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give exactly one RELEASE")}
			}
			if from == "" || to == "" {
				return usageError{errors.New("give --from and --to (environments, e.g. staging and production)")}
			}
			c, err := kube.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			src, err := findRelease(ctx, c, args[0], "", from)
			if err != nil {
				return err
			}
			dst, err := findRelease(ctx, c, args[0], "", to)
			if err != nil {
				return err
			}
			if src == dst {
				return usageError{fmt.Errorf("--from %s and --to %s are the same namespace %s", from, to, src.Namespace)}
			}
			rec, err := promotionSource(ctx, c, src, record)
			if err != nil {
				return err
			}
			pins, err := reconciler.PromotionPins(rec.Log)
			if err != nil {
				return deployOutcome{2, fmt.Sprintf("refused: nothing promoted from %s: %v", from, err)}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "promoting from %s (Release %s, Deployment Log #%d %s, revision %s, DeploymentRecord %s) to %s (Release %s) exactly:\n",
				from, src, rec.Log.ID, rec.Log.Status, short(rec.Log.Revision), rec.Name, to, dst)
			for _, p := range pins {
				fmt.Fprintf(out, "  %s\n", p)
			}
			return deploy(ctx, c, out, dst, deployRequest{artifact: strings.Join(pins, ","), promotedFrom: rec.Namespace + "/" + rec.Name}, timeout)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the environment whose verified digests are promoted (staging)")
	cmd.Flags().StringVar(&to, "to", "", "the environment that deploys them (production)")
	cmd.Flags().Int64Var(&record, "record", 0, "promote this Deployment Log of the source Release (default: its newest change through pre-flight)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "how long to follow the rollout")
	kube.BindFlags(cmd.Flags())
	return cmd
}

// promotionSource is the DeploymentRecord a promotion rests on: log id of the source Release, or
// its newest change that went through pre-flight (one with evidence, or one that did not end
// SUCCESS — a failure is never skipped for an older success). A change still under way in the
// source, or not kept as a record yet, is no evidence: refused.
func promotionSource(ctx context.Context, c client.Client, src client.ObjectKey, id int64) (*v1alpha1.DeploymentRecord, error) {
	var rel v1alpha1.Release
	if err := c.Get(ctx, src, &rel); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, usageError{fmt.Errorf("no Release %s", src)}
		}
		return nil, err
	}
	var records v1alpha1.DeploymentRecordList
	if err := c.List(ctx, &records, client.InNamespace(src.Namespace), client.MatchingLabels{reconciler.LabelRecordReleaseUID: string(rel.UID)}); err != nil {
		return nil, fmt.Errorf("the DeploymentRecords of %s: %w", src, err)
	}
	byID := map[int64]*v1alpha1.DeploymentRecord{}
	for i := range records.Items {
		byID[records.Items[i].Log.ID] = &records.Items[i]
	}
	for _, l := range reconciler.MergeLogs(records.Items, rel.Status.History) {
		if id != 0 && l.ID != id || id == 0 && len(l.Evidence) == 0 && l.Status == v1alpha1.LogSuccess {
			continue
		}
		if l.Status == v1alpha1.LogVerifying {
			return nil, deployOutcome{2, fmt.Sprintf("refused: Release %s is still verifying Deployment Log #%d (revision %s): promote once it ends", src, l.ID, short(l.Revision))}
		}
		rec, ok := byID[l.ID]
		if !ok {
			return nil, deployOutcome{2, fmt.Sprintf("refused: Deployment Log #%d of Release %s (%s) is not kept as a DeploymentRecord yet: try again", l.ID, src, l.Status)}
		}
		return rec, nil
	}
	if id != 0 {
		return nil, deployOutcome{2, fmt.Sprintf("refused: Release %s keeps no Deployment Log #%d", src, id)}
	}
	return nil, deployOutcome{2, fmt.Sprintf("refused: Release %s has no finished change through pre-flight to promote (%d record(s))", src, len(records.Items))}
}
