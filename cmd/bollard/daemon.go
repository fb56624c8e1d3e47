package main

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"bollard.dev/bollard/internal/egress"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/reconciler/source"
	"bollard.dev/bollard/tracing"
	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/workload"
)

// daemonOptions are the flags of `bollard daemon`.
type daemonOptions struct {
	Tracing                         tracing.Options
	MetricsAddr, HealthAddr         string
	ReceiverAddr                    string
	ReceiverTLSCert, ReceiverTLSKey string
	ReceiverSecret                  string
	LeaderElect                     bool
	Namespace                       string
	GitDir                          string
	Namespaces                      []string
	VerifyImages                    bool
	NoMatchPolicy                   string
	GitSchemes                      []string
	InsecureSSHHostKeys             bool
	WorkloadKinds                   []string
	ServiceAccount                  string
	DefaultServiceAccount           string
	QPS                             float32
	Profiling                       bool
	AllowedHosts                    []string
	Burst                           int
	SyncTimeout                     time.Duration
	Concurrency                     int
	FetchTimeout                    time.Duration
	Cluster                         string
	Notifications                   string
	AttestKey                       string
	FeedRoot                        string
}

func (o *daemonOptions) BindFlags(fs *pflag.FlagSet) {
	o.Tracing.BindFlags(fs)
	fs.StringVar(&o.MetricsAddr, "metrics-addr", ":8080", "serve /metrics here (0: off)")
	fs.StringVar(&o.HealthAddr, "health-addr", ":8081", "serve /healthz and /readyz here (0: off)")
	fs.StringVar(&o.ReceiverAddr, "receiver-addr", ":8090", "serve the git push receiver (POST /hooks/git) here (empty: off)")
	fs.StringVar(&o.ReceiverTLSCert, "receiver-tls-cert-file", "", "serve the receiver over TLS 1.2+ with this certificate (reloaded when it changes)")
	fs.StringVar(&o.ReceiverTLSKey, "receiver-tls-key-file", "", "the receiver certificate's key")
	fs.StringVar(&o.ReceiverSecret, "receiver-secret", "bollard-system/bollard-receiver", "namespace/name of the Secret whose key \"secret\" authenticates pushes (HMAC-SHA256 key, or GitLab token)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "one active daemon at a time (a Lease in --namespace)")
	fs.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "bollard-system"), "bollard's own namespace (leader election Lease, the Releases' snapshots)")
	fs.StringVar(&o.DefaultServiceAccount, "default-service-account", "", "the ServiceAccount of its own namespace a Release without spec.serviceAccountName acts as (impersonated: RBAC bounds what it applies); empty: the daemon's own identity (single tenant)")
	fs.StringSliceVar(&o.Namespaces, "namespaces", nil, "only Releases in these namespaces (default: the whole cluster)")
	fs.StringSliceVar(&o.GitSchemes, "git-schemes", source.DefaultSchemes, "repository URL schemes fetched; http, git and file only when listed (clear text; the daemon's own disk)")
	fs.BoolVar(&o.InsecureSSHHostKeys, "insecure-ssh-host-keys", false, "fetch SSH repositories whose Secret has no knownHosts, their host key unchecked")
	fs.StringVar(&o.GitDir, "git-dir", filepath.Join(os.TempDir(), "bollard-git"), "where repository mirrors are kept")
	fs.BoolVar(&o.VerifyImages, "verify-images", true, "pre-flight verifies image signatures against the ClusterImagePolicies")
	fs.StringSliceVar(&o.WorkloadKinds, "workload-kinds", kindStrings(workload.DefaultCustom), "custom resources with a pod template the pre-flight checks like Deployments (the webhook's setting): group/version/resource/Kind=path.to.template")
	fs.StringVar(&o.NoMatchPolicy, "no-match-policy", "deny", "with --verify-images: deny, warn or allow images no ClusterImagePolicy matches (the webhook's setting; the chart sets both alike)")
	fs.StringVar(&o.ServiceAccount, "user", envOr("BOLLARD_DAEMON_USER", "system:serviceaccount:bollard-system:bollard-daemon"), "the writer the pre-flight decision sees (break-glass and opt-out rules name users)")
	fs.DurationVar(&o.SyncTimeout, "sync-timeout", 5*time.Minute, "bound on one sync operation, hooks included")
	fs.Float32Var(&o.QPS, "kube-api-qps", 200, "requests per second to the API server (a sync of 1,000 objects is 1,000 applies)")
	fs.IntVar(&o.Burst, "kube-api-burst", 400, "burst of requests to the API server")
	fs.StringSliceVar(&o.AllowedHosts, "allowed-hosts", egress.DefaultHosts, "where a Release's prove check and Prometheus may be: host names with * globs (optionally :port), IP addresses, CIDRs; link-local addresses (cloud metadata) only when listed")
	fs.BoolVar(&o.Profiling, "profiling", false, "serve Go's pprof profiles under /debug/pprof/ on the metrics address")
	fs.StringVar(&o.Notifications, "notifications", "", "a file of notification targets (CloudEvents or Slack webhooks, HMAC-signed): refused, rolled back, rollback failed, drift, succeeded")
	fs.StringVar(&o.AttestKey, "attest-key", "", "a cosign private key (its password in COSIGN_PASSWORD): the Deployment Log of each Release with spec.attest that succeeds is signed with it and attached to its image digests")
	fs.StringVar(&o.Cluster, "cluster-name", "", "this cluster's name in Deployment Logs' targets (prod-eu, …)")
	fs.StringVar(&o.FeedRoot, "feed-root", "", "the directory of the update feeds ChannelReleases of type feed publish to: ROOT/NAMESPACE/REPOSITORY, made by bollard feed init (empty: none)")
	fs.IntVar(&o.Concurrency, "concurrency", 4, "Releases reconciled at once (one slow git server or hook does not hold up the others)")
	fs.DurationVar(&o.FetchTimeout, "fetch-timeout", 2*time.Minute, "bound on one git fetch")
}

func newDaemonCommand() *cobra.Command {
	var opts daemonOptions
	var kube kubeOptions
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the GitOps daemon: apply Releases from git through gitops-engine, revert drift, react to pushes",
		Long: `Run bollard's deploy daemon (a controller-runtime manager with leader election).

For every Release it fetches the revision with go-git, renders it (plain YAML, kustomize or a Helm
chart), runs the gate's decision on it as pre-flight (a denied or unrenderable revision is not
applied), applies it through gitops-engine (waves, PreSync hooks, pruning of its own objects only),
watches the applied objects and reverts out-of-band changes (selfHeal), and records a Deployment
Log per change in the Release's status (bollard log). Pushes to POST /hooks/git (GitHub, Gitea:
HMAC-SHA256; GitLab: token) reconcile the matching Releases at once; git is polled at each
Release's interval as well.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (opts.ReceiverTLSCert == "") != (opts.ReceiverTLSKey == "") {
				return usageError{errors.New("give both --receiver-tls-cert-file and --receiver-tls-key-file, or neither")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := newLogger()
			ctrllog.SetLogger(log)
			shutdown, err := tracing.Setup(ctx, opts.Tracing, "bollard-daemon", version)
			if err != nil {
				return err
			}
			defer flushTraces(log, shutdown)
			cfg, err := kube.RESTConfig()
			if err != nil {
				return err
			}
			cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
			kinds, err := parseKinds(opts.WorkloadKinds)
			if err != nil {
				return usageError{err}
			}
			return reconciler.Run(ctx, reconciler.Options{REST: cfg, MetricsAddr: opts.MetricsAddr, HealthAddr: opts.HealthAddr,
				ReceiverAddr: opts.ReceiverAddr, ReceiverTLSCert: opts.ReceiverTLSCert, ReceiverTLSKey: opts.ReceiverTLSKey,
				ReceiverSecret: opts.ReceiverSecret, LeaderElection: opts.LeaderElect, Namespace: opts.Namespace, DefaultServiceAccount: opts.DefaultServiceAccount,
				GitDir: opts.GitDir, GitSchemes: opts.GitSchemes, InsecureSSHHostKeys: opts.InsecureSSHHostKeys, Namespaces: opts.Namespaces, VerifyImages: opts.VerifyImages, NoMatchPolicy: opts.NoMatchPolicy, WorkloadKinds: kinds, User: admission.User{Username: opts.ServiceAccount,
					Groups: []string{"system:serviceaccounts", "system:authenticated"}}, SyncTimeout: opts.SyncTimeout,
				Concurrency: opts.Concurrency, FetchTimeout: opts.FetchTimeout, Cluster: opts.Cluster, Notifications: opts.Notifications, AttestKey: opts.AttestKey, AttestKeyPassword: []byte(os.Getenv("COSIGN_PASSWORD")), Profiling: opts.Profiling, AllowedHosts: opts.AllowedHosts, FeedRoot: opts.FeedRoot, Log: log})
		},
	}
	opts.BindFlags(cmd.Flags())
	kube.BindFlags(cmd.Flags())
	return cmd
}
