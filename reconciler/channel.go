package reconciler

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/channel"
	"bollard.dev/bollard/channel/codesign"
	"bollard.dev/bollard/channel/play"
	"bollard.dev/bollard/reconciler/source"
	"bollard.dev/bollard/webhook/admission"
)

// ChannelReconciler is the step engine of ChannelReleases: pre-flight (the gate's decision on
// the artifact, as on an image), submit, the store's review, then each step held under the SLO
// guard; a breach halts (the red button) and, where the channel can, rolls back. Every
// transition is persisted in status before the next call to the channel, so a restarted daemon
// resumes at the step it stood at; provider calls are idempotent, so one whose outcome a crash
// left unknown is repeated.
type ChannelReconciler struct {
	// Releases lends its client, gate, identities, egress guard and events.
	Releases *Reconciler
	// Provider builds the channel of a ChannelRelease; client reads as its ServiceAccount.
	Provider func(ctx context.Context, c client.Client, cr *v1alpha1.ChannelRelease) (channel.Provider, error)
	// Pull fetches the artifact (pinned) into dir with keychain's credentials: its files by title.
	Pull func(ctx context.Context, ref, dir string, keychain authn.Keychain) (map[string]string, error)
	// ArtifactDir keeps pulled artifacts ("" a temporary directory).
	ArtifactDir string
	Log         logr.Logger
	Recorder    events.EventRecorder
}

// SetupWithManager registers the controller: spec changes and requests (annotations).
func (c *ChannelReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ChannelRelease{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Named("channelrelease").
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true), MaxConcurrentReconciles: 4}).
		Complete(c)
}

// Reconcile takes one ChannelRelease one transition further.
func (c *ChannelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cr v1alpha1.ChannelRelease
	// Uncached: the step this daemon persisted last, not a cache that has not caught up.
	if err := c.Releases.reader().Get(ctx, req.NamespacedName, &cr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	log := c.Log.WithValues("channelrelease", req.String())
	// One transition: a store that does not answer is retried, never waited on for ever.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if cr.Status.ObservedGeneration != cr.Generation { // a new spec: a new change, from the start
		if live(cr.Status.Phase) && cr.Status.Submitted && cr.Status.Version != cr.Spec.Artifact.Version {
			// The version being rolled out is halted first: a new spec (even one pre-flight will
			// refuse) never leaves it live without its guard.
			if err := c.supersede(ctx, &cr, log); err != nil {
				return ctrl.Result{RequeueAfter: 5 * time.Second}, err
			}
		}
		rec := v1alpha1.DeploymentLog{ID: nextLogID(cr.Status.History), Started: metav1.Now(), Trigger: "spec", Revision: cr.Spec.Artifact.Version,
			Target: describeChannel(&cr), Namespace: cr.Namespace, Environment: cr.Labels[v1alpha1.LabelEnvironment], Strategy: describeSteps(&cr), Status: v1alpha1.LogVerifying}
		err := c.update(ctx, &cr, func(s *v1alpha1.ChannelReleaseStatus) {
			history := append(s.History, rec)
			*s = v1alpha1.ChannelReleaseStatus{ObservedGeneration: cr.Generation, Phase: "", LastRequest: s.LastRequest, History: history[max(0, len(history)-historyLimit):]}
		})
		return ctrl.Result{RequeueAfter: time.Millisecond}, err
	}
	if r := cr.Annotations[v1alpha1.AnnotationChannelRequest]; r != "" && r != cr.Status.LastRequest {
		return c.request(ctx, &cr, r, log)
	}
	switch cr.Status.Phase {
	case "":
		return c.preflight(ctx, &cr, log)
	case v1alpha1.ChannelSubmitting:
		return c.submit(ctx, &cr, log)
	case v1alpha1.ChannelInReview:
		return c.review(ctx, &cr)
	case v1alpha1.ChannelRolling, v1alpha1.ChannelPaused:
		return c.hold(ctx, &cr, log)
	case v1alpha1.ChannelHalting:
		return c.halting(ctx, &cr, log)
	}
	return ctrl.Result{}, nil // Refused, Rejected, Halted, RolledBack, Completed, Failed: a person decides
}

// preflight runs the gate's decision on the ChannelRelease as the webhook sees it created: the
// artifact's signature and attestations (ClusterImagePolicies), freeze windows, break-glass and
// flags (DeployPolicies).
func (c *ChannelReconciler) preflight(ctx context.Context, cr *v1alpha1.ChannelRelease, log logr.Logger) (ctrl.Result, error) {
	r := c.Releases
	if r.Gate == nil {
		return c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, "the daemon runs without the gate: a channel release is never shipped unchecked",
			v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.ResultFail, Detail: "no gate"})
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cr)
	if err != nil {
		return ctrl.Result{}, err
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion(v1alpha1.GroupVersion.String())
	obj.SetKind("ChannelRelease")
	d, err := r.Gate.Review(ctx, admission.Request{Operation: "CREATE", User: r.writer(asRelease(cr)), Object: obj})
	if err != nil {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, fmt.Errorf("pre-flight: %w", err)
	}
	detail := "artifact checked (signature, attestations, freeze, flags)"
	if !r.Gate.VerifiesImages() {
		detail = "artifact checked (freeze, flags); signature NOT verified: verification is off"
	}
	if len(d.Images) > 0 {
		detail += "; " + strings.Join(d.Images, "; ")
	}
	if !d.Allowed {
		why := strings.Join(d.Reasons, "; ")
		log.Info("refused by pre-flight", "reason", why)
		return c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, "pre-flight: "+why,
			v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.ResultFail, Detail: why})
	}
	step := v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.ResultOK, Detail: detail}
	if !r.Gate.VerifiesImages() {
		step.Result = v1alpha1.ResultWarn
	}
	if len(d.Warnings) > 0 {
		step.Result, step.Detail = v1alpha1.ResultWarn, detail+": "+strings.Join(d.Warnings, "; ")
		c.event(cr, corev1.EventTypeWarning, "PreflightWarning", "%s", strings.Join(d.Warnings, "; "))
	}
	pinned := cmp.Or(d.Digests[cr.Spec.Artifact.Ref], cr.Spec.Artifact.Ref)
	if !strings.Contains(pinned, "@sha256:") {
		return c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, "the artifact "+cr.Spec.Artifact.Ref+" is not pinned by digest and no policy verified one",
			v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.ResultFail, Detail: "no digest for " + cr.Spec.Artifact.Ref})
	}
	return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase, s.Artifact, s.Message = v1alpha1.ChannelSubmitting, pinned, "pre-flight passed"
		logOf(s).Gates = append(logOf(s).Gates, step)
		logOf(s).Artifacts = []string{pinned}
		logOf(s).Evidence = d.Evidence
	})
}

// submit pulls the verified artifact and hands it to the channel at the first step.
func (c *ChannelReconciler) submit(ctx context.Context, cr *v1alpha1.ChannelRelease, log logr.Logger) (ctrl.Result, error) {
	p, err := c.provider(ctx, cr)
	if err != nil { // a Secret not there yet, a feed not initialised: said, and retried
		return ctrl.Result{RequeueAfter: 30 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) { s.Message = "channel: " + redactErr(err) })
	}
	dir, err := os.MkdirTemp(c.ArtifactDir, "bollard-artifact-")
	if err != nil {
		return ctrl.Result{}, err
	}
	defer os.RemoveAll(dir)
	t0 := time.Now()
	keychain, err := c.pullKeychain(ctx, cr)
	if err != nil {
		return ctrl.Result{RequeueAfter: 30 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.Message = "pulling the artifact: " + redactErr(err)
		})
	}
	files, err := c.Pull(ctx, cr.Status.Artifact, dir, keychain)
	if err != nil {
		log.Error(err, "pulling the artifact")
		return ctrl.Result{RequeueAfter: 10 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.Message = "pulling the artifact: " + redactErr(err)
		})
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	if cr.Spec.Target.Type == v1alpha1.ChannelGooglePlay && files["bundle"] == "" {
		for title, path := range files { // Play takes one Android App Bundle
			if strings.HasSuffix(title, ".aab") {
				if files["bundle"] != "" {
					return c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, "the artifact holds more than one .aab", v1alpha1.LogStep{Name: "submit", Result: v1alpha1.ResultFail, Detail: "more than one .aab"})
				}
				files["bundle"] = path
			}
		}
	}
	if v := cr.Spec.Verify; v != nil && len(v.AndroidUploadCertSHA256) > 0 {
		if files["bundle"] == "" {
			return c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, "spec.verify.androidUploadCertSHA256: the artifact has no .aab",
				v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.ResultFail, Detail: "upload key: no .aab in the artifact"})
		}
		res, err := codesign.AndroidUploadKey(files["bundle"], v.AndroidUploadCertSHA256)
		if err != nil { // nothing is submitted
			why := "upload key: " + err.Error()
			why = strings.ReplaceAll(why, dir+string(os.PathSeparator), "")
			return c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, why, v1alpha1.LogStep{Name: "pre-flight", Result: v1alpha1.ResultFail, Detail: why})
		}
		if err := c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			if slices.ContainsFunc(logOf(s).Gates, func(g v1alpha1.LogStep) bool { return g.Name == "upload key" }) {
				return // a retried submit
			}
			logOf(s).Gates = append(logOf(s).Gates, v1alpha1.LogStep{Name: "upload key", Result: v1alpha1.ResultOK,
				Detail: fmt.Sprintf("JAR signature verified, every entry signed; signer %s, SHA-256 %s (pinned)", res.Signer, res.CertSHA256)})
		}); err != nil {
			return ctrl.Result{}, err
		}
	}
	first := int(cr.StepPercents()[0])
	a := channel.Artifact{Version: cr.Spec.Artifact.Version, VersionCode: cr.Spec.Artifact.VersionCode, Files: files}
	if g := cr.Spec.Target.GooglePlay; g != nil {
		a.ReleaseNotes = g.ReleaseNotes
		if g.Metadata != nil {
			if res, stop, err := c.storeMetadata(ctx, cr, g.Metadata, &a); stop || err != nil {
				return res, err
			}
		}
	}
	// Submitted (and so haltable) from here on, whatever the answer: a submit whose answer was
	// lost may have gone through. Submit is idempotent; it is retried until it says.
	if !cr.Status.Submitted {
		if err := c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.Submitted, s.Version, s.VersionCode, s.Percent = true, a.Version, a.VersionCode, int32(first)
		}); err != nil {
			return ctrl.Result{}, err
		}
	}
	ref, err := p.Submit(ctx, a, first)
	if err != nil {
		log.Error(err, "submit")
		return ctrl.Result{RequeueAfter: 30 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) { s.Message = "submit (retried): " + redactErr(err) })
	}
	c.event(cr, corev1.EventTypeNormal, "Submitted", "%s %s submitted to %s at %d%%", ref.Version, strings.Join(names, ", "), describeChannel(cr), first)
	return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase, s.Step, s.Message = v1alpha1.ChannelInReview, 0, "submitted"
		logOf(s).Steps = append(logOf(s).Steps, v1alpha1.LogStep{Name: "submit", Result: v1alpha1.ResultOK,
			Detail: fmt.Sprintf("%s (%s) at %d%%", ref.Version, strings.Join(names, ", "), first), DurationMillis: time.Since(t0).Milliseconds()})
	})
}

// storeMetadata reads the store listing and release notes from git (fastlane supply's layout)
// into a, at the commit a first submit pinned in status. Texts Play would refuse end the release
// as Refused, naming the file, before anything is sent; a fetch that fails is said and retried.
// stop: the submit goes no further this time (refused, or retried later).
func (c *ChannelReconciler) storeMetadata(ctx context.Context, cr *v1alpha1.ChannelRelease, src *v1alpha1.GitSource, a *channel.Artifact) (_ ctrl.Result, stop bool, _ error) {
	r := c.Releases
	rel := asRelease(cr)
	rel.Spec.Source = *src
	dir := cmp.Or(strings.Trim(src.Path, "/"), play.DefaultMetadataPath)
	retry := func(err error) (ctrl.Result, bool, error) {
		return ctrl.Result{RequeueAfter: 30 * time.Second}, true, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.Message = "store metadata (retried): " + redactErr(err)
		})
	}
	creds, err := r.credentials(ctx, rel)
	if err != nil {
		return retry(err)
	}
	fctx, cancel := context.WithTimeout(ctx, r.fetchTimeout())
	commit, files, err := r.Git.Fetch(fctx, src.URL, cmp.Or(cr.Status.MetadataCommit, src.Ref), dir, creds)
	cancel()
	if err != nil {
		return retry(err)
	}
	fsys := fstest.MapFS{}
	for name, data := range files.Under(dir) {
		fsys[name] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	where := source.Redact(src.URL) + "@" + commit.Hash + ":" + dir
	notes, listings, err := play.Metadata(fsys, where, a.VersionCode)
	if err != nil {
		res, err := c.end(ctx, cr, v1alpha1.ChannelRefused, v1alpha1.LogRefused, "store metadata: "+err.Error(),
			v1alpha1.LogStep{Name: "store metadata", Result: v1alpha1.ResultFail, Detail: err.Error()})
		return res, true, err
	}
	if len(notes) > 0 {
		a.ReleaseNotes = maps.Clone(a.ReleaseNotes)
		if a.ReleaseNotes == nil {
			a.ReleaseNotes = map[string]string{}
		}
		maps.Copy(a.ReleaseNotes, notes)
	}
	a.Listings = listings
	if cr.Status.MetadataCommit == commit.Hash {
		return ctrl.Result{}, false, nil // a retried submit: pinned and logged already
	}
	detail := fmt.Sprintf("%s: store listing %s; release notes %s", where, locales(listings), locales(notes))
	return ctrl.Result{}, false, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.MetadataCommit = commit.Hash
		logOf(s).Gates = append(logOf(s).Gates, v1alpha1.LogStep{Name: "store metadata", Result: v1alpha1.ResultOK, Detail: detail})
	})
}

func locales[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// review waits for the store's review; a channel without one goes on at once.
func (c *ChannelReconciler) review(ctx context.Context, cr *v1alpha1.ChannelRelease) (ctrl.Result, error) {
	p, err := c.provider(ctx, cr)
	if err != nil {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, err
	}
	state, why, err := p.Review(ctx, ref(cr))
	if err != nil {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) { s.Message = "review: " + redactErr(err) })
	}
	switch state {
	case channel.InReview:
		return ctrl.Result{RequeueAfter: guardInterval(cr)}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.StoreState, s.Message = string(state), "waiting for the store's review"
		})
	case channel.Rejected:
		return c.end(ctx, cr, v1alpha1.ChannelRejected, v1alpha1.LogRefused, "the store rejected "+cr.Spec.Artifact.Version+": "+why,
			v1alpha1.LogStep{Name: "store review", Result: v1alpha1.ResultFail, Detail: cmp.Or(why, string(state))})
	case channel.Approved, channel.NotReviewed:
	default:
		return ctrl.Result{RequeueAfter: guardInterval(cr)}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.StoreState, s.Message = string(state), fmt.Sprintf("waiting: the store's review says %q", state)
		})
	}
	now := metav1.Now()
	return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase, s.StoreState, s.StepStartedAt, s.Message = v1alpha1.ChannelRolling, string(state), &now, fmt.Sprintf("step %d%%: held under the SLO guard", s.Percent)
		if state == channel.Approved {
			logOf(s).Steps = append(logOf(s).Steps, v1alpha1.LogStep{Name: "store review", Result: v1alpha1.ResultOK, Detail: string(state)})
		}
	})
}

// hold evaluates the SLO guard of the step the release stands at; once it held, the next step
// (or completion); a breach presses the red button.
func (c *ChannelReconciler) hold(ctx context.Context, cr *v1alpha1.ChannelRelease, log logr.Logger) (ctrl.Result, error) {
	now := time.Now()
	started := now
	if cr.Status.StepStartedAt != nil {
		started = cr.Status.StepStartedAt.Time
	}
	a := cr.Spec.Analysis
	stepName := fmt.Sprintf("step %d%%", cr.Status.Percent)
	guard := v1alpha1.LogStep{Name: stepName, Result: v1alpha1.ResultOK, Detail: cmp.Or(cr.Status.Achieved, fmt.Sprintf("offered to %d%%", cr.Status.Percent)) + "; no SLO guard (spec.analysis)"}
	if a != nil && len(a.Metrics) > 0 {
		v := c.Releases.guard(ctx, a, cr.Spec.Artifact.Version, started.Add(dur(a.InitialDelay, 0)), cr.Status.Phase == v1alpha1.ChannelPaused, guardInterval(cr), now)
		switch v.state {
		case guardDelayed:
			return ctrl.Result{RequeueAfter: v.wait}, nil
		case guardBreached:
			return c.breach(ctx, cr, stepName, v.why, log)
		case guardPaused: // the hold starts again once data is back
			t := metav1.NewTime(now)
			return ctrl.Result{RequeueAfter: v.wait}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
				s.Phase, s.StepStartedAt, s.Message = v1alpha1.ChannelPaused, &t, fmt.Sprintf("%s: paused: %s (onNoData: pause)", stepName, v.values)
			})
		case guardResumed:
			t := metav1.NewTime(now)
			return ctrl.Result{RequeueAfter: v.wait}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
				s.Phase, s.StepStartedAt, s.Message = v1alpha1.ChannelRolling, &t, fmt.Sprintf("%s: SLO guard 0/%.0f s: %s (data again)", stepName, v.hold.Seconds(), v.values)
			})
		case guardHolding:
			msg := fmt.Sprintf("%s: SLO guard %.0f/%.0f s: %s", stepName, v.elapsed.Seconds(), v.hold.Seconds(), v.values)
			if msg == cr.Status.Message {
				return ctrl.Result{RequeueAfter: v.wait}, nil
			}
			return ctrl.Result{RequeueAfter: v.wait}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) { s.Message = msg })
		}
		guard = v1alpha1.LogStep{Name: stepName, Result: v1alpha1.ResultOK, Detail: fmt.Sprintf("%s; SLO guard (%s): %s: PASS", cmp.Or(cr.Status.Achieved, fmt.Sprintf("offered to %d%%", cr.Status.Percent)), v.hold, v.values), DurationMillis: v.elapsed.Milliseconds()}
	}
	p, err := c.provider(ctx, cr)
	if err != nil {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, err
	}
	steps := cr.StepPercents()
	next := slices.IndexFunc(steps, func(s int32) bool { return s > cr.Status.Percent })
	if next < 0 { // the last step held
		if err := p.Complete(ctx, ref(cr)); err != nil {
			return ctrl.Result{RequeueAfter: 10 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) { s.Message = "complete: " + redactErr(err) })
		}
		return c.end(ctx, cr, v1alpha1.ChannelCompleted, v1alpha1.LogSuccess, fmt.Sprintf("%s offered to everyone", cr.Spec.Artifact.Version), guard)
	}
	pct := steps[next]
	achieved, err := p.SetPercent(ctx, ref(cr), int(pct))
	if err != nil {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.Message = fmt.Sprintf("step %d%%: %s", pct, redactErr(err))
		})
	}
	t := metav1.Now()
	return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase, s.Step, s.Percent, s.StepStartedAt, s.Achieved = v1alpha1.ChannelRolling, int32(next), pct, &t, achieved
		s.Message = fmt.Sprintf("step %d%%: %s; held under the SLO guard", pct, achieved)
		logOf(s).Steps = append(logOf(s).Steps, guard)
	})
}

// breach is the red button: the breach is persisted (Halting) before the channel is told, so
// no later reconcile steps on; halting does the rest.
func (c *ChannelReconciler) breach(ctx context.Context, cr *v1alpha1.ChannelRelease, stepName, why string, log logr.Logger) (ctrl.Result, error) {
	log.Info("SLO breach: halting", "step", stepName, "why", why)
	return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase, s.Message = v1alpha1.ChannelHalting, fmt.Sprintf("%s: SLO breach (%s): halting", stepName, why)
		logOf(s).Steps = append(logOf(s).Steps, v1alpha1.LogStep{Name: stepName + " SLO guard", Result: v1alpha1.ResultFail, Detail: why})
	})
}

// halting halts the channel (retried until it does) and, where the channel can and the spec
// asks, rolls back.
func (c *ChannelReconciler) halting(ctx context.Context, cr *v1alpha1.ChannelRelease, log logr.Logger) (ctrl.Result, error) {
	why := strings.TrimSuffix(cr.Status.Message, ": halting")
	p, err := c.provider(ctx, cr)
	var meaning string
	if err == nil {
		meaning, err = p.Halt(ctx, ref(cr))
	}
	if err != nil {
		c.event(cr, corev1.EventTypeWarning, "HaltFailed", "%s; the halt failed: %s (retrying)", why, redactErr(err))
		log.Error(err, "halt failed, retrying")
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	steps := []v1alpha1.LogStep{{Name: "halt", Result: v1alpha1.ResultOK, Detail: meaning}}
	c.event(cr, corev1.EventTypeWarning, "Halted", "%s: %s", why, meaning)
	if rb, ok := p.(channel.RollerBack); ok && cr.RollingBack() {
		said, err := rb.Rollback(ctx, ref(cr))
		if err == nil {
			steps = append(steps, v1alpha1.LogStep{Name: "rollback", Result: v1alpha1.ResultOK, Detail: said})
			return c.end(ctx, cr, v1alpha1.ChannelRolledBack, v1alpha1.LogRolledBack, why+": halted and rolled back", steps...)
		}
		steps = append(steps, v1alpha1.LogStep{Name: "rollback", Result: v1alpha1.ResultFail, Detail: redactErr(err) + " (halted: nobody new is offered the version)"})
	}
	return c.end(ctx, cr, v1alpha1.ChannelHalted, v1alpha1.LogHalted, why+": halted", steps...)
}

// supersede halts the version a new spec replaces while its rollout is live, closing its log.
func (c *ChannelReconciler) supersede(ctx context.Context, cr *v1alpha1.ChannelRelease, log logr.Logger) error {
	p, err := c.provider(ctx, cr)
	var meaning string
	if err == nil {
		meaning, err = p.Halt(ctx, ref(cr))
	}
	if err != nil {
		log.Error(err, "halting the superseded version", "version", cr.Status.Version)
		return c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.Message = fmt.Sprintf("halting %s, which the new spec replaces, first: %s — retrying", s.Version, redactErr(err))
		})
	}
	c.event(cr, corev1.EventTypeWarning, "Halted", "%s superseded by %s: %s", cr.Status.Version, cr.Spec.Artifact.Version, meaning)
	return c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase = v1alpha1.ChannelHalted
		rec := logOf(s)
		rec.Steps = append(rec.Steps, v1alpha1.LogStep{Name: "halt (superseded by " + cr.Spec.Artifact.Version + ")", Result: v1alpha1.ResultOK, Detail: meaning})
		rec.Status, rec.Finished = v1alpha1.LogHalted, metav1.Now()
	})
}

// live: the submitted version is (or may be) offered and moving.
func live(p v1alpha1.ChannelPhase) bool {
	switch p {
	case v1alpha1.ChannelSubmitting, v1alpha1.ChannelInReview, v1alpha1.ChannelRolling, v1alpha1.ChannelPaused, v1alpha1.ChannelHalting:
		return true
	}
	return false
}

// request acts on bollard.dev/channel-request: halt, resume[:PERCENT], complete.
func (c *ChannelReconciler) request(ctx context.Context, cr *v1alpha1.ChannelRelease, req string, log logr.Logger) (ctrl.Result, error) {
	verb, _, _ := strings.Cut(req, "@")
	verb, arg, _ := strings.Cut(verb, ":")
	done := func(phase v1alpha1.ChannelPhase, msg string, step v1alpha1.LogStep) (ctrl.Result, error) {
		return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.LastRequest, s.Message = req, msg
			if phase != "" {
				s.Phase = phase
			}
			if step.Name != "" {
				logOf(s).Steps = append(logOf(s).Steps, step)
			}
		})
	}
	if !cr.Status.Submitted && verb != "halt" {
		return done("", fmt.Sprintf("request %q not done: nothing was submitted yet", verb), v1alpha1.LogStep{})
	}
	p, err := c.provider(ctx, cr)
	if err != nil {
		return ctrl.Result{RequeueAfter: 10 * time.Second}, err
	}
	log.Info("request", "request", req)
	switch verb {
	case "halt":
		meaning, err := p.Halt(ctx, ref(cr))
		if err != nil && !cr.Status.Submitted { // nothing of this version was offered
			return done("", "halt: nothing submitted to halt ("+redactErr(err)+")", v1alpha1.LogStep{})
		}
		if err != nil { // the red button is retried until the channel says it is halted
			return ctrl.Result{RequeueAfter: 5 * time.Second}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) { s.Message = "halt: " + redactErr(err) + " — retrying" })
		}
		c.event(cr, corev1.EventTypeWarning, "Halted", "halted on request: %s", meaning)
		res, err := done(v1alpha1.ChannelHalted, "halted on request", v1alpha1.LogStep{Name: "halt (requested)", Result: v1alpha1.ResultOK, Detail: meaning})
		if err == nil {
			err = c.finish(ctx, cr, v1alpha1.LogHalted)
		}
		return res, err
	case "resume":
		pct := cr.Status.Percent
		if arg != "" {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 || n > 100 {
				return done("", fmt.Sprintf("request %q: want resume or resume:PERCENT (1–100)", req), v1alpha1.LogStep{})
			}
			pct = int32(n)
		}
		if err := p.Resume(ctx, ref(cr), int(pct)); err != nil { // a person asks again
			return done("", "resume not done: "+redactErr(err), v1alpha1.LogStep{})
		}
		now := metav1.Now()
		rec := v1alpha1.DeploymentLog{ID: nextLogID(cr.Status.History), Started: now, Trigger: "resume", Revision: cr.Spec.Artifact.Version, Target: describeChannel(cr),
			Namespace: cr.Namespace, Environment: cr.Labels[v1alpha1.LabelEnvironment], Strategy: describeSteps(cr), Artifacts: []string{cr.Status.Artifact}, Status: v1alpha1.LogVerifying,
			Steps: []v1alpha1.LogStep{{Name: "resume (requested)", Result: v1alpha1.ResultOK, Detail: fmt.Sprintf("offered to %d%% again", pct)}}}
		return ctrl.Result{RequeueAfter: time.Millisecond}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
			s.LastRequest, s.Phase, s.Percent, s.StepStartedAt, s.Achieved = req, v1alpha1.ChannelRolling, pct, &now, ""
			s.Message = fmt.Sprintf("resumed at %d%%", pct)
			s.History = append(s.History, rec)
			s.History = s.History[max(0, len(s.History)-historyLimit):]
		})
	case "complete":
		if err := p.Complete(ctx, ref(cr)); err != nil { // a person asks again
			return done("", "complete not done: "+redactErr(err), v1alpha1.LogStep{})
		}
		res, err := done(v1alpha1.ChannelCompleted, "completed on request", v1alpha1.LogStep{Name: "complete (requested)", Result: v1alpha1.ResultOK, Detail: "offered to everyone"})
		if err == nil {
			err = c.finish(ctx, cr, v1alpha1.LogSuccess)
		}
		return res, err
	}
	return done("", fmt.Sprintf("unknown request %q: want halt, resume[:PERCENT] or complete", req), v1alpha1.LogStep{})
}

// end records how the change ended.
func (c *ChannelReconciler) end(ctx context.Context, cr *v1alpha1.ChannelRelease, phase v1alpha1.ChannelPhase, status v1alpha1.LogStatus, msg string, steps ...v1alpha1.LogStep) (ctrl.Result, error) {
	typ := corev1.EventTypeNormal
	if status != v1alpha1.LogSuccess {
		typ = corev1.EventTypeWarning
	}
	c.event(cr, typ, string(phase), "%s", msg)
	return ctrl.Result{}, c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		s.Phase, s.Message = phase, msg
		rec := logOf(s)
		for _, st := range steps {
			if st.Name == "pre-flight" {
				rec.Gates = append(rec.Gates, st)
			} else {
				rec.Steps = append(rec.Steps, st)
			}
		}
		rec.Status, rec.Finished = status, metav1.Now()
	})
}

// finish closes the log under way with status.
func (c *ChannelReconciler) finish(ctx context.Context, cr *v1alpha1.ChannelRelease, status v1alpha1.LogStatus) error {
	return c.update(ctx, cr, func(s *v1alpha1.ChannelReleaseStatus) {
		logOf(s).Status, logOf(s).Finished = status, metav1.Now()
	})
}

// update writes status (retrying conflicts on a fresh read): every transition is persisted
// before the next call to the channel.
func (c *ChannelReconciler) update(ctx context.Context, cr *v1alpha1.ChannelRelease, change func(*v1alpha1.ChannelReleaseStatus)) error {
	for attempt := 0; ; attempt++ {
		before := logsByID(cr.Status.DeepCopy().History)
		change(&cr.Status)
		c.record(ctx, cr, before)
		err := c.Releases.Client.Status().Update(ctx, cr)
		if !apierrors.IsConflict(err) || attempt == 3 {
			return err
		}
		if err := c.Releases.reader().Get(ctx, client.ObjectKeyFromObject(cr), cr); err != nil {
			return err
		}
	}
}

// record keeps every finished Deployment Log of cr as a DeploymentRecord — the durable trail
// status (its last historyLimit logs) is not — written before the status that points past it
// (status.lastRecordID), and again when a finished log changed since (a halt confirmed); the
// oldest beyond the default retention are deleted. A record that could not be written is
// retried at the next status write.
func (c *ChannelReconciler) record(ctx context.Context, cr *v1alpha1.ChannelRelease, before map[int64]v1alpha1.DeploymentLog) {
	r := c.Releases
	owner := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: cr.Namespace, Name: cr.Name, UID: cr.UID}}
	for _, l := range cr.Status.History { // oldest first
		if !finished(l) {
			continue
		}
		if prev, ok := before[l.ID]; l.ID <= cr.Status.LastRecordID && ok && equality.Semantic.DeepEqual(prev, l) {
			continue
		}
		if err := r.writeRecordOf(ctx, owner, "ChannelRelease", l); err != nil {
			r.Log.Error(err, "Deployment Log not kept as a DeploymentRecord (retried at the next status write)", "channelRelease", cr.Namespace+"/"+cr.Name, "id", l.ID)
			return
		}
		if l.ID > cr.Status.LastRecordID {
			cr.Status.LastRecordID = l.ID
			r.prune(ctx, owner, l.ID)
		}
	}
}

func (c *ChannelReconciler) provider(ctx context.Context, cr *v1alpha1.ChannelRelease) (channel.Provider, error) {
	cl, err := c.Releases.clientFor(asRelease(cr))
	if err != nil {
		return nil, err
	}
	return c.Provider(ctx, cl, cr)
}

func (c *ChannelReconciler) event(cr *v1alpha1.ChannelRelease, typ, reason, format string, args ...any) {
	if c.Recorder != nil {
		c.Recorder.Eventf(cr, nil, typ, reason, reason, format, args...)
	}
}

// asRelease is cr's identity as a Release's: its namespace and ServiceAccount.
func asRelease(cr *v1alpha1.ChannelRelease) *v1alpha1.Release {
	return &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: cr.Namespace, Name: cr.Name}, Spec: v1alpha1.ReleaseSpec{ServiceAccountName: cr.Spec.ServiceAccountName}}
}

// ref is what the channel holds: the submitted version (the spec may name a newer one).
func ref(cr *v1alpha1.ChannelRelease) channel.Ref {
	if cr.Status.Submitted {
		return channel.Ref{Version: cr.Status.Version, VersionCode: cr.Status.VersionCode}
	}
	return channel.Ref{Version: cr.Spec.Artifact.Version, VersionCode: cr.Spec.Artifact.VersionCode}
}

// logOf is the Deployment Log under way (the last).
func logOf(s *v1alpha1.ChannelReleaseStatus) *v1alpha1.DeploymentLog {
	if len(s.History) == 0 {
		s.History = []v1alpha1.DeploymentLog{{ID: 1, Started: metav1.Now(), Status: v1alpha1.LogVerifying}}
	}
	return &s.History[len(s.History)-1]
}

func nextLogID(h []v1alpha1.DeploymentLog) int64 {
	if len(h) == 0 {
		return 1
	}
	return h[len(h)-1].ID + 1
}

func guardInterval(cr *v1alpha1.ChannelRelease) time.Duration {
	if cr.Spec.Analysis != nil {
		return max(dur(cr.Spec.Analysis.Interval, 10*time.Second), 500*time.Millisecond)
	}
	return 10 * time.Second
}

// describeChannel names where cr ships, for logs and events.
func describeChannel(cr *v1alpha1.ChannelRelease) string {
	t := cr.Spec.Target
	switch {
	case t.Type == v1alpha1.ChannelGooglePlay && t.GooglePlay != nil:
		return fmt.Sprintf("Google Play %s, track %s", t.GooglePlay.PackageName, cmp.Or(t.GooglePlay.Track, "production"))
	case t.Type == v1alpha1.ChannelFeed && t.Feed != nil:
		return fmt.Sprintf("feed %s, channel %s (%s)", t.Feed.Repository, t.Feed.Channel, t.Feed.Platform)
	}
	return string(t.Type)
}

func describeSteps(cr *v1alpha1.ChannelRelease) string {
	var s []string
	for _, p := range cr.StepPercents() {
		s = append(s, strconv.Itoa(int(p)))
	}
	return "Staged " + strings.Join(s, "→") + " %"
}

// redactErr is err's text with URL credentials hidden (a store endpoint with userinfo).
func redactErr(err error) string { return source.Redact(err.Error()) }
