package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/internal/egress"
	"bollard.dev/bollard/reconciler/analysis"
	"bollard.dev/bollard/reconciler/engine"
	"bollard.dev/bollard/reconciler/rollout"
)

// checks are the daemon's implementations of the rollout's checks.
func (r *Reconciler) checks() rollout.Checks {
	return rollout.Checks{v1alpha1.CheckHealth: healthCheck{r}, v1alpha1.CheckProve: proveCheck{r}, v1alpha1.CheckAnalysis: sloCheck{r}}
}

// healthCheck: every workload of the Release runs its new revision on Ready pods within the
// health timeout; ProgressDeadlineExceeded fails at once.
type healthCheck struct{ r *Reconciler }

func (c healthCheck) Run(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) (rollout.Outcome, error) {
	elapsed := now.Sub(ro.CheckStartedAt.Time)
	ok, detail, fatal, err := c.r.healthy(ctx, rel)
	switch {
	case err != nil:
		return rollout.Outcome{}, err
	case ok:
		return rollout.Outcome{Result: rollout.Pass, Step: v1alpha1.LogStep{Name: "health", Result: v1alpha1.ResultOK,
			Detail: fmt.Sprintf("%s in %.1f s", detail, elapsed.Seconds()), DurationMillis: elapsed.Milliseconds()}}, nil
	case fatal || elapsed > healthTimeout(rel):
		return rollout.Outcome{Result: rollout.Fail, Step: v1alpha1.LogStep{Name: "health", Result: v1alpha1.ResultFail, DurationMillis: elapsed.Milliseconds(),
			Detail: fmt.Sprintf("%s after %.0f s (health timeout %s)", detail, elapsed.Seconds(), healthTimeout(rel))}}, nil
	}
	return rollout.Outcome{Result: rollout.Wait, Message: detail, Wait: time.Second}, nil
}

// proveCheck: the post-deploy proof answers within its timeout.
type proveCheck struct{ r *Reconciler }

func (c proveCheck) Run(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) (rollout.Outcome, error) {
	if rel.Spec.Prove == nil { // removed while running: nothing to prove
		return rollout.Outcome{Result: rollout.Pass}, nil
	}
	elapsed := now.Sub(ro.CheckStartedAt.Time)
	ok, detail, fatal, err := c.r.prove(ctx, rel, ro)
	switch {
	case err != nil:
		return rollout.Outcome{}, err
	case ok:
		return rollout.Outcome{Result: rollout.Pass, Step: v1alpha1.LogStep{Name: "prove", Result: v1alpha1.ResultOK, Detail: detail, DurationMillis: elapsed.Milliseconds()}}, nil
	case fatal || elapsed > proveTimeout(rel):
		return rollout.Outcome{Result: rollout.Fail, Step: v1alpha1.LogStep{Name: "prove", Result: v1alpha1.ResultFail, DurationMillis: elapsed.Milliseconds(),
			Detail: fmt.Sprintf("%s after %.0f s (timeout %s)", detail, elapsed.Seconds(), proveTimeout(rel))}}, nil
	}
	return rollout.Outcome{Result: rollout.Wait, Message: "proving: " + detail, Wait: time.Second}, nil
}

// sloCheck is the SLO guard.
type sloCheck struct{ r *Reconciler }

func (c sloCheck) Run(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) (rollout.Outcome, error) {
	if rel.Spec.Analysis == nil { // removed while running: nothing left to check
		return rollout.Outcome{Result: rollout.Pass}, nil
	}
	return c.r.slo(ctx, rel, ro, now), nil
}

func healthTimeout(rel *v1alpha1.Release) time.Duration {
	return dur(rel.Spec.HealthTimeout, 60*time.Second)
}

// dur is d, or def when d is unset or not positive.
func dur(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

// guardState is what one evaluation of an SLO guard says.
type guardState int

const (
	guardDelayed  guardState = iota // the initial delay runs: the hold has not started
	guardHolding                    // every SLO holds; the hold period has not passed yet
	guardPaused                     // no data, and onNoData is pause: wait for data
	guardResumed                    // data again after a pause: the hold starts again now
	guardHeld                       // every SLO held for the hold period
	guardBreached                   // a breach, an unusable Prometheus, or no data with onNoData fail
)

// guardVerdict is one evaluation of an SLO guard: a Release's, or a ChannelRelease step's.
type guardVerdict struct {
	state   guardState
	values  string        // what every metric read
	why     string        // guardBreached: what failed
	hold    time.Duration // the hold period
	elapsed time.Duration // of the hold
	wait    time.Duration // until the next evaluation (guardDelayed, guardHolding, guardPaused, guardResumed)
}

// guard evaluates a once for version, its hold counted from from (in the future while the initial
// delay runs); paused says the guard stands paused for no data; interval spaces evaluations.
func (r *Reconciler) guard(ctx context.Context, a *v1alpha1.Analysis, version string, from time.Time, paused bool, interval time.Duration, now time.Time) guardVerdict {
	v := guardVerdict{hold: dur(a.Hold, time.Minute)}
	if wait := from.Sub(now); wait > 0 {
		v.state, v.wait = guardDelayed, wait
		return v
	}
	if err := r.egress().Check(a.Prometheus); err != nil {
		v.state, v.why = guardBreached, "Prometheus "+err.Error()
		return v
	}
	prom, err := analysis.New(a.Prometheus, r.egressTransport())
	if err != nil {
		v.state, v.why = guardBreached, err.Error()
		return v
	}
	results := prom.Evaluate(ctx, a.Metrics, version, now)
	v.values, v.elapsed = describe(results), now.Sub(from)
	for _, res := range results {
		if res.Breached() {
			v.state, v.why = guardBreached, fmt.Sprintf("%s after %.0f s: query %s", v.values, v.elapsed.Seconds(), res.Query)
			return v
		}
	}
	for _, res := range results {
		if res.Err == nil {
			continue
		}
		if a.OnNoData == "pause" && errors.Is(res.Err, analysis.ErrNoData) {
			v.state, v.wait = guardPaused, interval
			return v
		}
		v.state, v.why = guardBreached, fmt.Sprintf("%s after %.0f s: no data counts as a failure (onNoData: fail)", v.values, v.elapsed.Seconds())
		return v
	}
	switch {
	case paused:
		v.state, v.wait = guardResumed, min(interval, v.hold)
	case v.elapsed >= v.hold:
		v.state = guardHeld
	default:
		v.state, v.wait = guardHolding, min(interval, v.hold-v.elapsed)
	}
	return v
}

// slo evaluates the SLO guard once for the running check (started at ro.CheckStartedAt, which
// an initial delay puts in the future): pass once every metric held for the hold period, fail on
// a breach (or no data, unless onNoData is pause), else wait (saying what it sees).
func (r *Reconciler) slo(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus, now time.Time) rollout.Outcome {
	v := r.guard(ctx, rel.Spec.Analysis, ro.Version, ro.CheckStartedAt.Time, ro.Phase == PhasePaused, dur(rel.Spec.Analysis.Interval, 10*time.Second), now)
	name := fmt.Sprintf("SLO guard (%s)", v.hold)
	switch v.state {
	case guardDelayed: // the hold starts after the initial delay
		return rollout.Outcome{Result: rollout.Wait, Message: "SLO guard from " + ro.CheckStartedAt.UTC().Format(time.TimeOnly), Wait: v.wait}
	case guardBreached:
		return rollout.Outcome{Result: rollout.Fail, Step: v1alpha1.LogStep{Name: name, Result: v1alpha1.ResultFail, Detail: v.why, DurationMillis: v.elapsed.Milliseconds()}}
	case guardPaused:
		if ro.Phase != PhasePaused {
			r.event(rel, corev1.EventTypeWarning, "RolloutPaused", "revision %s: %s (onNoData: pause)", short(ro.Revision), v.values)
		}
		return rollout.Outcome{Result: rollout.Wait, Paused: true, Message: "paused: " + v.values + " (onNoData: pause)", Wait: v.wait}
	case guardResumed:
		return rollout.Outcome{Result: rollout.Wait, Message: fmt.Sprintf("SLO guard 0/%.0f s: %s (data again)", v.hold.Seconds(), v.values), Wait: v.wait}
	case guardHeld:
		return rollout.Outcome{Result: rollout.Pass, Step: v1alpha1.LogStep{Name: name, Result: v1alpha1.ResultOK, Detail: v.values + ": PASS", DurationMillis: v.elapsed.Milliseconds()}}
	}
	return rollout.Outcome{Result: rollout.Wait, Message: fmt.Sprintf("SLO guard %.0f/%.0f s: %s", v.elapsed.Seconds(), v.hold.Seconds(), v.values), Wait: v.wait}
}

func proveTimeout(rel *v1alpha1.Release) time.Duration {
	if p := rel.Spec.Prove; p != nil {
		return dur(p.Timeout, time.Minute)
	}
	return time.Minute
}

// prove runs one attempt of the post-deploy proof: ok, what it saw, and whether it can no
// longer succeed (a failed Job).
func (r *Reconciler) prove(ctx context.Context, rel *v1alpha1.Release, ro v1alpha1.RolloutStatus) (ok bool, detail string, fatal bool, err error) {
	p := rel.Spec.Prove
	switch {
	case p.HTTP != nil:
		url := strings.ReplaceAll(p.HTTP.URL, "{{version}}", ro.Version)
		want := int(p.HTTP.ExpectStatus)
		if want == 0 {
			want = http.StatusOK
		}
		if err := r.egress().Check(url); err != nil {
			return false, "GET " + err.Error(), true, nil
		}
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(hctx, http.MethodGet, url, nil)
		if err != nil {
			return false, fmt.Sprintf("GET %s: %v", url, err), true, nil
		}
		resp, err := (&http.Client{Transport: r.egressTransport(), CheckRedirect: r.checkRedirect}).Do(req)
		if err != nil {
			return false, fmt.Sprintf("GET %s: %v", url, err), false, nil
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return false, fmt.Sprintf("GET %s: status %d (want %d)", url, resp.StatusCode, want), false, nil
		}
		return true, fmt.Sprintf("GET %s: %d", url, resp.StatusCode), false, nil
	case p.Job != nil:
		name := rel.Name + "-prove-" + short(ro.Revision)
		if ro.Strategy == v1alpha1.StrategyCanary { // one proof per canary step
			name += fmt.Sprintf("-%d", ro.Index)
		}
		job := &batchv1.Job{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: rel.Target(), Name: name}, job)
		if apierrors.IsNotFound(err) {
			job = &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: rel.Target(), Name: name, Labels: p.Job.Labels, Annotations: p.Job.Annotations},
				Spec: *p.Job.Spec.DeepCopy()}
			if job.Labels == nil {
				job.Labels = map[string]string{}
			}
			job.Labels["bollard.dev/prove"] = rel.Name
			job.Spec.TTLSecondsAfterFinished = ptr.To[int32](3600)
			// The proof runs as the Release: created by its ServiceAccount, its pod that account.
			if sa := r.serviceAccount(rel); sa != "" && job.Spec.Template.Spec.ServiceAccountName == "" {
				job.Spec.Template.Spec.ServiceAccountName = sa
			}
			c, err := r.clientFor(rel)
			if err != nil {
				return false, "", false, err
			}
			if err := c.Create(ctx, job); err != nil {
				return false, "", false, fmt.Errorf("create prove Job: %w", err)
			}
			return false, "Job " + name + " started", false, nil
		}
		if err != nil {
			return false, "", false, err
		}
		for _, c := range job.Status.Conditions {
			if c.Status == corev1.ConditionTrue && c.Type == batchv1.JobComplete {
				return true, "Job " + name + " succeeded", false, nil
			}
			if c.Status == corev1.ConditionTrue && c.Type == batchv1.JobFailed {
				return false, fmt.Sprintf("Job %s failed: %s", name, c.Message), true, nil
			}
		}
		return false, fmt.Sprintf("Job %s running (%d active)", name, job.Status.Active), false, nil
	}
	return true, "nothing to prove", false, nil
}

func describe(results []analysis.Result) string {
	parts := make([]string, len(results))
	for i, res := range results {
		parts[i] = res.String()
	}
	return strings.Join(parts, ", ")
}

// healthy reports whether every workload of the Release runs its new revision on Ready pods and,
// with spec.health, whether each new pod says it is healthy. fatal is true when one can no longer get there (progress deadline exceeded).
func (r *Reconciler) healthy(ctx context.Context, rel *v1alpha1.Release) (ok bool, detail string, fatal bool, err error) {
	deps, sets, err := r.workloads(ctx, rel)
	if err != nil {
		return false, "", false, err
	}
	ready, want := int32(0), int32(0)
	var waiting []string
	for _, d := range deps.Items {
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		want += replicas
		newReady := min(d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
		ready += newReady
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
				fatal = true
			}
		}
		if d.Status.ObservedGeneration < d.Generation || newReady < replicas || d.Status.Replicas > replicas {
			waiting = append(waiting, fmt.Sprintf("Deployment %s %d/%d new pods Ready", d.Name, newReady, replicas))
		}
	}
	for _, s := range sets.Items {
		replicas := int32(1)
		if s.Spec.Replicas != nil {
			replicas = *s.Spec.Replicas
		}
		want += replicas
		newReady := min(s.Status.UpdatedReplicas, s.Status.ReadyReplicas)
		ready += newReady
		if s.Status.ObservedGeneration < s.Generation || newReady < replicas || s.Status.CurrentRevision != s.Status.UpdateRevision {
			waiting = append(waiting, fmt.Sprintf("StatefulSet %s %d/%d new pods Ready", s.Name, newReady, replicas))
		}
	}
	if len(waiting) > 0 {
		detail = strings.Join(waiting, "; ")
		if rel.Spec.Health != nil && ready == want {
			// Every new pod is Ready, old ones are still leaving: what the new pods answer
			// already is said too — a timeout then names an unhealthy pod, not only the drain.
			if _, missing, err := r.askPods(ctx, rel, newPods(deps, sets)); err == nil && missing != "" {
				detail += "; " + missing
			}
		}
		return false, detail, fatal, nil
	}
	detail = fmt.Sprintf("%d/%d Ready", ready, want)
	if rel.Spec.Health != nil {
		answered, missing, err := r.askPods(ctx, rel, newPods(deps, sets))
		if err != nil {
			return false, "", false, err
		}
		if missing != "" {
			return false, detail + "; " + missing, false, nil
		}
		detail += fmt.Sprintf("; %d new pod(s) answered %s", answered, healthPath(rel.Spec.Health))
	}
	return true, detail, false, nil
}

// newPods are the new pods of the workloads: those of each workload's template (its version),
// but not the old side of a split — the Deployment beside a "<name>-canary" or "<name>-green"
// one, while it keeps another version than its companion (blue/green's blue until it takes
// green's template).
func newPods(deps *appsv1.DeploymentList, sets *appsv1.StatefulSetList) []podsOf {
	var news []podsOf
	companion := map[string]string{} // Deployment → the version of its canary or green
	for _, d := range deps.Items {
		switch {
		case d.Spec.Template.Labels[rollout.LabelCanary] != "":
			companion[strings.TrimSuffix(d.Name, "-canary")] = d.Spec.Template.Labels[LabelVersion]
		case d.Spec.Template.Labels[rollout.LabelColor] != "":
			companion[strings.TrimSuffix(d.Name, "-green")] = d.Spec.Template.Labels[LabelVersion]
		}
	}
	for _, d := range deps.Items {
		if v, split := companion[d.Name]; !split || v == d.Spec.Template.Labels[LabelVersion] {
			news = append(news, podsOf{d.Spec.Selector, d.Spec.Template.Labels[LabelVersion]})
		}
	}
	for _, s := range sets.Items {
		news = append(news, podsOf{s.Spec.Selector, s.Spec.Template.Labels[LabelVersion]})
	}
	return news
}

// workloads are the Release's Deployments and StatefulSets in its target namespace: from the
// engine's cache when it has seen the daemon's last apply of each (the generation it left), else
// from the API server — a cache that has not seen the apply a moment ago shows the previous
// revision's workloads fully rolled out (healthy), or no canary yet.
func (r *Reconciler) workloads(ctx context.Context, rel *v1alpha1.Release) (*appsv1.DeploymentList, *appsv1.StatefulSetList, error) {
	deps, sets := &appsv1.DeploymentList{}, &appsv1.StatefulSetList{}
	if eng := r.engine(); eng != nil {
		if objs, ok := eng.Workloads(engine.Key{Namespace: rel.Namespace, Name: rel.Name}, rel.Target()); ok {
			metricHealthReads.WithLabelValues("cache").Inc()
			for _, o := range objs {
				var err error
				if o.GetKind() == "Deployment" {
					deps.Items = append(deps.Items, appsv1.Deployment{})
					err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &deps.Items[len(deps.Items)-1])
				} else {
					sets.Items = append(sets.Items, appsv1.StatefulSet{})
					err = runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sets.Items[len(sets.Items)-1])
				}
				if err != nil {
					return nil, nil, fmt.Errorf("cached %s %s: %w", o.GetKind(), o.GetName(), err)
				}
			}
			slices.SortFunc(deps.Items, func(a, b appsv1.Deployment) int { return strings.Compare(a.Name, b.Name) })
			slices.SortFunc(sets.Items, func(a, b appsv1.StatefulSet) int { return strings.Compare(a.Name, b.Name) })
			return deps, sets, nil
		}
	}
	metricHealthReads.WithLabelValues("api").Inc()
	sel := client.MatchingLabels{engine.LabelRelease: rel.Name, engine.LabelReleaseNamespace: rel.Namespace}
	if err := r.reader().List(ctx, deps, client.InNamespace(rel.Target()), sel); err != nil {
		return nil, nil, err
	}
	if err := r.reader().List(ctx, sets, client.InNamespace(rel.Target()), sel); err != nil {
		return nil, nil, err
	}
	return deps, sets, nil
}

func healthPath(h *v1alpha1.HealthCheck) string { return cmp.Or(h.Path, "/health") }

// podsOf names a workload's pods of one version ("": any).
type podsOf struct {
	selector *metav1.LabelSelector
	version  string
}

// askPods GETs spec.health's path of every new pod — the Ready, running pods of each workload's
// version — at its address, at most 8 at a time, and says which did not answer 2xx and what they
// answered ("" when all did). Pods on the host's network are not asked: their address is the
// node's.
func (r *Reconciler) askPods(ctx context.Context, rel *v1alpha1.Release, workloads []podsOf) (answered int, missing string, err error) {
	h := rel.Spec.Health
	var pods []corev1.Pod
	seen := map[string]bool{}
	for _, w := range workloads {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil {
			return 0, "", err
		}
		var l corev1.PodList
		if err := r.reader().List(ctx, &l, client.InNamespace(rel.Target()), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return 0, "", err
		}
		for _, p := range l.Items {
			if seen[p.Name] || !p.DeletionTimestamp.IsZero() || p.Status.Phase != corev1.PodRunning || !podReady(&p) ||
				w.version != "" && p.Labels[LabelVersion] != w.version {
				continue
			}
			seen[p.Name] = true
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return 0, "no new pod to ask " + healthPath(h) + " yet", nil
	}
	httpc := &http.Client{Timeout: 2 * time.Second, Transport: r.egressTransport()}
	bad := make([]string, len(pods))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range pods {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			bad[i] = askPod(ctx, httpc, &p, h)
		})
	}
	wg.Wait()
	var why []string
	for _, b := range bad {
		if b != "" {
			why = append(why, b)
		}
	}
	if len(why) > 0 {
		return len(pods) - len(why), fmt.Sprintf("%d of %d new pod(s) not healthy by %s: %s", len(why), len(pods), healthPath(h), strings.Join(why, "; ")), nil
	}
	return len(pods), "", nil
}

// askPod is "" when p answers h with 2xx, else why not.
func askPod(ctx context.Context, httpc *http.Client, p *corev1.Pod, h *v1alpha1.HealthCheck) string {
	if p.Spec.HostNetwork {
		return fmt.Sprintf("pod %s is on the host's network (its address is the node's): not asked", p.Name)
	}
	if p.Status.PodIP == "" {
		return fmt.Sprintf("pod %s has no address yet", p.Name)
	}
	url := "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(h.Port))) + healthPath(h)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Sprintf("pod %s: %v", p.Name, err)
	}
	req.Header.Set("User-Agent", "bollard-health")
	resp, err := httpc.Do(req)
	if err != nil {
		return fmt.Sprintf("pod %s: %v", p.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return ""
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 120))
	return fmt.Sprintf("pod %s answered %s %q", p.Name, resp.Status, strings.TrimSpace(string(body)))
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// egress is where the daemon's own requests may go (--allowed-hosts; nil: in-cluster Services).
func (r *Reconciler) egress() *egress.Guard {
	if r.Egress == nil {
		g, _ := egress.Parse(egress.DefaultHosts)
		return g
	}
	return r.Egress
}

// egressTransport is the transport of those requests (one, for its connection pool).
func (r *Reconciler) egressTransport() http.RoundTripper {
	r.egressOnce.Do(func() { r.egressRT = r.egress().Transport() })
	return r.egressRT
}

// checkRedirect follows a prove check's redirect only to an allowed host.
func (r *Reconciler) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("more than 5 redirects")
	}
	return r.egress().Check(req.URL.String())
}
