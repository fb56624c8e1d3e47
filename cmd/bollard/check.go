package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api"
	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/internal/manifest"
	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/workload"
)

// checkOptions are the flags of `bollard check`.
type checkOptions struct {
	Files     []string
	Policies  []string
	Now       string
	Output    string
	User      string
	Groups    []string
	Namespace string
	// VerifyImages turns on the signature gate (it reads the registries).
	VerifyImages  bool
	NoMatchPolicy string
}

func (o *checkOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&o.Files, "filename", "f", nil, "manifest file or folder (repeatable); DeployPolicies, ConfigMaps and Namespaces in it are used too")
	fs.StringSliceVar(&o.Policies, "policy", nil, "extra Rego module (repeatable), as with the webhook's --policy-configmap")
	fs.StringVar(&o.Now, "now", "", "evaluate freeze windows at this RFC 3339 time instead of now")
	fs.StringVarP(&o.Output, "output", "o", "", "output format: json")
	fs.StringVar(&o.User, "user", "bollard-check", "user to evaluate break-glass for")
	fs.StringSliceVar(&o.Groups, "group", nil, "groups of --user (repeatable)")
	fs.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace for manifests that name none")
	fs.BoolVar(&o.VerifyImages, "verify-images", false, "verify image signatures against the ClusterImagePolicies (reads the registries)")
	fs.StringVar(&o.NoMatchPolicy, "no-match-policy", "deny", "with --verify-images: deny, warn or allow images no ClusterImagePolicy matches (as the webhook)")
}

func newCheckCommand() *cobra.Command {
	var opts checkOptions
	var kube kubeOptions
	cmd := &cobra.Command{
		Use:   "check -f FILE|DIR [--policy FILE]… [--now RFC3339] [--kubeconfig …] [-o json]",
		Short: "Preview the gate's decision on manifests, offline or against the live cluster",
		Long: `Evaluate manifests with the same decision function as the webhook: freeze windows, feature
flags, schema versions and, with --kubeconfig, risky changes against the live objects.

Without --kubeconfig the DeployPolicies, ConfigMaps and Namespaces come from the manifests
themselves; with it, from the cluster (manifests override by name).

Exit codes: 0 allowed (warnings printed), 1 denied (each reason printed), 2 bad input.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(opts.Files) == 0 {
				return usageError{fmt.Errorf("give at least one -f FILE|DIR")}
			}
			if opts.Output != "" && opts.Output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: want json or nothing", opts.Output)}
			}
			if err := validNoMatch(opts.NoMatchPolicy); err != nil {
				return err
			}
			return runCheck(cmd.Context(), cmd.OutOrStdout(), opts, kube, cmd.Flags().Changed("kubeconfig") || cmd.Flags().Changed("context"))
		},
	}
	opts.BindFlags(cmd.Flags())
	kube.BindFlags(cmd.Flags())
	return cmd
}

// checkResult is one object's decision, as printed.
type checkResult struct {
	Source    string `json:"source"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Operation string `json:"operation"`
	admission.Decision
}

// deniedError makes the command exit 1 after the results are printed.
type deniedError struct{ n int }

func (e deniedError) Error() string { return fmt.Sprintf("%d object(s) denied", e.n) }

func runCheck(ctx context.Context, out io.Writer, opts checkOptions, kube kubeOptions, live bool) error {
	now := time.Now()
	if opts.Now != "" {
		t, err := time.Parse(time.RFC3339, opts.Now)
		if err != nil {
			return usageError{fmt.Errorf("--now: %w", err)}
		}
		now = t
	}
	objs, err := manifest.Load(opts.Files...)
	if err != nil {
		return usageError{err}
	}
	files := &admission.Objects{Namespaces: map[string]map[string]string{}, ConfigMaps: map[types.NamespacedName]*corev1.ConfigMap{},
		Secrets: map[types.NamespacedName]*corev1.Secret{}}
	var workloads []manifest.Object
	for _, o := range objs {
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" && o.GetKind() != "DeployPolicy" && o.GetKind() != "ClusterImagePolicy" {
			o.SetNamespace(opts.Namespace)
		}
		switch o.GetKind() {
		case "DeployPolicy":
			var p v1alpha1.DeployPolicy
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &p, true); err != nil {
				return usageError{fmt.Errorf("%s: DeployPolicy %s: %w", o.Source, o.GetName(), err)}
			}
			files.Policies = append(files.Policies, p)
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm); err != nil {
				return usageError{fmt.Errorf("%s: ConfigMap %s: %w", o.Source, o.GetName(), err)}
			}
			files.ConfigMaps[types.NamespacedName{Namespace: cm.Namespace, Name: cm.Name}] = &cm
		case "Namespace":
			files.Namespaces[o.GetName()] = o.GetLabels()
		case "ClusterImagePolicy":
			p, err := imagesig.FromUnstructured(o.Object)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", o.Source, err)}
			}
			files.ImagePolicyList = append(files.ImagePolicyList, *p)
		case "Secret":
			var sec corev1.Secret
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sec); err != nil {
				return usageError{fmt.Errorf("%s: Secret %s: %w", o.Source, o.GetName(), err)}
			}
			files.Secrets[types.NamespacedName{Namespace: sec.Namespace, Name: sec.Name}] = &sec
		default:
			if workload.Supported(o.GetAPIVersion(), o.GetKind()) {
				workloads = append(workloads, o)
			}
		}
	}
	extra := map[string]string{}
	for _, p := range opts.Policies {
		src, err := os.ReadFile(p)
		if err != nil {
			return usageError{err}
		}
		extra[filepath.Base(p)] = string(src)
	}
	engine, err := admission.NewEngine(ctx, extra)
	if err != nil {
		return usageError{err}
	}

	var cluster admission.Cluster = files
	var reader client.Reader
	if live {
		cfg, err := kube.RESTConfig()
		if err != nil {
			return err
		}
		c, err := client.New(cfg, client.Options{Scheme: api.NewScheme()})
		if err != nil {
			return err
		}
		reader = c
		cluster = overlay{files: files, live: admission.ReaderCluster{Reader: c}}
	}
	var gateOpts []admission.GateOption
	if opts.VerifyImages {
		gateOpts = append(gateOpts, admission.WithImageVerification(imagesig.New(imagesig.Options{}), opts.NoMatchPolicy))
	}
	gate := admission.NewGate(cluster, engine, gateOpts...)

	var results []checkResult
	denied := 0
	for _, o := range workloads {
		req := admission.Request{Operation: "CREATE", Object: o.Unstructured, Now: now,
			User: admission.User{Username: opts.User, Groups: opts.Groups}}
		if reader != nil {
			old := &unstructured.Unstructured{}
			old.SetGroupVersionKind(o.GroupVersionKind())
			err := reader.Get(ctx, client.ObjectKeyFromObject(o), old)
			switch {
			case err == nil:
				req.Operation, req.OldObject = "UPDATE", old
			case !apierrors.IsNotFound(err):
				return fmt.Errorf("%s: read live %s %s/%s: %w", o.Source, o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
		}
		d, err := gate.Review(ctx, req)
		if err != nil {
			return fmt.Errorf("%s: %w", o.Source, err)
		}
		if !d.Allowed {
			denied++
		}
		results = append(results, checkResult{Source: o.Source, Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Operation: req.Operation, Decision: d})
	}
	if err := printCheck(out, opts.Output, results); err != nil {
		return err
	}
	if denied > 0 {
		return deniedError{denied}
	}
	return nil
}

func printCheck(out io.Writer, format string, results []checkResult) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []checkResult{}
		}
		return enc.Encode(map[string]any{"results": results})
	}
	if len(results) == 0 {
		_, err := fmt.Fprintln(out, "no workloads in the manifests")
		return err
	}
	for _, r := range results {
		verdict := "ALLOW"
		if !r.Allowed {
			verdict = "DENY "
		}
		fmt.Fprintf(out, "%s %s %s/%s (%s, %s)\n", verdict, r.Kind, r.Namespace, r.Name, r.Operation, r.Source)
		for _, reason := range r.Reasons {
			fmt.Fprintf(out, "  ✗ %s\n", reason)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(out, "  ! %s\n", w)
		}
		if r.Exempt != "" {
			fmt.Fprintf(out, "  (not checked: %s)\n", r.Exempt)
		}
	}
	return nil
}

// overlay reads the manifests first and the live cluster second: a DeployPolicy or ConfigMap in
// the files previews a change to the one in the cluster.
type overlay struct {
	files *admission.Objects
	live  admission.Cluster
}

func (o overlay) DeployPolicies(ctx context.Context) ([]v1alpha1.DeployPolicy, error) {
	live, err := o.live.DeployPolicies(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]v1alpha1.DeployPolicy{}
	for _, p := range live {
		byName[p.Name] = p
	}
	for _, p := range o.files.Policies {
		byName[p.Name] = p
	}
	out := make([]v1alpha1.DeployPolicy, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	return out, nil
}

func (o overlay) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	if l, ok := o.files.Namespaces[name]; ok {
		return l, nil
	}
	return o.live.NamespaceLabels(ctx, name)
}

func (o overlay) ImagePolicies(ctx context.Context) ([]policyv1beta1.ClusterImagePolicy, error) {
	live, err := o.live.ImagePolicies(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]policyv1beta1.ClusterImagePolicy{}
	for _, p := range live {
		byName[p.Name] = p
	}
	for _, p := range o.files.ImagePolicyList {
		byName[p.Name] = p
	}
	out := make([]policyv1beta1.ClusterImagePolicy, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	return out, nil
}

func (o overlay) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if s, err := o.files.Secret(ctx, namespace, name); err == nil {
		return s, nil
	}
	return o.live.Secret(ctx, namespace, name)
}

func (o overlay) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	if cm, err := o.files.ConfigMap(ctx, namespace, name); err == nil {
		return cm, nil
	}
	return o.live.ConfigMap(ctx, namespace, name)
}

func validNoMatch(p string) error {
	switch p {
	case "allow", "warn", "deny":
		return nil
	}
	return usageError{fmt.Errorf("--no-match-policy %q: want allow, warn or deny", p)}
}
