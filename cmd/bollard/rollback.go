package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
)

// rolledBackError makes the command exit 1 when the daemon could not roll back.
type rolledBackError struct{ msg string }

func (e rolledBackError) Error() string { return e.msg }

func newRollbackCommand() *cobra.Command {
	var kube kubeOptions
	var namespace, to string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback RELEASE [-n NAMESPACE] [--to REVISION]",
		Short: "Roll a Release back now: to the last good revision, or to one from its history",
		Long: `Ask the daemon to roll RELEASE back at once, without analysis: to the newest verified
revision other than the one running (default), or to --to (a commit hash, or its start as
bollard log shows it). The revision it replaces is not applied again until git moves on. The
command waits for the daemon and prints the Deployment Log of the rollback.

Exit codes: 0 rolled back, 1 the daemon could not, 2 usage error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give exactly one RELEASE")}
			}
			if namespace == "" {
				namespace = "default"
			}
			c, err := kube.Client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rel := &v1alpha1.Release{}
			key := client.ObjectKey{Namespace: namespace, Name: args[0]}
			if err := c.Get(ctx, key, rel); err != nil {
				return err
			}
			before := reconciler.LatestID(rel)
			value := to
			if value == "" {
				value = "last-good"
			}
			if err := c.Patch(ctx, rel, reconciler.AnnotationsPatch(map[string]string{v1alpha1.AnnotationRollbackTo: value})); err != nil {
				return err
			}
			deadline := time.Now().Add(timeout)
			for {
				if err := c.Get(ctx, key, rel); err != nil {
					return err
				}
				if _, pending := rel.Annotations[v1alpha1.AnnotationRollbackTo]; !pending && reconciler.LatestID(rel) > before {
					break
				}
				if time.Now().After(deadline) {
					return rolledBackError{fmt.Sprintf("the daemon did not act on the rollback within %s (is bollard daemon running?)", timeout)}
				}
				time.Sleep(200 * time.Millisecond)
			}
			l, _, err := reconciler.LatestLog(ctx, c, rel)
			if err != nil {
				return err
			}
			reconciler.WriteLog(cmd.OutOrStdout(), rel, l)
			if l.Status != "ROLLED_BACK" {
				return rolledBackError{"not rolled back: " + rel.Status.Message}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the Release's namespace (default: default)")
	cmd.Flags().StringVar(&to, "to", "", "the revision to return to (default: the last good one)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the daemon")
	kube.BindFlags(cmd.Flags())
	return cmd
}
