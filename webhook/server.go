// Package webhook is bollard's admission server: AdmissionReview v1 over TLS 1.2+, deciding with
// the one gate of package admission, with /healthz, /readyz and /metrics.
package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	policyv1beta1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api"
	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/notify"
	"bollard.dev/bollard/webhook/admission"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/workload"
)

// maxReviewBytes bounds a request body: two objects of etcd's 1.5 MiB limit plus the envelope.
const maxReviewBytes = 7 << 20

// Config is what a Server needs beyond its flags.
type Config struct {
	REST *rest.Config
	// Tracer sends a span per admission decision (nil: the global provider — a no-op unless
	// tracing.Setup installed one).
	Tracer trace.TracerProvider
	// Notifier is told of every break-glass (nil: none).
	Notifier *notify.Notifier
	// WorkloadKinds are custom resources with a pod template the gate checks like Deployments
	// (registered process-wide; the webhook registration needs rules for them too).
	WorkloadKinds []workload.Kind
	// PolicyConfigMap ("namespace/name"), when set, holds extra Rego modules (keys ending .rego).
	PolicyConfigMap string
	// DecisionTimeout bounds one decision; keep it inside the webhook's timeoutSeconds.
	DecisionTimeout time.Duration
	// Images, when set, turns on the signature gate; NoMatchPolicy (allow, warn, deny) says what
	// happens to images no ClusterImagePolicy matches.
	Images        *imagesig.Verifier
	NoMatchPolicy string
	// Namespace is bollard's own, where key Secrets live.
	Namespace string
	// OptOutUsers and OptOutGroups may change a namespace's bollard.dev/ignore label (default:
	// group system:masters).
	OptOutUsers, OptOutGroups []string
	// RollbackUsers are the daemon's identities: their writes marked as a rollback
	// (admission.AnnotationRollback) are admitted whatever the policies say now, with an Event.
	RollbackUsers []string
	Log           logr.Logger
}

// Server decides AdmissionReviews.
type Server struct {
	tracer   trace.Tracer
	notifier *notify.Notifier
	gate     *admission.Gate
	events   kubernetes.Interface
	metrics  *metrics
	log      logr.Logger
	timeout  time.Duration
	denials  *denialLimiter // nil: no denial Events
	ready    atomic.Bool
	// draining: shutting down; /readyz fails so the pod leaves its Service's endpoints while
	// /validate still answers.
	draining atomic.Bool
	// missing says which configured policy source is not loaded ("" when all are): the server is
	// not Ready meanwhile, so a rolling restart never serves with an organisation's rules dropped.
	missing atomic.Pointer[string]
}

// setMissing records the policy source that is not loaded ("" when none is missing).
func (s *Server) setMissing(why string) {
	s.missing.Store(&why)
	if why == "" {
		s.metrics.notReady.Set(0)
		return
	}
	s.metrics.notReady.Set(1)
}

// notReady says why the server is not Ready ("" when it is).
func (s *Server) notReady() string {
	if s.draining.Load() {
		return "shutting down"
	}
	if !s.ready.Load() {
		return "caches not synced"
	}
	if why := s.missing.Load(); why != nil && *why != "" {
		return *why
	}
	return ""
}

// New builds a server whose gate reads the cluster through watches started on ctx; it is ready
// once they have synced (and the user's policy modules, if any, compiled).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := workload.Register(cfg.WorkloadKinds...); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg.REST)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(cfg.REST, cache.Options{Scheme: api.NewScheme()})
	if err != nil {
		return nil, err
	}
	engine, err := admission.NewEngine(ctx, nil)
	if err != nil {
		return nil, err
	}
	if cfg.DecisionTimeout == 0 {
		cfg.DecisionTimeout = 8 * time.Second
	}
	configMaps := newConfigMapWatches(ctx, cs)
	m := newMetrics()
	gateOpts := []admission.GateOption{admission.WithOptOutAdmins(cfg.OptOutUsers, cfg.OptOutGroups), admission.WithRollbackUsers(cfg.RollbackUsers), admission.WithPolicyNamespace(cfg.Namespace)}
	if cfg.Images != nil {
		gateOpts = append(gateOpts, admission.WithImageVerification(meteredVerifier{ImageVerifier: cfg.Images, counts: m.images}, cfg.NoMatchPolicy))
	}
	view := &cluster{ReaderCluster: admission.ReaderCluster{Reader: c}, configMaps: configMaps, secrets: newSecretWatches(ctx, cs), namespace: cfg.Namespace}
	s := &Server{
		tracer:   cmp.Or[trace.TracerProvider](cfg.Tracer, otel.GetTracerProvider()).Tracer("bollard.dev/bollard/webhook"),
		notifier: cfg.Notifier,
		gate:     admission.NewGate(view, engine, gateOpts...),
		events:   cs,
		metrics:  m,
		log:      cfg.Log,
		timeout:  cfg.DecisionTimeout,
		denials:  newDenialLimiter(),
	}
	// Informers for the kinds the gate lists, before the cache starts.
	for _, obj := range []client.Object{&v1alpha1.DeployPolicy{}, &corev1.Namespace{}, &policyv1beta1.ClusterImagePolicy{}} {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			// Without policy-controller's CRD there are no image policies; the gate lists none.
			if _, isCIP := obj.(*policyv1beta1.ClusterImagePolicy); isCIP && meta.IsNoMatchError(err) {
				view.noImagePolicies = true
				if cfg.Images != nil {
					// Verification is on and its policies cannot be read: not Ready (fail closed).
					s.setMissing("the ClusterImagePolicy CRD (policy.sigstore.dev) is not installed: image policies cannot be read; install it and restart the webhook")
					cfg.Log.Error(err, "not Ready: ClusterImagePolicy CRD not installed")
				} else {
					cfg.Log.Info("ClusterImagePolicy CRD not installed: no image policies (restart the webhook after installing it)")
				}
				continue
			}
			return nil, err
		}
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			s.log.Error(err, "cache stopped")
		}
	}()
	go func() {
		if !c.WaitForCacheSync(ctx) {
			return
		}
		if cfg.PolicyConfigMap != "" {
			// Not Ready until the ConfigMap's modules are loaded (it may appear or be fixed later).
			if why := s.missing.Load(); why == nil || *why == "" {
				s.setMissing("policy ConfigMap " + cfg.PolicyConfigMap + " not loaded yet")
			}
			if err := s.watchPolicies(ctx, configMaps, cfg.PolicyConfigMap); err != nil {
				s.setMissing(fmt.Sprintf("policy ConfigMap %s not loaded: %v", cfg.PolicyConfigMap, err))
				s.log.Error(err, "not Ready: user policies not loaded", "configMap", cfg.PolicyConfigMap)
			}
		}
		s.gate.Warm(ctx)
		s.ready.Store(true)
		s.log.Info("ready", "policies", s.gate.Engine().Modules())
	}()
	return s, nil
}

// watchPolicies compiles the Rego modules of a ConfigMap now and on every change. A version that
// does not compile is rejected — logged, counted, reported as an Event on the ConfigMap — and the
// working policy set stays.
func (s *Server) watchPolicies(ctx context.Context, watches *objectWatches, ref string) error {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return fmt.Errorf("policy ConfigMap %q: want namespace/name", ref)
	}
	_, err := watches.get(ctx, ns, name, func(obj runtime.Object) { s.loadPolicies(ctx, obj.(*corev1.ConfigMap)) })
	return err
}

func (s *Server) loadPolicies(ctx context.Context, cm *corev1.ConfigMap) {
	modules := map[string]string{}
	for k, v := range cm.Data {
		if strings.HasSuffix(k, ".rego") {
			modules[cm.Namespace+"/"+cm.Name+"/"+k] = v
		}
	}
	engine, err := admission.NewEngine(ctx, modules)
	if err != nil {
		s.metrics.policyErrs.Inc()
		s.log.Error(err, "user policies rejected; keeping the previous policy set", "configMap", cm.Namespace+"/"+cm.Name, "resourceVersion", cm.ResourceVersion)
		s.event(ctx, &corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: cm.Namespace, Name: cm.Name, UID: cm.UID},
			corev1.EventTypeWarning, "PolicyRejected", "policy modules rejected, the previous policy set stays in force: "+err.Error())
		if why := s.missing.Load(); why != nil && strings.HasPrefix(*why, "policy ConfigMap") {
			// Never loaded since start: there is no previous set of the organisation's rules.
			s.setMissing(fmt.Sprintf("policy ConfigMap %s/%s rejected: %v", cm.Namespace, cm.Name, err))
		}
		return
	}
	s.gate.SetEngine(engine)
	if why := s.missing.Load(); why != nil && strings.HasPrefix(*why, "policy ConfigMap") {
		s.setMissing("")
	}
	s.log.Info("user policies loaded", "configMap", cm.Namespace+"/"+cm.Name, "resourceVersion", cm.ResourceVersion, "modules", engine.Modules())
}

// Drain marks the server as shutting down: /readyz answers 503 from now on, everything else is
// still served (the API server keeps calling a pod until its endpoint is gone).
func (s *Server) Drain() { s.draining.Store(true) }

// Ready reports whether the server's caches have synced and every configured policy source is
// loaded.
func (s *Server) Ready() bool { return s.notReady() == "" }

// Gate is the decision function the server uses.
func (s *Server) Gate() *admission.Gate { return s.gate }

// Handler serves /validate, /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", s.validate)
	mux.HandleFunc("/mutate", s.mutate)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := s.notReady(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	return mux
}

// validate answers one AdmissionReview. A malformed review gets HTTP 400 with what is wrong; a
// failure to decide is a denial that says so (fail closed), never a panic.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	review, req, ok := readReview(w, r)
	if !ok {
		return
	}
	ar := review.Request
	tr := s.tracer
	if tr == nil { // a Server made without New (tests)
		tr = otel.Tracer("bollard.dev/bollard/webhook")
	}
	ctx, span := tr.Start(r.Context(), "admission "+string(ar.Operation)+" "+ar.Kind.Kind, trace.WithSpanKind(trace.SpanKindServer))
	resp, verdict := s.decide(ctx, ar, req)
	if span.IsRecording() { // nothing to build when not traced: this is every admission's path
		span.SetAttributes(attribute.String("k8s.namespace.name", ar.Namespace), attribute.String("bollard.kind", ar.Kind.Kind),
			attribute.String("bollard.name", ar.Name), attribute.String("bollard.operation", string(ar.Operation)),
			attribute.String("bollard.user", ar.UserInfo.Username), attribute.Bool("bollard.dry_run", req.DryRun),
			attribute.String("bollard.verdict", verdict), attribute.Bool("bollard.allowed", resp.Allowed))
		if resp.Result != nil {
			span.SetAttributes(attribute.String("bollard.reason", resp.Result.Message))
		}
	}
	span.End()
	writeReview(w, review, resp)
	if !req.DryRun {
		s.metrics.decisions.WithLabelValues(verdict).Inc()
	}
	s.metrics.duration.WithLabelValues(verdict).Observe(time.Since(start).Seconds())
}

// mutate pins images given by tag to the digest that was verified. It never denies: the
// validating call decides; a failure here only means no pin.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request) {
	review, req, ok := readReview(w, r)
	if !ok {
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	pins, err := s.pins(ctx, req)
	if err != nil {
		s.log.Error(err, "cannot pin digests", "kind", review.Request.Kind.Kind, "namespace", review.Request.Namespace, "name", review.Request.Name)
	}
	if len(pins) > 0 {
		var ops []map[string]string
		for ptr, image := range pins {
			ops = append(ops, map[string]string{"op": "replace", "path": ptr, "value": image})
		}
		sort.Slice(ops, func(i, j int) bool { return ops[i]["path"] < ops[j]["path"] })
		patch, _ := json.Marshal(ops)
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = patch, &pt
	}
	writeReview(w, review, resp)
}

// readReview reads and decodes the AdmissionReview of a request; on failure it has answered
// (405, 415 or 400 with what is wrong) and returns false.
func readReview(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, admission.Request, bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return nil, admission.Request{}, false
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		http.Error(w, "Content-Type must be application/json, got "+ct, http.StatusUnsupportedMediaType)
		return nil, admission.Request{}, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return nil, admission.Request{}, false
	}
	review, req, err := DecodeReview(body)
	if err != nil && review != nil {
		// A review the API server can take an answer to, about an object bollard cannot read:
		// denied, saying why — never allowed unread.
		writeReview(w, review, &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: false,
			Result: &metav1.Status{Code: http.StatusBadRequest, Reason: metav1.StatusReasonBadRequest,
				Message: "bollard cannot read this request, denied to be safe: " + err.Error()}})
		return nil, admission.Request{}, false
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, admission.Request{}, false
	}
	return review, req, true
}

// writeReview answers with the review carrying resp instead of the request.
func writeReview(w http.ResponseWriter, review *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
	review.Request, review.Response = nil, resp
	out, err := json.Marshal(review)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

func (s *Server) pins(ctx context.Context, req admission.Request) (pins map[string]string, err error) {
	defer func() {
		if p := recover(); p != nil {
			pins, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return s.gate.Pins(ctx, req)
}

func (s *Server) decide(ctx context.Context, ar *admissionv1.AdmissionRequest, req admission.Request) (resp *admissionv1.AdmissionResponse, verdict string) {
	resp = &admissionv1.AdmissionResponse{UID: ar.UID}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error(fmt.Errorf("%v", p), "panic while deciding", "uid", ar.UID)
			resp.Allowed, resp.Result = false, &metav1.Status{Code: http.StatusInternalServerError,
				Message: fmt.Sprintf("bollard could not decide on %s %s/%s (internal error); denied to be safe", ar.Kind.Kind, ar.Namespace, ar.Name)}
			verdict = "error"
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	d, err := s.gate.Review(ctx, req)
	if err != nil {
		s.log.Error(err, "cannot decide", "kind", ar.Kind.Kind, "namespace", ar.Namespace, "name", ar.Name)
		resp.Result = &metav1.Status{Code: http.StatusInternalServerError,
			Message: fmt.Sprintf("bollard could not decide on %s %s/%s: %v; denied to be safe", ar.Kind.Kind, ar.Namespace, ar.Name, err)}
		return resp, "error"
	}
	resp.Allowed, resp.Warnings = d.Allowed, d.Warnings
	switch {
	case d.Exempt != "":
		verdict = "exempt"
	case d.Allowed:
		verdict = "allowed"
	default:
		verdict = "denied"
		resp.Result = &metav1.Status{Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
			Message: "bollard: " + strings.Join(d.Reasons, "; ")}
		if !req.DryRun {
			s.recordDenial(ctx, req.Operation, req.User.Username, req.Subject(), d.Reasons)
		}
	}
	if d.BreakGlass != nil && !req.DryRun {
		s.recordBreakGlass(ctx, ar, req.Subject(), d.BreakGlass)
	}
	if d.Rollback != nil && !req.DryRun {
		verdict = "rollback"
		s.log.Info("rollback admitted by identity", "user", d.Rollback.User, "marker", d.Rollback.Marker,
			"kind", ar.Kind.Kind, "namespace", ar.Namespace, "name", req.Object.GetName())
		obj := req.Object
		ref := objectRef(obj)
		s.event(context.WithoutCancel(ctx), ref, corev1.EventTypeWarning, "Rollback",
			fmt.Sprintf("rollback by %s (%s) admitted without re-evaluating the policies", d.Rollback.User, d.Rollback.Marker))
	}
	return resp, verdict
}

// recordBreakGlass is the audit trail of a break-glass: a Warning Event on the object and a metric.
func (s *Server) recordBreakGlass(ctx context.Context, ar *admissionv1.AdmissionRequest, obj *unstructured.Unstructured, use *admission.BreakGlassUse) {
	for _, p := range use.Policies {
		s.metrics.breakGlass.WithLabelValues(p).Inc()
	}
	s.log.Info("break-glass", "user", use.User, "reason", use.Reason, "policies", use.Policies,
		"kind", ar.Kind.Kind, "namespace", ar.Namespace, "name", obj.GetName())
	ref := objectRef(obj)
	msg := fmt.Sprintf("break-glass by %s inside a freeze (DeployPolicy %s): %s", use.User, strings.Join(use.Policies, ", "), use.Reason)
	s.event(context.WithoutCancel(ctx), ref, corev1.EventTypeWarning, "BreakGlass", msg)
	if s.notifier != nil {
		s.notifier.Notify(notify.Event{Kind: notify.BreakGlass, Summary: fmt.Sprintf("%s %s/%s: %s", ar.Kind.Kind, ar.Namespace, obj.GetName(), msg),
			Details: map[string]string{"user": use.User, "reason": use.Reason, "policies": strings.Join(use.Policies, ", "),
				"object": ar.Kind.Kind + " " + ar.Namespace + "/" + obj.GetName(), "operation": string(ar.Operation)}})
	}
}

// objectRef is what an Event about obj names.
func objectRef(obj *unstructured.Unstructured) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: obj.GetKind(), APIVersion: obj.GetAPIVersion(), Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}
}

// event creates an Event without holding up the admission response.
func (s *Server) event(ctx context.Context, ref *corev1.ObjectReference, typ, reason, message string) {
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: strings.ToLower(ref.Name) + ".", Namespace: ref.Namespace},
		InvolvedObject: *ref, Type: typ, Reason: reason, Message: message,
		Source:         corev1.EventSource{Component: "bollard-webhook"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := s.events.CoreV1().Events(ref.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			s.log.Error(err, "record event", "reason", reason, "namespace", ref.Namespace, "name", ref.Name)
		}
	}()
}

// DecodeReview parses an AdmissionReview v1 and the objects it carries. Errors say what is wrong;
// with an error about the objects it still returns the review (it has a uid to answer).
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, admission.Request, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, admission.Request{}, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		return nil, admission.Request{}, fmt.Errorf("want an admission.k8s.io/v1 AdmissionReview, got apiVersion %q kind %q", review.APIVersion, review.Kind)
	}
	ar := review.Request
	if ar == nil {
		return nil, admission.Request{}, errors.New("AdmissionReview has no request")
	}
	if ar.UID == "" {
		return nil, admission.Request{}, errors.New("AdmissionReview request has no uid")
	}
	req := admission.Request{
		Operation: string(ar.Operation), SubResource: ar.SubResource, DryRun: ar.DryRun != nil && *ar.DryRun,
		User: admission.User{Username: ar.UserInfo.Username, Groups: ar.UserInfo.Groups},
	}
	for k, v := range ar.UserInfo.Extra {
		if req.User.Extra == nil {
			req.User.Extra = map[string][]string{}
		}
		req.User.Extra[k] = v
	}
	var err error
	if req.Object, err = decodeObject(ar.Object.Raw, ar); err != nil {
		return &review, admission.Request{}, fmt.Errorf("request.object: %w", err)
	}
	if req.OldObject, err = decodeObject(ar.OldObject.Raw, ar); err != nil {
		return &review, admission.Request{}, fmt.Errorf("request.oldObject: %w", err)
	}
	if req.Object == nil && (req.Operation == "CREATE" || req.Operation == "UPDATE") && req.SubResource == "" {
		return &review, admission.Request{}, fmt.Errorf("%s request has no object", req.Operation)
	}
	return &review, req, nil
}

func decodeObject(raw []byte, ar *admissionv1.AdmissionRequest) (*unstructured.Unstructured, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var obj map[string]any
	// util/json keeps whole numbers as int64, as the API server's own decoder does.
	if err := utiljson.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetKind() == "" {
		u.SetKind(ar.Kind.Kind)
		u.SetAPIVersion(metav1.GroupVersion{Group: ar.Kind.Group, Version: ar.Kind.Version}.String())
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(ar.Namespace)
	}
	if u.GetName() == "" {
		u.SetName(ar.Name)
	}
	return u, nil
}
