package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"bollard.dev/bollard/webhook/imagesig"
)

// verifyOptions are the flags of `bollard verify`.
type verifyOptions struct {
	Keys    []string
	Output  string
	Timeout time.Duration
}

func (o *verifyOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Keys, "key", nil, "cosign public key (PEM file, repeatable): any one signature by them verifies")
	fs.StringVarP(&o.Output, "output", "o", "", "output format: json")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on the registry calls")
}

// notVerifiedError makes the command exit 1 after the verdict is printed.
type notVerifiedError struct{ reason string }

func (e notVerifiedError) Error() string { return "not verified: " + e.reason }

func newVerifyCommand() *cobra.Command {
	var opts verifyOptions
	cmd := &cobra.Command{
		Use:   "verify IMAGE --key PUBKEY [--key …] [-o json]",
		Short: "Verify that an image's digest carries a cosign signature by one of the keys",
		Long: `Resolve IMAGE to its digest (a tag is looked up once) and verify the cosign signatures
attached to that digest with the given public keys, offline: no transparency log is consulted.

Exit codes: 0 verified (one line with the digest), 1 not verified (the reason), 2 usage error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give exactly one IMAGE")}
			}
			if len(opts.Keys) == 0 {
				return usageError{errors.New("give at least one --key")}
			}
			if opts.Output != "" && opts.Output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: want json or nothing", opts.Output)}
			}
			var keys []imagesig.Key
			for _, path := range opts.Keys {
				data, err := os.ReadFile(path)
				if err != nil {
					return usageError{err}
				}
				k, err := imagesig.ParseKey(filepath.Base(path), data)
				if err != nil {
					return usageError{err}
				}
				keys = append(keys, k)
			}
			v := imagesig.New(imagesig.Options{Timeout: opts.Timeout})
			verdict := v.Verify(cmd.Context(), args[0], keys)
			out := cmd.OutOrStdout()
			if opts.Output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(verdict); err != nil {
					return err
				}
			} else if verdict.Verified {
				fmt.Fprintf(out, "verified %s (%s) signed by key %s\n", verdict.Image, verdict.Digest, verdict.Key)
			} else {
				digest := verdict.Digest
				if digest == "" {
					digest = "digest unknown"
				}
				fmt.Fprintf(out, "NOT verified %s (%s): %s\n", verdict.Image, digest, verdict.Reason)
			}
			if !verdict.Verified {
				return notVerifiedError{verdict.Reason}
			}
			return nil
		},
	}
	opts.BindFlags(cmd.Flags())
	return cmd
}
