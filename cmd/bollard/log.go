package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
)

func newLogCommand() *cobra.Command {
	var kube kubeOptions
	var namespace, output string
	var id int64
	cmd := &cobra.Command{
		Use:   "log RELEASE [-n NAMESPACE] [--id N] [-o json]",
		Short: "Print the Deployment Logs of a Release, newest first",
		Long: `Print the Deployment Logs the daemon recorded for a Release (its last 10 changes): revision,
author and message, artifacts, the pre-flight gates, each step with what it saw, and the final
status. -o json prints the records as stored in the Release's status.`,
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
			if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: namespace, Name: args[0]}, &rel); err != nil {
				return err
			}
			logs := rel.Status.History
			if id != 0 {
				logs = nil
				for _, l := range rel.Status.History {
					if l.ID == id {
						logs = append(logs, l)
					}
				}
				if len(logs) == 0 {
					return fmt.Errorf("Release %s/%s keeps no Deployment Log #%d", namespace, args[0], id)
				}
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
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	kube.BindFlags(cmd.Flags())
	return cmd
}
