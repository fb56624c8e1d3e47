package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bollard.dev/bollard/channel/codesign"
)

func newChannelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channel",
		Short: "Channel releases (app stores, update feeds): ship, follow, halt, resume, complete; verify platform signatures",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("give a subcommand: ship, status, log, halt, resume, complete or verify")}
		},
	}
	cmd.AddCommand(newChannelVerifyCommand())
	cmd.AddCommand(channelReleaseCommands()...)
	return cmd
}

func newChannelVerifyCommand() *cobra.Command {
	var roots, uploadCerts []string
	var subject, output, teamID string
	var hardened bool
	cmd := &cobra.Command{
		Use:   "verify FILE… --roots CA.pem [--subject REGEXP] [--team-id ID] [--hardened-runtime] [--android-upload-cert SHA256] [-o json]",
		Short: "Verify the code signature of Windows and macOS binaries offline, against roots you trust",
		Long: `Verify each FILE's platform code signature offline, by its format:

- Windows PE (.exe, .dll, .sys), Authenticode: the signed image digest and page hashes
  recomputed from the file and the CMS signature over them;
- macOS thin Mach-O (executables, dylibs): every page hash of every code directory recomputed
  from the file, the requirements and entitlements against their slots, the CMS signature over
  the code directory; --team-id and --hardened-runtime when given. Notarization is not
  verifiable offline (a bare Mach-O carries no ticket): the verdict says so. Ad-hoc signatures
  (no signer) are refused;
- Android App Bundles (.aab; also .apk and .jar), the JAR signature: every entry's digest in
  the signed manifest and no entry outside it, the signature over the signature file, and the
  signing certificate's SHA-256 one of --android-upload-cert (the upload key Play expects; no
  chain: upload keys are self-signed).

For Windows and macOS, the signer's chain to --roots (PEM certificates; the machine's trust store is never
used) for code signing, and --subject, a regular expression the signer's subject (RFC 2253, e.g.
"CN=Shop Ltd,O=Shop Ltd,C=DE") must match whole. A timestamped signature is checked at its
timestamp's time.

Exit codes: 0 every file verified (a line each: signer, digest, sha256), 1 one was not (the
reason), 2 usage error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("give at least one FILE")}
			}
			android := func(path string) bool {
				return strings.HasSuffix(path, ".aab") || strings.HasSuffix(path, ".apk") || strings.HasSuffix(path, ".jar")
			}
			if len(roots) == 0 && slices.ContainsFunc(args, func(p string) bool { return !android(p) }) {
				return usageError{errors.New("give --roots: the CA certificates (PEM) a signer must chain to")}
			}
			if len(uploadCerts) == 0 && slices.ContainsFunc(args, android) {
				return usageError{errors.New("give --android-upload-cert: the SHA-256 fingerprint of the upload certificate an .aab must be signed with")}
			}
			if output != "" && output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: want json or nothing", output)}
			}
			pool, err := loadRoots(roots)
			if err != nil {
				return err
			}
			type verdict struct {
				File string `json:"file"`
				codesign.MachOResult
				UploadKey *codesign.UploadKeyResult `json:"uploadKey,omitempty"`
				Error     string                    `json:"error,omitempty"`
			}
			var verdicts []verdict
			var failed []string
			for _, path := range args {
				v := verdict{File: path}
				var err error
				if android(path) {
					var res codesign.UploadKeyResult
					res, err = codesign.AndroidUploadKey(path, uploadCerts)
					v.UploadKey = &res
				} else {
					f, ferr := os.Open(path)
					if ferr != nil {
						return usageError{ferr}
					}
					v.MachOResult, err = codesign.Verify(f, codesign.MachOOptions{Options: codesign.Options{Roots: pool, Subject: subject}, TeamID: teamID, HardenedRuntime: hardened})
					f.Close()
				}
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
					if u := v.UploadKey; u != nil {
						fmt.Fprintf(out, "🔐 %s: Android JAR signature verified, every entry signed — signer %q, certificate SHA-256 %s (pinned upload key); file sha256:%s\n",
							v.File, u.Signer, u.CertSHA256, u.SHA256)
						continue
					}
					stamp := "no timestamp"
					if v.Timestamped {
						stamp = "timestamped"
					}
					extra := ""
					if strings.HasPrefix(v.Format, "mach-o") {
						extra = fmt.Sprintf(", identifier %s, Team ID %q, hardened runtime %t; notarization %s", v.Identifier, v.TeamID, v.HardenedRuntime, v.Notarization)
					}
					fmt.Fprintf(out, "🔐 %s: %s signature verified — signer %q (issuer %q), signed digest %s, %s%s; file sha256:%s\n",
						v.File, v.Format, v.Signer, v.Issuer, v.Digest, stamp, extra, v.SHA256)
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
	cmd.Flags().StringVar(&teamID, "team-id", "", "Mach-O: the Team ID the code directory must carry")
	cmd.Flags().BoolVar(&hardened, "hardened-runtime", false, "Mach-O: require the hardened runtime (notarization does)")
	cmd.Flags().StringSliceVar(&uploadCerts, "android-upload-cert", nil, ".aab/.apk/.jar: SHA-256 fingerprint of an upload certificate the JAR signature must be made with (repeatable; colons and case ignored)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

// loadRoots is the pool of the CA certificates in the PEM files paths.
func loadRoots(paths []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError{err}
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, usageError{fmt.Errorf("%s: no PEM certificate in it", path)}
		}
	}
	return pool, nil
}
