package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/channel/codesign"
	"bollard.dev/bollard/channel/feed"
	"bollard.dev/bollard/reconciler/analysis"
)

func newFeedCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feed",
		Short: "A desktop update feed (TUF): init, publish a version, step its rollout, halt, roll back, serve",
		Long: `bollard's desktop update feed is a TUF repository (go-tuf v2) in a directory: keys/ (the four
role keys — keep them safe), metadata/ and targets/ (what is served). Each channel (stable, beta)
of each platform points at one version and offers it to a share of installations, chosen by a
stable cohort per installation; every change is new signed metadata, so installations trust no
mirror, tampered file or replayed answer. Installations use bollard.dev/bollard/channel/feed's
Client with the feed's metadata/1.root.json shipped inside the application.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("give a subcommand: init, publish, percent, halt, rollback, rollout, refresh, rotate-keys, sums, show, serve")}
		},
	}
	var channel, platform string
	pointed := func(cmd *cobra.Command, p feed.Pointer, err error) error {
		if err != nil {
			return err
		}
		out, _ := json.Marshal(p)
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", channel, platform, out)
		return nil
	}
	open := func(args []string, n int) (*feed.Repo, error) {
		if len(args) != n {
			return nil, usageError{fmt.Errorf("want %d argument(s), got %d", n, len(args))}
		}
		if channel == "" || platform == "" {
			return nil, usageError{errors.New("give --channel and --platform")}
		}
		return feed.Open(args[0])
	}
	// openDir opens the feed a command's one argument names (commands without --channel).
	openDir := func(args []string) (*feed.Repo, error) {
		if len(args) != 1 {
			return nil, usageError{errors.New("give DIR")}
		}
		return feed.Open(args[0])
	}
	sub := func(use, short string, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, RunE: run}
		c.Flags().StringVar(&channel, "channel", "stable", "the channel")
		c.Flags().StringVar(&platform, "platform", "", "the platform (e.g. windows-amd64, darwin-arm64, linux-amd64)")
		return c
	}
	var version, verifySubject, verifyTeamID string
	var verifyRoots []string
	var percent int
	publish := sub("publish DIR FILE… --platform P --version V [--channel C] [--percent N]", "Add a version's files and point the channel at it for --percent of installations",
		func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{errors.New("give DIR and at least one FILE")}
			}
			r, err := open(args[:1], 1)
			if err != nil {
				return err
			}
			if len(verifyRoots) > 0 {
				// Pre-flight: nothing is published whose platform signature does not verify.
				pool, err := loadRoots(verifyRoots)
				if err != nil {
					return err
				}
				for _, path := range args[1:] {
					f, err := os.Open(path)
					if err != nil {
						return usageError{err}
					}
					res, err := codesign.Verify(f, codesign.MachOOptions{Options: codesign.Options{Roots: pool, Subject: verifySubject}, TeamID: verifyTeamID})
					f.Close()
					if errors.Is(err, codesign.ErrNotVerified) {
						return notVerifiedError{fmt.Sprintf("%s: %v: nothing published", path, err)}
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "🔐 %s: %s signature verified — signer %q, signed digest %s\n", path, res.Format, res.Signer, res.Digest)
				}
			}
			p, err := r.Publish(channel, platform, version, percent, args[1:]...)
			return pointed(cmd, p, err)
		})
	publish.Flags().StringSliceVar(&verifyRoots, "verify-roots", nil, "verify each file's code signature (Authenticode, Mach-O) to these CA certificates (PEM) before publishing anything")
	publish.Flags().StringVar(&verifySubject, "verify-subject", "", "with --verify-roots: a regular expression the signer's subject must match whole")
	publish.Flags().StringVar(&verifyTeamID, "verify-team-id", "", "with --verify-roots: the Team ID a Mach-O must carry")
	publish.Flags().StringVar(&version, "version", "", "the version published")
	publish.Flags().IntVar(&percent, "percent", 100, "the share of installations offered it (0–100)")
	step := sub("percent DIR N --platform P [--channel C]", "Step the channel's rollout to N % (lifts a halt)", func(cmd *cobra.Command, args []string) error {
		if len(args) != 2 {
			return usageError{errors.New("give DIR and the percent")}
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return usageError{fmt.Errorf("percent %q: %w", args[1], err)}
		}
		r, err := open(args[:1], 1)
		if err != nil {
			return err
		}
		p, err := r.SetPercent(channel, platform, n)
		return pointed(cmd, p, err)
	})
	halt := sub("halt DIR --platform P [--channel C]", "The red button: offer the channel's version to nobody new", func(cmd *cobra.Command, args []string) error {
		r, err := open(args, 1)
		if err != nil {
			return err
		}
		p, err := r.Halt(channel, platform)
		return pointed(cmd, p, err)
	})
	rollback := sub("rollback DIR --platform P [--channel C]", "Point the channel back at the version before, for everyone (installations that updated are offered it back)",
		func(cmd *cobra.Command, args []string) error {
			r, err := open(args, 1)
			if err != nil {
				return err
			}
			p, err := r.Rollback(channel, platform)
			return pointed(cmd, p, err)
		})
	show := sub("show DIR --platform P [--channel C]", "Print what the channel offers", func(cmd *cobra.Command, args []string) error {
		r, err := open(args, 1)
		if err != nil {
			return err
		}
		p, err := r.Pointer(channel, platform)
		return pointed(cmd, p, err)
	})
	var listen string
	serve := &cobra.Command{Use: "serve DIR [--listen ADDR]", Short: "Serve the feed's metadata and targets over HTTP (never its keys)",
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := openDir(args)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving feed %s on http://%s (/metadata/, /targets/)\n", args[0], l.Addr())
			srv := &http.Server{Handler: feed.Handler(args[0]), ReadHeaderTimeout: 10 * time.Second}
			go func() { <-cmd.Context().Done(); _ = srv.Close() }()
			go func() { // the timestamp expires a day after signing: re-signed while less than half is left
				t := time.NewTicker(time.Hour)
				defer t.Stop()
				for {
					if exp, err := repo.Expires(); err == nil && time.Until(exp) < 12*time.Hour {
						if err := repo.Refresh(); err != nil {
							fmt.Fprintf(cmd.ErrOrStderr(), "feed refresh: %v\n", err)
						}
					}
					select {
					case <-cmd.Context().Done():
						return
					case <-t.C:
					}
				}
			}()
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}}
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:8095", "address to listen on")
	initCmd := &cobra.Command{Use: "init DIR", Short: "Create a feed: a key per TUF role and the first signed metadata",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give DIR")}
			}
			if _, err := feed.Init(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "feed created in %s: ship %s/metadata/1.root.json with the application; keep %s/keys secret\n", args[0], args[0], args[0])
			return nil
		}}
	var steps []int
	var slos []string
	var promURL, onNoData string
	var hold, interval, delay time.Duration
	var noRollback, resume bool
	rollout := sub("rollout DIR --platform P --steps 10,50,100 --prometheus URL --slo NAME:MAX:QUERY… [--channel C]",
		"Step the channel's version through its shares under the SLO guard; halt and roll back on a breach",
		func(cmd *cobra.Command, args []string) error {
			r, err := open(args, 1)
			if err != nil {
				return err
			}
			if promURL == "" || len(slos) == 0 {
				return usageError{errors.New("give --prometheus and at least one --slo NAME:MAX:QUERY")}
			}
			a := v1alpha1.Analysis{Prometheus: promURL, Interval: &metav1.Duration{Duration: interval}, Hold: &metav1.Duration{Duration: hold},
				InitialDelay: &metav1.Duration{Duration: delay}, OnNoData: onNoData}
			for _, s := range slos {
				parts := strings.SplitN(s, ":", 3)
				if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
					return usageError{fmt.Errorf("--slo %q: want NAME:MAX:QUERY ({{version}} in QUERY is the version rolled out)", s)}
				}
				if _, err := strconv.ParseFloat(parts[1], 64); err != nil {
					return usageError{fmt.Errorf("--slo %q: max %q is not a number", s, parts[1])}
				}
				a.Metrics = append(a.Metrics, v1alpha1.SLOMetric{Name: parts[0], Max: parts[1], Query: parts[2]})
			}
			if onNoData != "fail" && onNoData != "pause" {
				return usageError{fmt.Errorf("--on-no-data %q: want fail or pause", onNoData)}
			}
			prom, err := analysis.New(promURL, nil)
			if err != nil {
				return usageError{err}
			}
			outcome, err := feed.Rollout(cmd.Context(), r, feed.RolloutSpec{Channel: channel, Platform: platform, Steps: steps, Analysis: a, RollbackOnFailure: !noRollback, Resume: resume}, prom, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if outcome != feed.Completed {
				return deployOutcome{1, string(outcome)}
			}
			return nil
		})
	rollout.Flags().IntSliceVar(&steps, "steps", []int{1, 10, 50, 100}, "the shares offered in turn (percent, rising)")
	rollout.Flags().StringVar(&promURL, "prometheus", "", "Prometheus to query for the SLO guard")
	rollout.Flags().StringArrayVar(&slos, "slo", nil, "NAME:MAX:QUERY — QUERY (PromQL, {{version}} replaced by the version) must stay at or below MAX (repeatable)")
	rollout.Flags().DurationVar(&hold, "hold", time.Minute, "how long each step's SLOs must hold")
	rollout.Flags().DurationVar(&interval, "interval", 10*time.Second, "between evaluations")
	rollout.Flags().DurationVar(&delay, "initial-delay", 0, "wait before a step's first evaluation (installations need time to update and report)")
	rollout.Flags().StringVar(&onNoData, "on-no-data", "fail", "what no data means: fail (halt) or pause (wait for data)")
	rollout.Flags().BoolVar(&noRollback, "no-rollback", false, "on a breach only halt; do not point the channel back at the earlier version")
	rollout.Flags().BoolVar(&resume, "resume", false, "go on with a halted channel (lifts the halt at the step it stands at)")
	refresh := &cobra.Command{Use: "refresh DIR", Short: "Sign the feed's metadata again with fresh expiries (the timestamp expires a day after signing)",
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := openDir(args)
			if err != nil {
				return err
			}
			if err := r.Refresh(); err != nil {
				return err
			}
			exp, err := r.Expires()
			fmt.Fprintf(cmd.OutOrStdout(), "feed %s refreshed: valid until %s\n", args[0], exp.Format(time.RFC3339))
			return err
		}}
	var rotateRoles []string
	rotate := &cobra.Command{Use: "rotate-keys DIR [--role root,targets,snapshot,timestamp]",
		Short: "Give roles new keys (a new root version signed by the old and new root keys: installations walk to it); no --role renews the root (a year from now)",
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := openDir(args)
			if err != nil {
				return err
			}
			v, err := r.RotateKeys(rotateRoles...)
			if err != nil {
				return err
			}
			exp, _, err := r.RootExpires()
			fmt.Fprintf(cmd.OutOrStdout(), "feed %s: root version %d, new keys for %v, valid until %s\n", args[0], v, rotateRoles, exp.Format(time.RFC3339))
			return err
		}}
	rotate.Flags().StringSliceVar(&rotateRoles, "role", nil, "the roles to give new keys (root, targets, snapshot, timestamp)")
	var sumsKey string
	sums := &cobra.Command{Use: "sums DIR --key cosign.key", Short: "Write targets/SHA256SUMS and its Sigstore bundle, signed with a cosign key (password in COSIGN_PASSWORD)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || sumsKey == "" {
				return usageError{errors.New("give DIR and --key (a cosign private key; its password in COSIGN_PASSWORD)")}
			}
			r, err := openDir(args)
			if err != nil {
				return err
			}
			path, err := r.SignSums(cmd.Context(), sumsKey, []byte(os.Getenv("COSIGN_PASSWORD")))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s and %s.sigstore.json written: cosign verify-blob --key cosign.pub --bundle SHA256SUMS.sigstore.json --insecure-ignore-tlog=true SHA256SUMS\n", path, path)
			return nil
		}}
	sums.Flags().StringVar(&sumsKey, "key", "", "cosign private key (cosign generate-key-pair's format)")
	cmd.AddCommand(initCmd, publish, step, halt, rollback, rollout, refresh, rotate, sums, show, serve)
	return cmd
}
