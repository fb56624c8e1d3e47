package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"bollard.dev/bollard/notify"
	"bollard.dev/bollard/tracing"
	"bollard.dev/bollard/webhook"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/workload"
)

// webhookOptions are the flags of `bollard webhook`.
type webhookOptions struct {
	Tracing         tracing.Options
	Notifications   string
	Listen          string
	CertFile        string
	KeyFile         string
	SelfSignedHosts []string
	PolicyConfigMap string
	Namespace       string
	RegisterURL     string
	FailurePolicy   string
	TimeoutSeconds  int32
	VerifyImages    bool
	NoMatchPolicy   string
	TagTTL          time.Duration
	WorkloadKinds   []string
	OptOutUsers     []string
	OptOutGroups    []string
	RollbackUsers   []string
	PinDigests      bool
	ShutdownDelay   time.Duration
}

func (o *webhookOptions) BindFlags(fs *pflag.FlagSet) {
	o.Tracing.BindFlags(fs)
	fs.StringVar(&o.Notifications, "notifications", "", "a file of notification targets (CloudEvents or Slack webhooks, HMAC-signed) told of every break-glass")
	fs.StringVar(&o.Listen, "listen", ":8443", "address to serve HTTPS on")
	fs.StringVar(&o.CertFile, "tls-cert-file", "", "serving certificate (PEM); reloaded when it changes")
	fs.StringVar(&o.KeyFile, "tls-key-file", "", "serving key (PEM); reloaded when it changes")
	fs.StringSliceVar(&o.SelfSignedHosts, "self-signed-hosts", []string{"localhost", "127.0.0.1"}, "without certificate files: names and IPs of a self-signed certificate (rotated)")
	fs.StringVar(&o.PolicyConfigMap, "policy-configmap", "", "namespace/name of a ConfigMap whose *.rego keys add deny/warn rules")
	fs.StringVar(&o.Namespace, "namespace", envOr("POD_NAMESPACE", "bollard-system"), "bollard's own namespace, never checked")
	fs.StringVar(&o.RegisterURL, "register-url", "", "development: register a ValidatingWebhookConfiguration pointing at this base URL (e.g. https://127.0.0.1:8443) and remove it on exit")
	fs.StringVar(&o.FailurePolicy, "failure-policy", "Fail", "with --register-url: Fail or Ignore")
	fs.Int32Var(&o.TimeoutSeconds, "timeout-seconds", 10, "the webhook's timeoutSeconds (with --register-url); decisions, registry calls included, stay inside it")
	fs.BoolVar(&o.VerifyImages, "verify-images", true, "verify image signatures against the ClusterImagePolicies")
	fs.StringVar(&o.NoMatchPolicy, "no-match-policy", "deny", "deny, warn or allow images no ClusterImagePolicy matches (deny: only signed images run; warn while onboarding)")
	fs.StringSliceVar(&o.WorkloadKinds, "workload-kinds", kindStrings(workload.DefaultCustom), "custom resources with a pod template, checked like Deployments: group/version/resource/Kind=path.to.template (repeatable)")
	fs.DurationVar(&o.TagTTL, "tag-ttl", 30*time.Second, "how long a tag's digest is reused without asking the registry (a tag admitted a moment ago is admitted during a registry blip); never longer than a verdict")
	fs.StringSliceVar(&o.OptOutUsers, "opt-out-admin-users", nil, "users who may set, change or remove a namespace's "+webhook.OptOutLabel+" label")
	fs.StringSliceVar(&o.OptOutGroups, "opt-out-admin-groups", []string{"system:masters"}, "groups whose members may set, change or remove a namespace's "+webhook.OptOutLabel+" label")
	fs.StringSliceVar(&o.RollbackUsers, "daemon-users", nil, "the daemon's identities (its ServiceAccount's user name): their rollbacks, marked bollard.dev/rollback, are admitted whatever the policies say now, with an Event")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, how long to keep answering with /readyz failing before closing: the API server calls a pod until its Service's endpoints drop it (none with --register-url)")
	fs.BoolVar(&o.PinDigests, "pin-digests", false, "with --register-url: also register the mutating webhook (/mutate) that pins verified tags to their digests")
}

func kindStrings(kinds []workload.Kind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.String()
	}
	return out
}

func parseKinds(list []string) ([]workload.Kind, error) {
	var out []workload.Kind
	for _, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k, err := workload.ParseKind(s)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newWebhookCommand() *cobra.Command {
	var opts webhookOptions
	var kube kubeOptions
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Run the admission webhook: freeze windows, feature flags, risky changes and schema versions",
		Long: `Run bollard's validating admission webhook over TLS 1.2+.

It decides every CREATE and UPDATE of Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
Jobs and CronJobs with the DeployPolicies of the cluster and the Rego policies built into bollard
(plus --policy-configmap). It serves /validate, /healthz, /readyz and /metrics.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.FailurePolicy != "Fail" && opts.FailurePolicy != "Ignore" {
				return usageError{fmt.Errorf("--failure-policy %q: want Fail or Ignore", opts.FailurePolicy)}
			}
			if err := validNoMatch(opts.NoMatchPolicy); err != nil {
				return err
			}
			if (opts.CertFile == "") != (opts.KeyFile == "") {
				return usageError{errors.New("give both --tls-cert-file and --tls-key-file, or neither")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runWebhook(ctx, opts, kube)
		},
	}
	opts.BindFlags(cmd.Flags())
	kube.BindFlags(cmd.Flags())
	return cmd
}

func runWebhook(ctx context.Context, opts webhookOptions, kube kubeOptions) error {
	log := newLogger()
	// ctx ends with SIGTERM; what serves (caches, certificate reloads) runs on until the drain
	// below is over.
	signalled := ctx
	ctx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	stopTracing, err := tracing.Setup(ctx, opts.Tracing, "bollard-webhook", version)
	if err != nil {
		return err
	}
	defer flushTraces(log, stopTracing)
	gcPercent, memLimit := webhook.TuneGC()
	log.Info("garbage collector", "gcPercent", gcPercent, "memoryLimit", memLimit)
	ctrllog.SetLogger(log)
	cfg, err := kube.RESTConfig()
	if err != nil {
		return err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	var caBundle []byte
	if opts.CertFile != "" {
		watcher, err := certwatcher.New(opts.CertFile, opts.KeyFile)
		if err != nil {
			return fmt.Errorf("load certificate: %w", err)
		}
		go func() {
			if err := watcher.Start(ctx); err != nil {
				log.Error(err, "certificate watcher stopped")
			}
		}()
		tlsConfig.GetCertificate = watcher.GetCertificate
	} else {
		self, err := webhook.NewSelfSigned(opts.SelfSignedHosts, 24*time.Hour)
		if err != nil {
			return err
		}
		tlsConfig.GetCertificate, caBundle = self.GetCertificate, self.CABundle()
	}

	decisionTimeout := time.Duration(opts.TimeoutSeconds)*time.Second - 500*time.Millisecond
	wcfg := webhook.Config{REST: cfg, PolicyConfigMap: opts.PolicyConfigMap, Log: log, DecisionTimeout: decisionTimeout,
		Namespace: opts.Namespace, NoMatchPolicy: opts.NoMatchPolicy, OptOutUsers: opts.OptOutUsers, OptOutGroups: opts.OptOutGroups,
		RollbackUsers: opts.RollbackUsers}
	if wcfg.WorkloadKinds, err = parseKinds(opts.WorkloadKinds); err != nil {
		return usageError{err}
	}
	if opts.Notifications != "" {
		targets, err := notify.Load(opts.Notifications)
		if err != nil {
			return usageError{err}
		}
		wcfg.Notifier = notify.New(targets, notify.Options{Log: log.WithName("notify"), Source: "webhook"})
		go wcfg.Notifier.Run(ctx)
	}
	if opts.VerifyImages {
		// Registry calls get most of the decision's time; a cached verdict needs none.
		wcfg.Images = imagesig.New(imagesig.Options{Timeout: decisionTimeout * 3 / 4, TagTTL: opts.TagTTL})
	}
	server, err := webhook.New(ctx, wcfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: server.Handler(), TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(lis, "", "") }()
	log.Info("serving", "address", lis.Addr().String())

	if opts.RegisterURL != "" {
		if caBundle == nil {
			if caBundle, err = os.ReadFile(opts.CertFile); err != nil {
				return err
			}
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		for !server.Ready() {
			select {
			case <-signalled.Done():
				return signalled.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		hook := webhook.ValidatingWebhook(strings.TrimSuffix(opts.RegisterURL, "/")+"/validate", caBundle, opts.Namespace,
			admissionregistrationv1.FailurePolicyType(opts.FailurePolicy), opts.TimeoutSeconds, wcfg.WorkloadKinds...)
		optOut := webhook.OptOutWebhook(strings.TrimSuffix(opts.RegisterURL, "/")+"/validate", caBundle, opts.TimeoutSeconds)
		policies := webhook.PolicyWebhook(strings.TrimSuffix(opts.RegisterURL, "/")+"/validate", caBundle, opts.TimeoutSeconds)
		channels := webhook.ChannelWebhook(strings.TrimSuffix(opts.RegisterURL, "/")+"/validate", caBundle, opts.Namespace,
			admissionregistrationv1.FailurePolicyType(opts.FailurePolicy), opts.TimeoutSeconds)
		if err := register(ctx, cs, hook, optOut, policies, channels); err != nil {
			return err
		}
		log.Info("registered", "webhookConfiguration", registeredName, "url", opts.RegisterURL)
		defer func() {
			// The development registration must not outlive this process: with failurePolicy Fail
			// it would block every deploy.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, registeredName, metav1.DeleteOptions{}); err != nil {
				log.Error(err, "remove webhook registration")
			}
		}()
		if opts.PinDigests {
			mutating := webhook.MutatingWebhook(strings.TrimSuffix(opts.RegisterURL, "/")+"/mutate", caBundle, opts.Namespace, opts.TimeoutSeconds)
			api := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: registeredName}, Webhooks: []admissionregistrationv1.MutatingWebhook{mutating}}
			_ = api.Delete(ctx, registeredName, metav1.DeleteOptions{})
			if _, err := api.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("register mutating webhook: %w", err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := api.Delete(ctx, registeredName, metav1.DeleteOptions{}); err != nil {
					log.Error(err, "remove mutating webhook registration")
				}
			}()
		}
	}

	select {
	case err := <-errc:
		return err
	case <-signalled.Done():
	}
	// Drain: not ready, still answering, until the endpoints have let go of this pod (a
	// registration of --register-url points at this process itself: nothing to wait for).
	delay := opts.ShutdownDelay
	if opts.RegisterURL != "" {
		delay = 0
	}
	server.Drain()
	log.Info("shutting down", "delay", delay.String())
	select {
	case err := <-errc:
		return err
	case <-time.After(delay):
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

const registeredName = "bollard-gate"

func register(ctx context.Context, cs kubernetes.Interface, hooks ...admissionregistrationv1.ValidatingWebhook) error {
	api := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: registeredName, Labels: map[string]string{"app.kubernetes.io/managed-by": "bollard-webhook"}},
		Webhooks:   hooks,
	}
	existing, err := api.Get(ctx, registeredName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, cfg, metav1.CreateOptions{})
	case err == nil:
		existing.Webhooks = cfg.Webhooks
		_, err = api.Update(ctx, existing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("register webhook: %w", err)
	}
	return nil
}
