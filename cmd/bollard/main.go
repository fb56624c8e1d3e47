// Command bollard is the one binary of bollard: the admission webhook, the GitOps daemon and the
// CLI that drives and previews them.
package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(exitCode(err))
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "bollard",
		Short: "Safe deploys end to end: an admission gate and a GitOps deploy daemon",
		Long: `bollard makes "deploy" safe end to end.

The gate (bollard webhook) admits only what the policies allow: signed images by digest,
no deploys inside a change freeze, required feature-flag states and schema versions, and
risky configuration changes only when approved.

The daemon (bollard daemon) applies what the git repository says, reverts drift, rolls out
progressively, watches SLOs and rolls back when anything fails.`,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCommand(), newWebhookCommand(), newDaemonCommand(), newDeployCommand(), newPromoteCommand(), newCheckCommand(), newVerifyCommand(), newLogCommand(), newRollbackCommand(), newChannelCommand(), newFeedCommand())
	return root
}

// noArgs is cobra.NoArgs reported as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{err}
	}
	return nil
}

// exitCode is 2 for usage errors, as for every bollard command, and 1 otherwise.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	if errors.As(err, new(deniedError)) || errors.As(err, new(notVerifiedError)) {
		return 1
	}
	var outcome deployOutcome
	if errors.As(err, &outcome) {
		return outcome.code
	}
	var shipped channelOutcome
	if errors.As(err, &shipped) {
		return shipped.code
	}
	return 1
}

// usageError marks an error in how a command was called (exit code 2).
type usageError struct{ error }
