package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"bollard.dev/bollard/channel/codesign"
)

func newChannelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channel",
		Short: "Channel releases (desktop installers, app stores): verify an artifact's platform signature",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return usageError{errors.New("give a subcommand: verify")} },
	}
	cmd.AddCommand(newChannelVerifyCommand())
	return cmd
}

func newChannelVerifyCommand() *cobra.Command {
	var roots []string
	var subject, output string
	cmd := &cobra.Command{
		Use:   "verify FILE… --roots CA.pem [--subject REGEXP] [-o json]",
		Short: "Verify the Authenticode signature of Windows binaries offline, against roots you trust",
		Long: `Verify each FILE's platform code signature offline — today Windows Authenticode (.exe, .dll,
.sys): the signed image digest and page hashes recomputed from the file, the CMS signature over
them, the signer's chain to --roots (PEM certificates; the machine's trust store is never used)
for code signing, and --subject, a regular expression the signer's subject (RFC 2253, e.g.
"CN=Shop Ltd,O=Shop Ltd,C=DE") must match whole. A timestamped signature is checked at its
timestamp's time.

Exit codes: 0 every file verified (a line each: signer, digest, sha256), 1 one was not (the
reason), 2 usage error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("give at least one FILE")}
			}
			if len(roots) == 0 {
				return usageError{errors.New("give --roots: the CA certificates (PEM) a signer must chain to")}
			}
			if output != "" && output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: want json or nothing", output)}
			}
			pool := x509.NewCertPool()
			for _, path := range roots {
				data, err := os.ReadFile(path)
				if err != nil {
					return usageError{err}
				}
				if !pool.AppendCertsFromPEM(data) {
					return usageError{fmt.Errorf("--roots %s: no PEM certificate in it", path)}
				}
			}
			type verdict struct {
				File string `json:"file"`
				codesign.Result
				Error string `json:"error,omitempty"`
			}
			var verdicts []verdict
			var failed []string
			for _, path := range args {
				f, err := os.Open(path)
				if err != nil {
					return usageError{err}
				}
				res, err := codesign.Authenticode(f, codesign.Options{Roots: pool, Subject: subject})
				f.Close()
				v := verdict{File: path, Result: res}
				if err != nil {
					if !errors.Is(err, codesign.ErrNotVerified) {
						return usageError{fmt.Errorf("%s: %w", path, err)}
					}
					v.Error = err.Error()
					failed = append(failed, path+": "+strings.TrimPrefix(err.Error(), "not verified: "))
				}
				verdicts = append(verdicts, v)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(verdicts); err != nil {
					return err
				}
			} else {
				for _, v := range verdicts {
					if v.Error != "" {
						fmt.Fprintf(out, "❌ %s: %s\n", v.File, v.Error)
						continue
					}
					stamp := "no timestamp"
					if v.Timestamped {
						stamp = "timestamped"
					}
					fmt.Fprintf(out, "🔐 %s: %s signature verified — signer %q (issuer %q), signed digest %s, %s; file sha256:%s\n",
						v.File, v.Format, v.Signer, v.Issuer, v.Digest, stamp, v.SHA256)
				}
			}
			if len(failed) > 0 {
				return notVerifiedError{strings.Join(failed, "; ")}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&roots, "roots", nil, "PEM file of CA certificates a signer must chain to (repeatable)")
	cmd.Flags().StringVar(&subject, "subject", "", "regular expression the signer certificate's subject must match whole")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
