package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
)

func newLogCommand() *cobra.Command {
	var kube kubeOptions
	var namespace, output string
	var id int64
	var limit int
	cmd := &cobra.Command{
		Use:   "log RELEASE|CHANNELRELEASE [-n NAMESPACE] [--id N] [--limit N] [-o json]",
		Short: "Print the Deployment Logs of a Release (or a ChannelRelease), newest first",
		Long: `Print the Deployment Logs the daemon recorded for a Release: revision, author and message,
each artifact with its digest, signature and attestations, target, strategy, the pre-flight gates,
each step with what it saw, and the final status. Finished logs are read from the Release's
DeploymentRecords (kept up to its spec.recordRetention, default 100; they outlive a deleted
Release), the one under way from its status. --limit (default 10, 0: all) bounds how many are
printed; -o json exports them as stored.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give exactly one RELEASE")}
			}
			if output != "" && output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: want json or nothing", output)}
			}
			if namespace == "" {
				namespace = "default"
			}
			c, err := kube.Client()
			if err != nil {
				return err
			}
			var rel v1alpha1.Release
			err = c.Get(cmd.Context(), client.ObjectKey{Namespace: namespace, Name: args[0]}, &rel)
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			gone := err != nil
			if gone { // a ChannelRelease of the name: its logs, the same way
				var cr v1alpha1.ChannelRelease
				if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: namespace, Name: args[0]}, &cr); err == nil {
					return writeChannelLogs(cmd.Context(), c, cmd.OutOrStdout(), &cr, id, limit, output)
				}
			}
			// The records of this Release (of every Release of the name once it is gone), and what
			// its status holds that no record holds yet (the log under way).
			sel := client.MatchingLabels{reconciler.LabelRecordReleaseUID: string(rel.UID)}
			if gone {
				sel = client.MatchingLabels{reconciler.LabelRecordRelease: args[0]}
				rel.Namespace, rel.Name = namespace, args[0]
			}
			var records v1alpha1.DeploymentRecordList
			if err := c.List(cmd.Context(), &records, client.InNamespace(namespace), sel); err != nil {
				return fmt.Errorf("the Release's DeploymentRecords: %w", err)
			}
			if gone && len(records.Items) == 0 {
				return fmt.Errorf("no Release %s/%s and no DeploymentRecord of one", namespace, args[0])
			}
			var logs []v1alpha1.DeploymentLog
			for _, l := range reconciler.MergeLogs(records.Items, rel.Status.History) {
				if id == 0 || l.ID == id {
					logs = append(logs, l)
				}
			}
			if id != 0 && len(logs) == 0 {
				return fmt.Errorf("Release %s/%s keeps no Deployment Log #%d", namespace, args[0], id)
			}
			if limit > 0 && len(logs) > limit {
				logs = logs[:limit]
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(logs)
			}
			if len(logs) == 0 {
				fmt.Fprintf(out, "Release %s/%s has no Deployment Log yet (phase %q: %s)\n", namespace, args[0], rel.Status.Phase, rel.Status.Message)
				return nil
			}
			for i, l := range logs {
				if i > 0 {
					fmt.Fprintln(out)
				}
				reconciler.WriteLog(out, &rel, l)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the Release's namespace (default: default)")
	cmd.Flags().Int64Var(&id, "id", 0, "only the log with this number")
	cmd.Flags().IntVar(&limit, "limit", 10, "print at most this many, newest first (0: all)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	kube.BindFlags(cmd.Flags())
	return cmd
}
