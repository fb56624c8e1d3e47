package reconciler

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel/trace"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"bollard.dev/bollard/api"
	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/channel"
	"bollard.dev/bollard/internal/egress"
	"bollard.dev/bollard/notify"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/reconciler/snapshot"
	"bollard.dev/bollard/reconciler/source"
	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/workload"
)

// Options configure the daemon.
type Options struct {
	REST *rest.Config
	// MetricsAddr and HealthAddr serve /metrics and /healthz, /readyz ("0" turns one off).
	MetricsAddr, HealthAddr string
	// ReceiverAddr serves the git push receiver at /hooks/git ("" turns it off); with
	// ReceiverTLSCert and ReceiverTLSKey it is HTTPS (TLS 1.2+).
	ReceiverAddr                    string
	ReceiverTLSCert, ReceiverTLSKey string
	// ReceiverSecret is "namespace/name" of the Secret whose key "secret" holds the HMAC key (or
	// GitLab token).
	ReceiverSecret string
	// LeaderElection on: one active daemon at a time.
	LeaderElection bool
	// Namespace is the daemon's own: the leader election Lease and the Releases' snapshots.
	Namespace string
	// DefaultServiceAccount is the ServiceAccount (of its own namespace) a Release without
	// spec.serviceAccountName acts as; "": the daemon's own identity.
	DefaultServiceAccount string
	// Namespaces limits the daemon to Releases (and their objects) in these namespaces; empty:
	// the whole cluster.
	Namespaces []string
	// GitDir keeps the repository mirrors.
	GitDir string
	// GitSchemes are the repository URL schemes fetched (default https and ssh); http, git and
	// file must be allowed explicitly. InsecureSSHHostKeys fetches SSH repositories without
	// knownHosts.
	GitSchemes          []string
	InsecureSSHHostKeys bool
	// VerifyImages turns on signature verification in the pre-flight decision; NoMatchPolicy
	// (deny, warn, allow; "" is deny) is what happens to images no ClusterImagePolicy matches —
	// the webhook's setting.
	VerifyImages  bool
	NoMatchPolicy string
	// WorkloadKinds are custom resources with a pod template the pre-flight checks (the webhook's).
	WorkloadKinds []workload.Kind
	// User is who the pre-flight decision sees as the writer.
	User        admission.User
	SyncTimeout time.Duration
	// Concurrency is how many Releases are reconciled at once (default 4): one Release's slow
	// git server or hooks never hold up the others.
	Concurrency int
	// FetchTimeout bounds one git fetch (default 2 minutes).
	FetchTimeout time.Duration
	// Cluster names this cluster in Deployment Logs ("" leaves it out).
	Cluster string
	// Tracer sends a trace per change (nil: the global provider).
	Tracer trace.TracerProvider
	// Notifications is a file of notification targets (notify.Load; "": none).
	Notifications string
	// AttestKey is a cosign private key (password AttestKeyPassword) the daemon signs the logs of
	// Releases with spec.attest with ("": none).
	AttestKey         string
	AttestKeyPassword []byte
	Log               logr.Logger
	// AllowedHosts are where prove checks and Prometheus may be (egress.Parse; nil: in-cluster
	// Services, egress.DefaultHosts).
	AllowedHosts []string
	// Profiling serves Go's pprof profiles under /debug/pprof/ beside /metrics.
	Profiling bool
	// FeedRoot holds the update feeds ChannelReleases of type feed publish to ("" : none).
	FeedRoot string
	// Play builds the Google Play channel of a ChannelRelease from its credentials (nil: none).
	Play func(ctx context.Context, cr *v1alpha1.ChannelRelease, credentials []byte) (channel.Provider, error)
	// Started, when set, is called with the receiver's address once it listens (tests).
	Started func(receiverAddr string)
}

// Run runs the daemon until ctx ends.
func Run(ctx context.Context, opts Options) error {
	if err := workload.Register(opts.WorkloadKinds...); err != nil {
		return err
	}
	opts.REST = rest.CopyConfig(opts.REST)
	opts.REST.Wrap(countRequests)
	mgr, err := ctrl.NewManager(opts.REST, ctrl.Options{
		Scheme:                  api.NewScheme(),
		Logger:                  opts.Log,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr, ExtraHandlers: profiling(opts.Profiling)},
		HealthProbeBindAddress:  opts.HealthAddr,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "bollard-daemon",
		LeaderElectionNamespace: opts.Namespace,
		// Secrets and ConfigMaps are read when needed, not cached cluster-wide.
		// DeploymentRecords are written and pruned, never watched (thousands per namespace).
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}, &v1alpha1.DeploymentRecord{}}}},
		Cache:  cacheOptions(opts.Namespaces),
	})
	if err != nil {
		return err
	}
	// The drain step reads a Deployment's ReplicaSets by this index, not by scanning (and
	// copying) every ReplicaSet of the namespace per Release.
	if err := mgr.GetFieldIndexer().IndexField(ctx, &appsv1.ReplicaSet{}, indexDeploymentOwner, deploymentOwner); err != nil {
		return err
	}
	// The push receiver finds a repository's Releases by this index.
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.Release{}, indexSourceURL, sourceURL); err != nil {
		return err
	}
	r := &Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Git: &source.Git{Dir: opts.GitDir, Schemes: opts.GitSchemes, InsecureSSHHostKeys: opts.InsecureSSHHostKeys}, User: opts.User,
		Snapshots: &snapshot.Store{Client: mgr.GetClient(), Namespace: cmp.Or(opts.Namespace, "bollard-system")}, DefaultServiceAccount: opts.DefaultServiceAccount,
		ids: &identities{base: opts.REST, options: client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()}}, Concurrency: opts.Concurrency, FetchTimeout: opts.FetchTimeout, Namespaces: opts.Namespaces, Cluster: opts.Cluster, Tracer: opts.Tracer,
		Recorder: mgr.GetEventRecorder("bollard-daemon"), Log: opts.Log.WithName("release"), SyncTimeout: opts.SyncTimeout}
	if r.unmanaged, err = newUnmanaged(opts.REST, mgr, opts.Namespaces); err != nil {
		return err
	}
	if opts.AllowedHosts == nil {
		opts.AllowedHosts = egress.DefaultHosts
	}
	guard, err := egress.Parse(opts.AllowedHosts)
	if err != nil {
		return err
	}
	r.Egress = guard
	if opts.DefaultServiceAccount == "" {
		opts.Log.Info("no --default-service-account: Releases without spec.serviceAccountName apply with the daemon's own rights (single tenant)")
	}
	policies, err := admission.NewEngine(ctx, nil)
	if err != nil {
		return err
	}
	var gateOpts []admission.GateOption
	if opts.VerifyImages {
		gateOpts = append(gateOpts, admission.WithImageVerification(imagesig.New(imagesig.Options{Timeout: 20 * time.Second}), opts.NoMatchPolicy))
	}
	// The gate's inputs as the webhook reads them: DeployPolicies, ClusterImagePolicies and
	// namespaces from the cache, ConfigMaps and Secrets from the API server (never cached).
	r.Gate = admission.NewGate(admission.ReaderCluster{Reader: mgr.GetClient()}, policies, gateOpts...)
	if opts.AttestKey != "" {
		if r.Attester, err = NewAttester(opts.AttestKey, opts.AttestKeyPassword, opts.Cluster); err != nil {
			return err
		}
	}
	if opts.Notifications != "" {
		targets, err := notify.Load(opts.Notifications)
		if err != nil {
			return err
		}
		r.Notifier = notify.New(targets, notify.Options{Log: opts.Log.WithName("notify"), Source: cmp.Or(opts.Cluster, "daemon")})
		go r.Notifier.Run(ctx)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	// ChannelReleases when their CRD is installed (Helm installs CRDs, it never upgrades them:
	// an older installation's daemon goes on with Releases alone, and says so).
	if _, err := mgr.GetRESTMapper().RESTMapping(v1alpha1.GroupVersion.WithKind("ChannelRelease").GroupKind(), v1alpha1.GroupVersion.Version); err != nil {
		opts.Log.Info("no ChannelRelease CRD in the cluster: channel releases are off (apply charts/bollard/crds to turn them on)", "error", err.Error())
	} else {
		if opts.Play == nil {
			opts.Play = r.playProvider
		}
		channels := &ChannelReconciler{Releases: r, Provider: ChannelProviders(opts.FeedRoot, opts.Play), Pull: PullArtifact,
			Log: opts.Log.WithName("channelrelease"), Recorder: mgr.GetEventRecorder("bollard-daemon")}
		if err := channels.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	// The cluster cache starts with the leader: its drift feed drives self-heal.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		e, err := engine.New(ctx, opts.REST, opts.Log.WithName("engine"), opts.Namespaces, r.OnDrift)
		if err != nil {
			return err
		}
		r.setEngine(e)
		<-ctx.Done()
		e.Invalidate()
		return nil
	})); err != nil {
		return err
	}
	// Mirrors of repositories no Release uses any more are removed (on the leader, every 10 min).
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		t := time.NewTicker(10 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				r.pruneMirrors(ctx)
			}
		}
	})); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("engine", func(*http.Request) error {
		if r.engine() == nil {
			return errors.New("cluster cache not synced (or not the leader)")
		}
		return nil
	}); err != nil {
		return err
	}
	if opts.ReceiverAddr != "" {
		rc := &Receiver{Client: mgr.GetClient(), Trigger: r.Trigger, Log: opts.Log.WithName("receiver"),
			Secret: secretReader(mgr.GetAPIReader(), opts.ReceiverSecret)}
		if err := mgr.Add(receiverServer(opts, rc)); err != nil {
			return err
		}
	}
	return mgr.Start(ctx)
}

func cacheOptions(namespaces []string) crcache.Options {
	o := crcache.Options{}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]crcache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = crcache.Config{}
		}
	}
	return o
}

// secretReader reads the receiver's shared secret ("namespace/name", key "secret") on each push,
// so a rotated Secret takes effect at once.
// secretReader reads the receiver's Secret, cached for secretTTL: a flood of pushes (forged or
// not) costs the API server one read per secretTTL, and a rotated secret is used within it.
func secretReader(c client.Reader, ref string) func(context.Context) ([]byte, error) {
	var mu sync.Mutex
	var cached []byte
	var at time.Time
	return func(ctx context.Context) ([]byte, error) {
		ns, name, ok := strings.Cut(ref, "/")
		if !ok {
			return nil, fmt.Errorf("receiver secret %q: want namespace/name", ref)
		}
		mu.Lock()
		defer mu.Unlock()
		if cached != nil && time.Since(at) < secretTTL {
			return cached, nil
		}
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			return nil, err
		}
		cached, at = s.Data["secret"], time.Now()
		return cached, nil
	}
}

// secretTTL is how long the receiver's secret is reused.
const secretTTL = 10 * time.Second

// receiverServer serves the push receiver on the leader only (its triggers drive the leader's
// controller).
func receiverServer(opts Options, rc *Receiver) manager.Runnable {
	return manager.RunnableFunc(func(ctx context.Context) error {
		mux := http.NewServeMux()
		mux.Handle("/hooks/git", rc)
		mux.Handle("/hooks/git/{namespace}/{name}", rc) // a Release's own endpoint (spec.receiver)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
		l, err := net.Listen("tcp", opts.ReceiverAddr)
		if err != nil {
			return err
		}
		if opts.ReceiverTLSCert != "" {
			cw, err := certwatcher.New(opts.ReceiverTLSCert, opts.ReceiverTLSKey)
			if err != nil {
				return err
			}
			go func() { _ = cw.Start(ctx) }()
			l = tls.NewListener(l, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cw.GetCertificate})
		}
		if opts.Started != nil {
			opts.Started(l.Addr().String())
		}
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// profiling is pprof's handlers for the metrics server (nil: off).
func profiling(on bool) map[string]http.Handler {
	if !on {
		return nil
	}
	return map[string]http.Handler{
		"/debug/pprof/":        http.HandlerFunc(pprof.Index),
		"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
		"/debug/pprof/heap":    pprof.Handler("heap"),
		"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
	}
}

// pruneMirrors removes the git mirrors no Release uses.
func (r *Reconciler) pruneMirrors(ctx context.Context) {
	var list v1alpha1.ReleaseList
	if err := r.reader().List(ctx, &list); err != nil {
		r.Log.Error(err, "mirror cleanup: list Releases")
		return
	}
	keep := make([]string, 0, len(list.Items))
	for _, rel := range list.Items {
		keep = append(keep, rel.Spec.Source.URL)
	}
	n, err := r.Git.Prune(keep, 10*time.Minute)
	if err != nil {
		r.Log.Error(err, "mirror cleanup")
	}
	if n > 0 {
		r.Log.Info("removed the mirrors of repositories no Release uses", "mirrors", n)
	}
}
