package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
)

// channelOutcome makes ship exit 1 (halted, rolled back, failed) or 2 (refused, rejected).
type channelOutcome struct {
	msg  string
	code int
}

func (e channelOutcome) Error() string { return e.msg }

// channelTarget is the flags every ChannelRelease command shares.
type channelTarget struct {
	kube      kubeOptions
	namespace string
}

func (ct *channelTarget) bind(cmd *cobra.Command) {
	ct.kube.BindFlags(cmd.Flags())
	cmd.Flags().StringVarP(&ct.namespace, "namespace", "n", "default", "the ChannelRelease's namespace")
}

func (ct *channelTarget) get(ctx context.Context, args []string) (client.Client, *v1alpha1.ChannelRelease, error) {
	if len(args) != 1 {
		return nil, nil, usageError{errors.New("give exactly one CHANNELRELEASE")}
	}
	c, err := ct.kube.Client()
	if err != nil {
		return nil, nil, err
	}
	cr := &v1alpha1.ChannelRelease{}
	return c, cr, c.Get(ctx, client.ObjectKey{Namespace: ct.namespace, Name: args[0]}, cr)
}

func channelReleaseCommands() []*cobra.Command {
	return []*cobra.Command{newChannelShipCommand(), newChannelStatusCommand(), newChannelLogCommand(),
		newChannelRequestCommand("halt", "The red button: offer the version to nobody new (Play: halted, users who updated keep it; feed: the pointer stops)"),
		newChannelRequestCommand("resume", "Lift a halt and go on with the staged rollout, at --percent or where it stood"),
		newChannelRequestCommand("complete", "Offer the version to everyone now, ending the staged rollout")}
}

func newChannelShipCommand() *cobra.Command {
	var ct channelTarget
	var artifact, version string
	var versionCode int64
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "ship CHANNELRELEASE [-n NAMESPACE] [--artifact REF@sha256:… --version V [--version-code N]]",
		Aliases: []string{"promote", "rollout"},
		Short:   "Ship a ChannelRelease (optionally a new artifact) and follow it step by step",
		Long: `Ship CHANNELRELEASE: with --artifact, its spec is changed to that artifact first (a new
change, from pre-flight); then every step the daemon takes is printed as it happens — the
pre-flight verdict, the submission, the store's review, each percentage with the SLO values
seen — until the change ends.

Exit codes: 0 completed, 1 halted, rolled back or failed, 2 refused by pre-flight or rejected
by the store (or a usage error).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cr, err := ct.get(ctx, args)
			if err != nil {
				return err
			}
			if artifact != "" {
				if version == "" {
					return usageError{errors.New("--artifact needs --version")}
				}
				cr.Spec.Artifact = v1alpha1.ChannelArtifact{Ref: artifact, Version: version, VersionCode: versionCode}
				if err := c.Update(ctx, cr); err != nil {
					return err
				}
			}
			return followChannel(ctx, c, cmd.OutOrStdout(), client.ObjectKeyFromObject(cr), cr.Generation, timeout)
		},
	}
	ct.bind(cmd)
	cmd.Flags().StringVar(&artifact, "artifact", "", "the OCI artifact to ship (repository@sha256:…)")
	cmd.Flags().StringVar(&version, "version", "", "its version (what the SLO queries select)")
	cmd.Flags().Int64Var(&versionCode, "version-code", 0, "its Play versionCode")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Hour, "how long to follow")
	return cmd
}

// followChannel prints each new step of the change of generation until it ends.
func followChannel(ctx context.Context, c client.Client, out io.Writer, key client.ObjectKey, generation int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	printed, lastMsg := 0, ""
	for {
		cr := &v1alpha1.ChannelRelease{}
		if err := c.Get(ctx, key, cr); err != nil {
			return err
		}
		if cr.Status.ObservedGeneration >= generation && len(cr.Status.History) > 0 {
			l := cr.Status.History[len(cr.Status.History)-1]
			all := append(append([]v1alpha1.LogStep{}, l.Gates...), l.Steps...)
			for _, s := range all[min(printed, len(all)):] {
				fmt.Fprintf(out, "%s: %s %s\n", s.Name, s.Result, s.Detail)
			}
			printed = len(all)
			if cr.Status.Message != lastMsg {
				fmt.Fprintf(out, "  %s: %s\n", cr.Status.Phase, cr.Status.Message)
				lastMsg = cr.Status.Message
			}
			switch cr.Status.Phase {
			case v1alpha1.ChannelCompleted:
				reconciler.WriteChannelLog(out, cr, l)
				return nil
			case v1alpha1.ChannelRefused, v1alpha1.ChannelRejected:
				reconciler.WriteChannelLog(out, cr, l)
				return channelOutcome{string(cr.Status.Phase) + ": " + cr.Status.Message, 2}
			case v1alpha1.ChannelHalted, v1alpha1.ChannelRolledBack, v1alpha1.ChannelFailed:
				reconciler.WriteChannelLog(out, cr, l)
				return channelOutcome{string(cr.Status.Phase) + ": " + cr.Status.Message, 1}
			}
		}
		if time.Now().After(deadline) {
			return channelOutcome{fmt.Sprintf("still %s after %s (is bollard daemon running?)", cr.Status.Phase, timeout), 1}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func newChannelStatusCommand() *cobra.Command {
	var ct channelTarget
	var output string
	cmd := &cobra.Command{
		Use:   "status CHANNELRELEASE [-n NAMESPACE] [-o json]",
		Short: "Where a ChannelRelease stands: phase, percent, the store's state",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cr, err := ct.get(cmd.Context(), args)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(cr.Status)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %s %s at %d%% (%s)\n  artifact: %s\n  store: %s\n  %s\n", cr.Namespace, cr.Name, cr.Spec.Artifact.Version,
				cr.Status.Phase, cr.Status.Percent, cr.Spec.Target.Type, orDefault(cr.Status.Artifact, cr.Spec.Artifact.Ref), orDefault(cr.Status.StoreState, "-"), cr.Status.Message)
			return nil
		},
	}
	ct.bind(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json: the status as JSON")
	return cmd
}

func newChannelLogCommand() *cobra.Command {
	var ct channelTarget
	var output string
	var all bool
	cmd := &cobra.Command{
		Use:   "log CHANNELRELEASE [-n NAMESPACE] [--all] [-o json]",
		Short: "The Deployment Log of a ChannelRelease's latest change (--all: every one kept, newest first)",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cr, err := ct.get(cmd.Context(), args)
			if err != nil {
				return err
			}
			limit := 1
			if all {
				limit = 0
			}
			return writeChannelLogs(cmd.Context(), c, cmd.OutOrStdout(), cr, 0, limit, output)
		},
	}
	ct.bind(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "json: the logs as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "every Deployment Log kept, oldest first")
	return cmd
}

// writeChannelLogs prints cr's Deployment Logs newest first — its DeploymentRecords and what its
// status holds that no record does yet — (id: only that one; limit > 0: at most that many), as
// text or JSON.
func writeChannelLogs(ctx context.Context, c client.Reader, out io.Writer, cr *v1alpha1.ChannelRelease, id int64, limit int, output string) error {
	var records v1alpha1.DeploymentRecordList
	if err := c.List(ctx, &records, client.InNamespace(cr.Namespace), client.MatchingLabels{reconciler.LabelRecordReleaseUID: string(cr.UID)}); err != nil {
		return fmt.Errorf("the ChannelRelease's DeploymentRecords: %w", err)
	}
	var logs []v1alpha1.DeploymentLog
	for _, l := range reconciler.MergeLogs(records.Items, cr.Status.History) {
		if id == 0 || l.ID == id {
			logs = append(logs, l)
		}
	}
	switch {
	case len(logs) == 0 && id != 0:
		return fmt.Errorf("ChannelRelease %s/%s keeps no Deployment Log #%d", cr.Namespace, cr.Name, id)
	case len(logs) == 0:
		return fmt.Errorf("ChannelRelease %s/%s has no Deployment Log yet", cr.Namespace, cr.Name)
	}
	if limit > 0 && len(logs) > limit {
		logs = logs[:limit]
	}
	if output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(logs)
	}
	for _, l := range logs {
		reconciler.WriteChannelLog(out, cr, l)
	}
	return nil
}

// newChannelRequestCommand is halt, resume or complete: the request annotation, then the wait
// for the daemon to act on it.
func newChannelRequestCommand(verb, short string) *cobra.Command {
	var ct channelTarget
	var percent int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   verb + " CHANNELRELEASE [-n NAMESPACE]",
		Short: short,
		Long: short + `.

The daemon acts on the request (annotation bollard.dev/channel-request) and the command waits
for it. Exit codes: 0 done, 1 the daemon did not act, 2 usage error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, cr, err := ct.get(ctx, args)
			if err != nil {
				return err
			}
			value := verb
			if percent != 0 {
				if percent < 1 || percent > 100 {
					return usageError{fmt.Errorf("--percent %d: want 1–100", percent)}
				}
				value += ":" + strconv.Itoa(percent)
			}
			value += "@" + time.Now().UTC().Format(time.RFC3339Nano)
			if err := c.Patch(ctx, cr, reconciler.AnnotationsPatch(map[string]string{v1alpha1.AnnotationChannelRequest: value})); err != nil {
				return err
			}
			deadline := time.Now().Add(timeout)
			for cr.Status.LastRequest != value {
				if time.Now().After(deadline) {
					return channelOutcome{fmt.Sprintf("the daemon did not act on %s within %s (is bollard daemon running?)", verb, timeout), 1}
				}
				time.Sleep(200 * time.Millisecond)
				if err := c.Get(ctx, client.ObjectKeyFromObject(cr), cr); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: %s at %d%%: %s\n", cr.Namespace, cr.Name, cr.Status.Phase, cr.Status.Percent, cr.Status.Message)
			return nil
		},
	}
	ct.bind(cmd)
	if verb == "resume" {
		cmd.Flags().IntVar(&percent, "percent", 0, "resume at this percentage (default: where it stood)")
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the daemon")
	return cmd
}
