package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	corev1 "k8s.io/api/core/v1"

	"bollard.dev/bollard/internal/manifest"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/webhook/imagesig"
)

// verifyOptions are the flags of `bollard verify`.
type verifyOptions struct {
	Deployments bool
	Keys        []string
	Policies    []string
	Output      string
	Timeout     time.Duration
}

func (o *verifyOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Keys, "key", nil, "cosign public key (PEM file, repeatable): any one signature by them verifies")
	fs.StringSliceVar(&o.Policies, "policy", nil, "ClusterImagePolicy file or folder (repeatable): every policy matching IMAGE must be satisfied, as in the webhook")
	fs.StringVarP(&o.Output, "output", "o", "", "output format: json")
	fs.BoolVar(&o.Deployments, "deployments", false, "with --key (the daemon's attestation key): the Deployment Logs bollard attached to the digest — where and when it ran and what it passed")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "bound on the registry calls")
}

// notVerifiedError makes the command exit 1 after the verdict is printed.
type notVerifiedError struct{ reason string }

func (e notVerifiedError) Error() string { return "not verified: " + e.reason }

// verifyResult is one verdict, and the policy it was against (empty with --key).
type verifyResult struct {
	Policy string `json:"policy,omitempty"`
	Mode   string `json:"mode,omitempty"`
	imagesig.Verdict
	// Deployments are the Deployment Logs attested on the digest (--deployments).
	Deployments []reconciler.DeploymentPredicate `json:"deployments,omitempty"`
}

func newVerifyCommand() *cobra.Command {
	var opts verifyOptions
	cmd := &cobra.Command{
		Use:   "verify IMAGE (--key PUBKEY… | --policy FILE…) [-o json]",
		Short: "Verify that an image's digest is signed (and attested) as keys or ClusterImagePolicies require",
		Long: `Resolve IMAGE to its digest (a tag is looked up once) and verify what is attached to that
digest, offline (no transparency log is consulted): with --key, a cosign signature by one of the
keys; with --policy, every ClusterImagePolicy (policy.sigstore.dev/v1alpha1 or v1beta1) whose globs match the
image — key or keyless authorities, attestations and their policies — as the webhook decides it.
Policies in warn mode report but do not fail. Key and CA Secrets are not read: inline them (data).

Exit codes: 0 verified (one line per verdict with the digest), 1 not verified (the reason), 2 usage error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("give exactly one IMAGE")}
			}
			if len(opts.Keys) == 0 && len(opts.Policies) == 0 {
				return usageError{errors.New("give at least one --key or --policy")}
			}
			if opts.Deployments && (len(opts.Keys) == 0 || len(opts.Policies) > 0) {
				return usageError{errors.New("--deployments verifies with --key (the daemon's attestation key) only")}
			}
			if opts.Output != "" && opts.Output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: want json or nothing", opts.Output)}
			}
			image := args[0]
			v := imagesig.New(imagesig.Options{Timeout: opts.Timeout})
			var results []verifyResult
			if len(opts.Keys) > 0 {
				var keys []imagesig.Authority
				for _, path := range opts.Keys {
					data, err := os.ReadFile(path)
					if err != nil {
						return usageError{err}
					}
					k, err := imagesig.ParseKey(filepath.Base(path), data)
					if err != nil {
						return usageError{err}
					}
					if opts.Deployments {
						if k, err = k.WithAttestations([]imagesig.AttestationSpec{{Name: "deployment-log", PredicateType: reconciler.PredicateDeploymentLog}}); err != nil {
							return usageError{err}
						}
					}
					keys = append(keys, k)
				}
				r := verifyResult{Verdict: v.Verify(cmd.Context(), image, keys)}
				for _, a := range r.Attested {
					var st struct {
						Predicate reconciler.DeploymentPredicate `json:"predicate"`
					}
					if a.PredicateType == reconciler.PredicateDeploymentLog && json.Unmarshal(a.Statement, &st) == nil {
						r.Deployments = append(r.Deployments, st.Predicate)
					}
				}
				results = append(results, r)
			}
			if len(opts.Policies) > 0 {
				policies, err := loadImagePolicies(opts.Policies)
				if err != nil {
					return usageError{err}
				}
				matched := false
				for _, p := range policies {
					if !p.Matches(image) {
						continue
					}
					matched = true
					r := verifyResult{Policy: p.Name, Mode: p.Mode, Verdict: imagesig.Verdict{Image: image, Reason: p.Problem}}
					if p.Problem == "" {
						r.Verdict = v.Verify(cmd.Context(), image, p.Authorities)
					}
					results = append(results, r)
				}
				if !matched {
					results = append(results, verifyResult{Verdict: imagesig.Verdict{Image: image, Reason: "matches no ClusterImagePolicy in " + strings.Join(opts.Policies, ", ")}})
				}
			}
			return printVerdicts(cmd.OutOrStdout(), opts.Output, results)
		},
	}
	opts.BindFlags(cmd.Flags())
	return cmd
}

// loadImagePolicies reads and compiles the ClusterImagePolicies in paths; other kinds are an error.
func loadImagePolicies(paths []string) ([]*imagesig.Policy, error) {
	objs, err := manifest.Load(paths...)
	if err != nil {
		return nil, err
	}
	noSecrets := func(ns, name string) (*corev1.Secret, error) {
		return nil, fmt.Errorf("bollard verify does not read Secrets: inline the PEM with data")
	}
	var out []*imagesig.Policy
	for _, o := range objs {
		cip, err := imagesig.FromUnstructured(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
		if _, err := imagesig.Validate(context.Background(), cip, ""); err != nil {
			return nil, fmt.Errorf("%s: ClusterImagePolicy %s is invalid: %w", o.Source, cip.Name, err)
		}
		out = append(out, imagesig.Compile(cip, noSecrets))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ClusterImagePolicy in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// printVerdicts writes one line per verdict (or JSON) and fails when an enforced one did not verify.
func printVerdicts(out io.Writer, format string, results []verifyResult) error {
	var failed []string
	for _, r := range results {
		if !r.Verified && r.Mode != "warn" {
			failed = append(failed, r.Reason)
		}
	}
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if len(results) == 1 && results[0].Policy == "" {
			if err := enc.Encode(results[0]); err != nil {
				return err
			}
		} else if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			digest := r.Digest
			if digest == "" {
				digest = "digest unknown"
			}
			by := ""
			if r.Policy != "" {
				by = " (ClusterImagePolicy " + r.Policy + ")"
			}
			switch {
			case r.Verified && len(r.Deployments) > 0:
				for _, d := range r.Deployments {
					l := d.Log
					where := cmp.Or(l.Target, "namespace "+l.Namespace)
					if d.Cluster != "" && !strings.Contains(where, "cluster ") {
						where += ", cluster " + d.Cluster
					}
					fmt.Fprintf(out, "deployed %s (%s): Release %s, %s — Deployment Log #%d %s, finished %s, revision %s (signed by %s)\n",
						r.Image, digest, d.Release, where, l.ID, l.Status, l.Finished.UTC().Format(time.RFC3339), short(l.Revision), r.Authority)
				}
			case r.Verified && len(r.Attestations) > 0:
				fmt.Fprintf(out, "verified %s (%s) attested %s by %s%s\n", r.Image, digest, strings.Join(r.Attestations, ", "), r.Authority, by)
			case r.Verified:
				fmt.Fprintf(out, "verified %s (%s) signed by %s%s\n", r.Image, digest, r.Authority, by)
			case r.Mode == "warn":
				fmt.Fprintf(out, "WARNING %s (%s)%s, warn mode: %s\n", r.Image, digest, by, r.Reason)
			default:
				fmt.Fprintf(out, "NOT verified %s (%s)%s: %s\n", r.Image, digest, by, r.Reason)
			}
		}
	}
	if len(failed) > 0 {
		return notVerifiedError{strings.Join(failed, "; ")}
	}
	return nil
}
