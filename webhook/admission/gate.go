// Package admission is bollard's one decision function. The webhook, `bollard check` and the
// daemon's pre-flight all call Gate.Review, so they never disagree.
package admission

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/webhook/flags"
	"bollard.dev/bollard/webhook/freeze"
	"bollard.dev/bollard/webhook/riskdiff"
	"bollard.dev/bollard/webhook/schema"
	"bollard.dev/bollard/webhook/workload"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Request is one change to decide on, from an AdmissionReview or a manifest.
type Request struct {
	Operation   string // CREATE, UPDATE, DELETE, CONNECT
	SubResource string
	DryRun      bool
	User        User
	Object      *unstructured.Unstructured
	OldObject   *unstructured.Unstructured // UPDATE only
	// Now is the time windows are evaluated at; zero means the current time.
	Now time.Time
}

// Subject is the object a request is about: the one written, or for a DELETE the one deleted.
func (r Request) Subject() *unstructured.Unstructured {
	if r.Operation == "DELETE" || r.Object == nil {
		return r.OldObject
	}
	return r.Object
}

// Decision is the gate's answer.
type Decision struct {
	Allowed  bool     `json:"allowed"`
	Reasons  []string `json:"reasons,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Exempt says why nothing was evaluated (controller-made, a subresource, not a workload).
	Exempt string `json:"exempt,omitempty"`
	// BreakGlass is set when an authorised break-glass admitted a deploy inside a freeze.
	BreakGlass *BreakGlassUse `json:"breakGlass,omitempty"`
	// Rollback is set when the daemon's own rollback was admitted by its identity.
	Rollback *RollbackUse `json:"rollback,omitempty"`
	// Digests maps each image given by tag that every matching ClusterImagePolicy verified to
	// the reference pinned to the verified digest ("repo:tag@sha256:…").
	Digests map[string]string `json:"digests,omitempty"`
	// Images says, per image, what the signature gate verified (digest, policy, authority), what
	// no policy matched, or that verification is off — for the Deployment Log.
	Images []string `json:"images,omitempty"`
	// Evidence is the same, structured: digest, policy, signer and attestations per image.
	Evidence []v1alpha1.ArtifactEvidence `json:"evidence,omitempty"`
}

// BreakGlassUse is the audit record of one break-glass.
type BreakGlassUse struct {
	User     string   `json:"user"`
	Reason   string   `json:"reason"`
	Policies []string `json:"policies"`
}

// Gate evaluates requests against the DeployPolicies of a cluster with a policy Engine.
type Gate struct {
	cluster Cluster
	engine  atomic.Pointer[Engine]

	// compiled freeze windows, parsed flag documents and image policies, keyed by resourceVersion
	windows    sync.Map // policy name → compiledWindows
	flagDocs   sync.Map // namespace/name/key → parsedFlags
	imageCache sync.Map // ClusterImagePolicy name → compiledImagePolicy

	images  ImageVerifier // nil: no signature gate
	noMatch string        // allow, warn or deny: images no ClusterImagePolicy matches

	optOutUsers, optOutGroups []string // who may change the opt-out label of a namespace
	policyNamespace           string   // where ClusterImagePolicies' key Secrets must be
	rollbackUsers             []string // the daemon's identities, whose marked rollbacks pass
}

type compiledWindows struct {
	resourceVersion string
	windows         []*freeze.Window
	err             error
}

type parsedFlags struct {
	resourceVersion string
	set             *flags.Set
	err             error
}

// NewGate returns a gate over cluster that decides with engine.
func NewGate(cluster Cluster, engine *Engine, opts ...GateOption) *Gate {
	g := &Gate{cluster: cluster, noMatch: "allow"}
	for _, o := range opts {
		o(g)
	}
	g.engine.Store(engine)
	return g
}

// SetEngine swaps the policy set (after a user module changed and compiled).
func (g *Gate) SetEngine(e *Engine) { g.engine.Store(e) }

// Engine returns the policy set in use.
func (g *Gate) Engine() *Engine { return g.engine.Load() }

// Review decides one request. An error means the gate could not decide (the caller fails closed).
func (g *Gate) Review(ctx context.Context, req Request) (Decision, error) {
	if req.Object != nil && req.Object.GetKind() == "Namespace" && req.SubResource == "" {
		return g.optOut(req), nil
	}
	if req.Object != nil && req.Object.GetKind() == "ClusterImagePolicy" && req.SubResource == "" {
		return g.imagePolicy(ctx, req), nil
	}
	if req.Operation == "DELETE" {
		return g.deleteReview(ctx, req)
	}
	if why := exempt(req); why != "" {
		return Decision{Allowed: true, Exempt: why}, nil
	}
	if d, ok := g.rollback(req); ok {
		return d, nil
	}
	d, in, err := g.evaluate(ctx, req)
	if errors.Is(err, workload.ErrNoTemplate) {
		return Decision{Allowed: true, Exempt: err.Error() + ": what it runs is checked where its pod template is"}, nil
	}
	if err != nil {
		return Decision{}, err
	}
	d.Digests, d.Images = in.Images.pins(), in.Images.Summary(g.images != nil)
	d.Evidence = in.Images.Evidence(g.images != nil)
	return d, nil
}

// evaluate builds the input for req, runs the policies on it and records an authorised
// break-glass inside a freeze: the decision of a write and of a delete alike.
func (g *Gate) evaluate(ctx context.Context, req Request) (Decision, *Input, error) {
	in, frozenBy, err := g.buildInput(ctx, req)
	if err != nil {
		return Decision{}, nil, err
	}
	ectx, span := tracerOf(ctx).Start(ctx, "policy")
	deny, warn, err := g.engine.Load().Eval(ectx, in)
	span.End()
	if err != nil {
		return Decision{}, nil, err
	}
	d := Decision{Allowed: len(deny) == 0, Reasons: deny, Warnings: warn}
	if d.Allowed && in.IsDeploy && len(frozenBy) > 0 && in.BreakGlass.Authorized {
		d.BreakGlass = &BreakGlassUse{User: in.User.Username, Reason: in.BreakGlass.Reason, Policies: frozenBy}
	}
	return d, in, nil
}

// tracerOf makes the spans of a decision's concerns with the provider of the span in ctx (the
// webhook's admission span): no-ops when there is none.
func tracerOf(ctx context.Context) trace.Tracer {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer("bollard.dev/bollard/webhook/admission")
}

// ControllerKinds are the built-in controllers (by the identity the API server authenticated:
// kube-controller-manager with --use-service-account-credentials, or without it) and the kinds
// each makes from an object the gate checked already: their writes of those kinds are not checked
// again. Anyone else's are — an ownerReference is what an object claims, not who wrote it.
var ControllerKinds = map[string][]string{
	"system:serviceaccount:kube-system:replicaset-controller":  {"Pod"},
	"system:serviceaccount:kube-system:replication-controller": {"Pod"},
	"system:serviceaccount:kube-system:daemon-set-controller":  {"Pod"},
	"system:serviceaccount:kube-system:statefulset-controller": {"Pod"},
	"system:serviceaccount:kube-system:job-controller":         {"Pod"},
	"system:serviceaccount:kube-system:deployment-controller":  {"ReplicaSet"},
	"system:serviceaccount:kube-system:cronjob-controller":     {"Job"},
	"system:kube-controller-manager":                           {"Pod", "ReplicaSet", "Job"},
}

// exempt says why a request is let through unevaluated: writes that are not deploys (status and
// scale — the HPA's path; an ephemeral container is not exempt: `kubectl debug` runs an image),
// what a built-in controller makes from a checked object, and kinds that carry no pod template.
func exempt(req Request) string {
	if req.SubResource != "" && req.SubResource != "ephemeralcontainers" {
		return "subresource " + req.SubResource
	}
	if req.Operation != "CREATE" && req.Operation != "UPDATE" {
		return "operation " + req.Operation
	}
	if req.Object == nil {
		return ""
	}
	kind := req.Object.GetKind()
	if !workload.Supported(req.Object.GetAPIVersion(), kind) {
		return "kind " + kind + " carries no pod template"
	}
	if req.SubResource == "" && slices.Contains(ControllerKinds[req.User.Username], kind) {
		return fmt.Sprintf("%s made by the built-in controller %s", kind, req.User.Username)
	}
	return ""
}

func (g *Gate) buildInput(ctx context.Context, req Request) (*Input, []string, error) {
	if req.Object == nil {
		return nil, nil, fmt.Errorf("request has no object")
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	obj := req.Object
	in := &Input{
		Operation: req.Operation, Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(),
		User: req.User, Labels: orEmpty(obj.GetLabels()), Annotations: orEmpty(obj.GetAnnotations()),
		Risky:  RiskyInput{Changes: []RiskyChange{}},
		Images: ImagesInput{NoMatchPolicy: g.noMatch, Checks: []ImageCheck{}, Unmatched: []ImageRef{}},
		Errors: []string{},
	}
	// kubectl's copy of the whole object: large, and not something a policy should read.
	if _, ok := in.Annotations[lastApplied]; ok {
		in.Annotations = maps.Clone(in.Annotations)
		delete(in.Annotations, lastApplied)
	}
	if in.User.Groups == nil {
		in.User.Groups = []string{}
	}
	cur, err := workload.FromObject(obj)
	if errors.Is(err, workload.ErrNoTemplate) {
		return nil, nil, err
	}
	if err != nil {
		in.Errors = append(in.Errors, fmt.Sprintf("%s %s: %v", in.Kind, in.Name, err))
		return in, nil, nil
	}
	var old *workload.Workload
	if req.Operation == "UPDATE" && req.OldObject != nil {
		if old, err = workload.FromObject(req.OldObject); err != nil {
			in.Errors = append(in.Errors, fmt.Sprintf("old %s %s: %v", in.Kind, in.Name, err))
			return in, nil, nil
		}
	}
	in.IsDeploy = old == nil || !reflect.DeepEqual(old.Rest, cur.Rest)

	nsLabels, err := g.cluster.NamespaceLabels(ctx, in.Namespace)
	if err != nil {
		return nil, nil, err
	}
	// The namespace's environment, whatever the workload says: a label on a Deployment must not
	// take a production workload out of production's freezes and rules. Only where the namespace
	// names none does the workload's count.
	in.Environment = nsLabels[v1alpha1.LabelEnvironment]
	if in.Environment == "" {
		in.Environment = obj.GetLabels()[v1alpha1.LabelEnvironment]
	}
	all, err := g.cluster.DeployPolicies(ctx)
	if err != nil {
		return nil, nil, err
	}
	var applying []v1alpha1.DeployPolicy
	for _, p := range all {
		ok, err := scopeMatches(&p.Spec.Scope, in)
		if err != nil {
			in.Errors = append(in.Errors, fmt.Sprintf("DeployPolicy %s: %v", p.Name, err))
		} else if ok {
			applying = append(applying, p)
		}
	}
	sort.Slice(applying, func(i, j int) bool { return applying[i].Name < applying[j].Name })

	frozenBy := g.freezeInput(in, applying, now)
	if req.Operation == "DELETE" {
		// A delete changes nothing an image, flag, schema or risk rule reads: only freezes.
		g.breakGlassInput(in, cur, applying, frozenBy)
		return in, frozenBy, nil
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() { // nothing to build when not traced
		names := make([]string, 0, len(applying))
		for _, p := range applying {
			names = append(names, p.Name)
		}
		span.SetAttributes(attribute.StringSlice("bollard.deploy_policies", names), attribute.StringSlice("bollard.frozen_by", frozenBy))
	}
	// A span per concern that reads something: its share of the decision's time.
	tracer := tracerOf(ctx)
	sctx, span := tracer.Start(ctx, "flags")
	g.flagsInput(sctx, in, cur, applying, &frozenBy)
	span.End()
	g.breakGlassInput(in, cur, applying, frozenBy)
	if old != nil {
		riskyInput(in, old, cur, applying)
	}
	sctx, span = tracer.Start(ctx, "schema")
	g.schemaInput(sctx, in, cur, applying)
	span.End()
	sctx, span = tracer.Start(ctx, "signatures")
	err = g.imagesInput(sctx, in, old, cur)
	if span.IsRecording() {
		var images []string
		for _, c := range in.Images.Checks {
			images = append(images, fmt.Sprintf("%s@%s verified=%t", c.Image, c.Digest, c.Verified))
		}
		span.SetAttributes(attribute.StringSlice("bollard.images", images), attribute.Bool("bollard.images_checked", in.Images.Checked))
	}
	span.End()
	if err != nil {
		return nil, nil, err
	}
	return in, frozenBy, nil
}

func orEmpty(m map[string]string) StringMap {
	if m == nil {
		return StringMap{}
	}
	return m
}

func scopeMatches(s *v1alpha1.Scope, in *Input) (bool, error) {
	if len(s.Namespaces) > 0 && !slices.Contains(s.Namespaces, in.Namespace) {
		return false, nil
	}
	if len(s.Environments) > 0 && !slices.Contains(s.Environments, in.Environment) {
		return false, nil
	}
	if s.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(s.Selector)
		if err != nil {
			return false, fmt.Errorf("scope selector: %w", err)
		}
		if !sel.Matches(labels.Set(in.Labels)) {
			return false, nil
		}
	}
	return true, nil
}

// freezeInput fills in.Freeze and returns the policies that freeze the object now.
func (g *Gate) freezeInput(in *Input, applying []v1alpha1.DeployPolicy, now time.Time) []string {
	in.Freeze = FreezeInput{Active: []ActiveWindow{}, OutsideAllow: []AllowWindow{}}
	var frozenBy []string
	for i := range applying {
		p := &applying[i]
		if in.Operation == "DELETE" && p.Spec.Deletes == v1alpha1.DeletesAllow {
			continue
		}
		windows, err := g.compileWindows(p)
		if err != nil {
			in.Errors = append(in.Errors, fmt.Sprintf("DeployPolicy %s: %v", p.Name, err))
			continue
		}
		var allow []*freeze.Window
		allowActive, frozen := false, false
		for _, w := range windows {
			if w.Scope != nil {
				if ok, err := scopeMatches(w.Scope, in); err != nil || !ok {
					continue
				}
			}
			occ, active := w.At(now)
			switch w.Mode {
			case v1alpha1.WindowAllow:
				allow = append(allow, w)
				allowActive = allowActive || active
			default:
				if active {
					frozen = true
					in.Freeze.Active = append(in.Freeze.Active, ActiveWindow{
						Policy: p.Name, Window: w.Name, Description: occ.Describe(),
						Start: occ.Start.Format(time.RFC3339), End: occ.End.Format(time.RFC3339),
						EndsIn: freeze.Round(occ.End.Sub(now)),
					})
				}
			}
		}
		if len(allow) > 0 && !allowActive {
			frozen = true
			var next freeze.Occurrence
			for _, w := range allow {
				if occ, ok := w.Next(now); ok && (next.Window == nil || occ.Start.Before(next.Start)) {
					next = occ
				}
			}
			aw := AllowWindow{Policy: p.Name, Window: allow[0].Name, Description: "never again", StartsIn: "never"}
			if next.Window != nil {
				aw = AllowWindow{Policy: p.Name, Window: next.Window.Name, Description: next.Describe(),
					Start: next.Start.Format(time.RFC3339), StartsIn: freeze.Round(next.Start.Sub(now))}
			}
			in.Freeze.OutsideAllow = append(in.Freeze.OutsideAllow, aw)
		}
		if frozen {
			frozenBy = append(frozenBy, p.Name)
		}
	}
	return frozenBy
}

func (g *Gate) compileWindows(p *v1alpha1.DeployPolicy) ([]*freeze.Window, error) {
	if p.ResourceVersion != "" {
		if c, ok := g.windows.Load(p.Name); ok && c.(compiledWindows).resourceVersion == p.ResourceVersion {
			return c.(compiledWindows).windows, c.(compiledWindows).err
		}
	}
	var windows []*freeze.Window
	var err error
	for _, fw := range p.Spec.FreezeWindows {
		w, cerr := freeze.Compile(p.Name, fw)
		if cerr != nil {
			err = cerr
			break
		}
		windows = append(windows, w)
	}
	if p.ResourceVersion != "" {
		g.windows.Store(p.Name, compiledWindows{resourceVersion: p.ResourceVersion, windows: windows, err: err})
	}
	return windows, err
}

func (g *Gate) breakGlassInput(in *Input, cur *workload.Workload, applying []v1alpha1.DeployPolicy, frozenBy []string) {
	reason, requested := cur.Annotation(v1alpha1.AnnotationBreakGlass)
	in.BreakGlass = BreakGlassInput{Requested: requested && reason != "", Reason: reason}
	if !in.BreakGlass.Requested || len(frozenBy) == 0 {
		return
	}
	// Every policy that freezes the object must allow this user: a team's policy cannot lift a
	// company-wide freeze.
	for _, name := range frozenBy {
		i := slices.IndexFunc(applying, func(p v1alpha1.DeployPolicy) bool { return p.Name == name })
		bg := applying[i].Spec.BreakGlass
		if bg == nil || !(slices.Contains(bg.Users, in.User.Username) || slices.ContainsFunc(bg.Groups, func(g string) bool {
			return slices.Contains(in.User.Groups, g)
		})) {
			return
		}
	}
	in.BreakGlass.Authorized = true
}

func sourceName(ref v1alpha1.ConfigMapKeyRef) string {
	return fmt.Sprintf("ConfigMap %s/%s key %s", ref.Namespace, ref.Name, ref.Key)
}

// configValue reads one key of a ConfigMap a policy names.
func (g *Gate) configValue(ctx context.Context, ref v1alpha1.ConfigMapKeyRef) (string, string, error) {
	cm, err := g.cluster.ConfigMap(ctx, ref.Namespace, ref.Name)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", sourceName(ref), err)
	}
	v, ok := cm.Data[ref.Key]
	if !ok {
		return "", "", fmt.Errorf("%s: no such key", sourceName(ref))
	}
	return v, cm.ResourceVersion, nil
}

func (g *Gate) flagSet(ctx context.Context, ref v1alpha1.ConfigMapKeyRef) (*flags.Set, error) {
	doc, rv, err := g.configValue(ctx, ref)
	if err != nil {
		return nil, err
	}
	key := ref.Namespace + "/" + ref.Name + "/" + ref.Key
	if rv != "" {
		if c, ok := g.flagDocs.Load(key); ok && c.(parsedFlags).resourceVersion == rv {
			return c.(parsedFlags).set, c.(parsedFlags).err
		}
	}
	set, err := flags.Parse([]byte(doc))
	if err != nil {
		err = fmt.Errorf("%s: %w", sourceName(ref), err)
	}
	if rv != "" {
		g.flagDocs.Store(key, parsedFlags{resourceVersion: rv, set: set, err: err})
	}
	return set, err
}

func (g *Gate) flagsInput(ctx context.Context, in *Input, cur *workload.Workload, applying []v1alpha1.DeployPolicy, frozenBy *[]string) {
	in.Flags = FlagsInput{Mismatches: []FlagMismatch{}, FreezeSwitches: []FreezeSwitch{}}
	var reqs []flags.Requirement
	if text, ok := cur.Annotation(v1alpha1.AnnotationRequiresFlags); ok {
		var err error
		if reqs, err = flags.ParseRequirements(text); err != nil {
			in.Errors = append(in.Errors, fmt.Sprintf("%s: %v", v1alpha1.AnnotationRequiresFlags, err))
		}
	}
	sourced := false
	for _, p := range applying {
		if p.Spec.Flags == nil {
			continue
		}
		sourced = true
		src := p.Spec.Flags.Source
		set, err := g.flagSet(ctx, src)
		if err != nil {
			in.Errors = append(in.Errors, fmt.Sprintf("DeployPolicy %s: flag source %v", p.Name, err))
			continue
		}
		for _, m := range set.Check(reqs) {
			in.Flags.Mismatches = append(in.Flags.Mismatches, FlagMismatch{Policy: p.Name, Source: sourceName(src), Flag: m.Flag, Want: m.Want, Have: m.Have})
		}
		if f := p.Spec.Flags.FreezeFlag; f != "" {
			state, ok := set.State(f)
			if !ok {
				in.Errors = append(in.Errors, fmt.Sprintf("DeployPolicy %s: freeze flag %s is not defined in %s", p.Name, f, sourceName(src)))
			} else if state == "on" {
				in.Flags.FreezeSwitches = append(in.Flags.FreezeSwitches, FreezeSwitch{Policy: p.Name, Source: sourceName(src), Flag: f})
				if !slices.Contains(*frozenBy, p.Name) {
					*frozenBy = append(*frozenBy, p.Name)
				}
			}
		}
	}
	if len(reqs) > 0 && !sourced {
		in.Errors = append(in.Errors, fmt.Sprintf("%s %s requires feature flags, but no DeployPolicy that applies to it names a flag source", in.Kind, in.Name))
	}
}

func riskyInput(in *Input, old, cur *workload.Workload, applying []v1alpha1.DeployPolicy) {
	in.Risky = RiskyInput{Changes: []RiskyChange{}}
	opts := riskdiff.Options{}
	actions := map[v1alpha1.ChangeClass]v1alpha1.Action{}
	considered := false
	for _, p := range applying {
		rc := p.Spec.RiskyChanges
		if rc == nil {
			continue
		}
		considered = true
		if rc.ResourceChangePercent != nil && (opts.ResourceChangePercent == 0 || int(*rc.ResourceChangePercent) < opts.ResourceChangePercent) {
			opts.ResourceChangePercent = max(int(*rc.ResourceChangePercent), 1)
		}
		for _, pattern := range rc.DatabaseEnvNames {
			re, err := regexp.Compile(pattern)
			if err != nil {
				in.Errors = append(in.Errors, fmt.Sprintf("DeployPolicy %s: databaseEnvNames %q: %v", p.Name, pattern, err))
				continue
			}
			opts.DatabaseEnvNames = append(opts.DatabaseEnvNames, re)
		}
		for _, r := range rc.Rules {
			if r.Action == v1alpha1.ActionDeny || actions[r.Class] == "" {
				actions[r.Class] = r.Action
			}
		}
	}
	if !considered {
		return
	}
	for _, c := range riskdiff.Classify(old, cur, opts) {
		action := actions[c.Class]
		if action == "" {
			action = v1alpha1.ActionWarn
		}
		in.Risky.Changes = append(in.Risky.Changes, RiskyChange{Class: string(c.Class), Path: c.Path, Detail: c.Detail, Action: string(action)})
	}
	approval, _ := cur.Annotation(v1alpha1.AnnotationApprovedChange)
	previous, _ := old.Annotation(v1alpha1.AnnotationApprovedChange)
	in.Risky.Approval = approval
	// An approval names one change: the ticket left on the object from the last one does not
	// approve the next.
	in.Risky.ApprovalReused = approval != "" && approval == previous
}

func (g *Gate) schemaInput(ctx context.Context, in *Input, cur *workload.Workload, applying []v1alpha1.DeployPolicy) {
	required, ok := cur.Annotation(v1alpha1.AnnotationSchemaVersion)
	if !ok {
		return
	}
	i := slices.IndexFunc(applying, func(p v1alpha1.DeployPolicy) bool { return p.Spec.Schema != nil })
	if i < 0 {
		in.Errors = append(in.Errors, fmt.Sprintf("%s %s needs database schema %s, but no DeployPolicy that applies to it says where the applied version is recorded", in.Kind, in.Name, required))
		return
	}
	p := applying[i]
	src := p.Spec.Schema.Source
	applied, _, err := g.configValue(ctx, src)
	if err != nil {
		in.Errors = append(in.Errors, fmt.Sprintf("DeployPolicy %s: schema source %v", p.Name, err))
		return
	}
	ok, err = schema.Satisfied(required, applied)
	if err != nil {
		in.Errors = append(in.Errors, fmt.Sprintf("%s %s: %s vs %s: %v", in.Kind, in.Name, v1alpha1.AnnotationSchemaVersion, sourceName(src), err))
		return
	}
	in.Schema = &SchemaInput{Policy: p.Name, Source: sourceName(src), Required: required, Applied: applied, Satisfied: ok}
}
