package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/reconciler/snapshot"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook"
)

// neverReady is web at version whose pods never become Ready (kwok's ready stage waits an hour).
func neverReady(replicas int, version string) string {
	return strings.Replace(fmt.Sprintf(webYAML, replicas, version), "    metadata: {labels: {app: web}}",
		"    metadata: {labels: {app: web}, annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1h}}", 1)
}

// noSuccessFor fails when any Deployment Log of revision says SUCCESS.
func noSuccessFor(t *testing.T, r *v1alpha1.Release, revision string) {
	t.Helper()
	for _, l := range kubetest.Get(t).Logs(t, r) {
		if l.Revision == revision && l.Status == "SUCCESS" {
			t.Errorf("Deployment Log #%d says SUCCESS for the failed revision %s: %s", l.ID, revision[:7], stepsOf(l))
		}
	}
}

// logsOf counts the Deployment Logs of revision.
func logsOf(t *testing.T, r *v1alpha1.Release, revision string) int {
	t.Helper()
	n := 0
	for _, l := range kubetest.Get(t).Logs(t, r) {
		if l.Revision == revision {
			n++
		}
	}
	return n
}

// TestRedButtonWithoutGit: a revision that breaks its SLO after git went away is rolled back from
// the last good revision's snapshot (no git, no render); the failed revision is never applied
// again nor reported as a success; a daemon restarted with an empty mirror rolls back by request
// with git still down; the migration Job runs once per revision — not on drift reverts or
// rollbacks.
func TestRedButtonWithoutGit(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 2)
	env, ns := f.env, f.ns
	ctx := context.Background()
	exp, prom := startMetrics(t, "v1", "v2")
	// v3 fails 50 % of its requests from the start, so Prometheus has its error rate by the time
	// v3 is deployed (a fresh series has no rate for a scrape or two: the guard would see 0 %).
	exp.set("v3", behaviour{Latency: 30 * time.Millisecond, ErrorRate: 0.5})
	f.create(t, v1alpha1.ReleaseSpec{HealthTimeout: &metav1.Duration{Duration: 4 * time.Second},
		Analysis: &v1alpha1.Analysis{Prometheus: prom.URL, Interval: &metav1.Duration{Duration: 500 * time.Millisecond}, Hold: &metav1.Duration{Duration: 2 * time.Second},
			Metrics: []v1alpha1.SLOMetric{{Name: "errors", Unit: "%", Max: "1",
				Query: `100 * (sum(rate(http_requests_total{version="{{version}}",code=~"5.."}[2s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[2s]))`}}}})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	withHook := f.repo.commit(t, "migrate, web v2", map[string]string{"migrate.yaml": migrateJob, "web.yaml": fmt.Sprintf(webYAML, 2, "v2")})
	f.d.push(t, f.repo, withHook, f.key)
	if r := f.ended(t, withHook); r.Status.Rollout.Phase != "Succeeded" || !strings.Contains(stepsOf(logOf(t, r, withHook)), "apply OK") {
		t.Fatalf("v2 rollout %+v", r.Status.Rollout)
	}
	// jobUID is the migration Job's UID ("" once a later revision without it pruned it): a
	// migration that runs again makes a new Job.
	jobUID := func() types.UID {
		var job batchv1.Job
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "migrate"}, &job); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("the migration Job: %v", err)
		}
		return job.UID
	}
	migrated := jobUID()
	if migrated == "" {
		t.Fatal("the migration Job did not run")
	}
	notAgain := func(t *testing.T, when string) {
		t.Helper()
		if uid := jobUID(); uid != migrated && uid != "" {
			t.Errorf("the migration Job ran again %s", when)
		}
	}
	// The snapshots are the daemon's, in its own namespace: the tenant cannot rewrite what a
	// rollback applies.
	var sec corev1.Secret
	if err := env.Client.Get(ctx, snapshot.Key(daemonNamespace, f.get(t)), &sec); err != nil || sec.Type != snapshot.SecretType {
		t.Fatalf("the Release's snapshot Secret: %v (type %q)", err, sec.Type)
	}
	tenant := asReleaseAccount(t, env, ns)
	if err := tenant.Get(ctx, client.ObjectKeyFromObject(&sec), &corev1.Secret{}); !apierrors.IsForbidden(err) {
		t.Errorf("the tenant's ServiceAccount reads the snapshots: %v, want forbidden", err)
	}

	t.Run("drift reverted without running the migration again", func(t *testing.T) {
		if err := update(ctx, env, env.Client, client.ObjectKey{Namespace: ns, Name: "web"}, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 30*time.Second, "the drift reverted", func(ctx context.Context) (bool, error) {
			var d appsv1.Deployment
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d)
			r := f.get(t)
			return err == nil && *d.Spec.Replicas == 2 && r.Status.DriftCount > 0, err
		})
		if jobUID() != migrated {
			t.Errorf("the migration Job ran again on a drift revert (or was deleted)")
		}
	})

	var bad string
	t.Run("git down, then an SLO breach: rolled back from the snapshot", func(t *testing.T) {
		bad = f.repo.commit(t, "web v3 (no migration)", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 2, "v3"), "migrate.yaml": ""})
		f.d.push(t, f.repo, bad, f.key)
		env.Eventually(t, 30*time.Second, "v3 rolling out", func(context.Context) (bool, error) {
			ro := f.get(t).Status.Rollout
			return ro != nil && ro.Revision == bad, nil
		})
		// The git server goes away before the SLO guard sees the breach.
		if err := os.Rename(f.repo.bare, f.repo.bare+".gone"); err != nil {
			t.Fatal(err)
		}
		r := f.ended(t, bad)
		l := logOf(t, r, bad)
		if r.Status.Rollout.Phase != "RolledBack" || l.Status != "ROLLED_BACK" || r.Status.ObservedRevision != withHook || r.Status.FailedRevision != bad {
			t.Fatalf("rollout %+v observed %s failed %s; log %s: %s", r.Status.Rollout, r.Status.ObservedRevision, r.Status.FailedRevision, l.Status, stepsOf(l))
		}
		if !strings.Contains(stepsOf(l), "SLO guard (2s) FAIL: errors ") || !strings.Contains(stepsOf(l), "rollback OK: to "+withHook[:7]+" (its snapshot") {
			t.Errorf("log: %s", stepsOf(l))
		}
		env.Eventually(t, 30*time.Second, "web back on v2, all Ready", func(ctx context.Context) (bool, error) {
			var d appsv1.Deployment
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d)
			return err == nil && d.Spec.Template.Spec.Containers[0].Image == "registry.local/shop/web:v2" && d.Status.ReadyReplicas == 2 && d.Status.UpdatedReplicas == 2, nil
		})
		notAgain(t, "on the rollback")
	})

	t.Run("the failed revision is not applied again: git down, git back, pushes", func(t *testing.T) {
		f.d.push(t, f.repo, bad, f.key) // git still down: a fetch error, nothing applied
		time.Sleep(2 * time.Second)
		if err := os.Rename(f.repo.bare+".gone", f.repo.bare); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			f.d.push(t, f.repo, bad, f.key)
			time.Sleep(time.Second)
		}
		r := f.get(t)
		if f.image() != "registry.local/shop/web:v2" || r.Status.ObservedRevision != withHook {
			t.Errorf("web runs %s, observed %s", f.image(), r.Status.ObservedRevision)
		}
		noSuccessFor(t, r, bad)
		if n := logsOf(t, r, bad); n != 1 {
			t.Errorf("%d Deployment Logs for the failed revision, want 1", n)
		}
		notAgain(t, "on a push of the failed revision")
	})

	t.Run("a restarted daemon with an empty mirror rolls back by request, git down", func(t *testing.T) {
		f.d.stop()
		if err := os.Rename(f.repo.bare, f.repo.bare+".gone"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Rename(f.repo.bare+".gone", f.repo.bare) })
		f.d = startDaemon(t, env, ns, "receiver", t.TempDir())
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"bollard.dev/rollback-to":"`+f.first+`"}}}`))
		if err := env.Client.Patch(ctx, f.get(t), patch); err != nil {
			t.Fatal(err)
		}
		var r *v1alpha1.Release
		env.Eventually(t, 30*time.Second, "the rollback to v1", func(context.Context) (bool, error) {
			r = f.get(t)
			_, pending := r.Annotations["bollard.dev/rollback-to"]
			return !pending && latestLog(t, r).Trigger == "manual", nil
		})
		if l := latestLog(t, r); l.Status != "ROLLED_BACK" || !strings.Contains(stepsOf(l), "(its snapshot") {
			t.Fatalf("log %s: %s", l.Status, stepsOf(l))
		}
		env.Eventually(t, 30*time.Second, "web back on v1", func(context.Context) (bool, error) { return f.image() == "registry.local/shop/web:v1", nil })
	})
}

// TestRedButtonHalts: with rollbackOnFailure off, a failed rolling revision stays where it
// stopped and a failed canary halts at 0 % — never continued, never SUCCESS, no retry loop; a
// canary that cannot start writes one FAILED log and the Release waits.
func TestRedButtonHalts(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 4)
	env, ns := f.env, f.ns
	ctx := context.Background()
	f.create(t, v1alpha1.ReleaseSpec{HealthTimeout: &metav1.Duration{Duration: 6 * time.Second}, RollbackOnFailure: ptr.To(false)})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	setSpec := func(change func(*v1alpha1.ReleaseSpec)) {
		t.Helper()
		r := f.get(t)
		change(&r.Spec)
		if err := env.Client.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// settled checks that over a few seconds and pushes of revision nothing changes.
	settled := func(t *testing.T, revision, image string) *v1alpha1.Release {
		t.Helper()
		before := f.get(t)
		for range 3 {
			f.d.push(t, f.repo, revision, f.key)
			time.Sleep(time.Second)
		}
		r := f.get(t)
		noSuccessFor(t, r, revision)
		if logsOf(t, r, revision) != 1 || reconciler.LatestID(r) != reconciler.LatestID(before) {
			t.Errorf("new Deployment Logs after the failure: newest #%d before, #%d after (%d for the revision)", reconciler.LatestID(before), reconciler.LatestID(r), logsOf(t, r, revision))
		}
		if f.image() != image {
			t.Errorf("web runs %s, want %s", f.image(), image)
		}
		return r
	}

	t.Run("rolling: failed and left as it is, not applied again", func(t *testing.T) {
		bad := f.repo.commit(t, "web v2, never ready", map[string]string{"web.yaml": neverReady(4, "v2")})
		f.d.push(t, f.repo, bad, f.key)
		r := f.ended(t, bad)
		l := logOf(t, r, bad)
		if r.Status.Rollout.Phase != "Failed" || l.Status != "FAILED" || !strings.Contains(stepsOf(l), "rollback SKIP: rollbackOnFailure is off") {
			t.Fatalf("rollout %+v; log %s: %s", r.Status.Rollout, l.Status, stepsOf(l))
		}
		// Drift on a failed revision is recorded, not reverted by re-applying it.
		if err := update(ctx, env, env.Client, client.ObjectKey{Namespace: ns, Name: "web"}, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](1) }); err != nil {
			t.Fatal(err)
		}
		settled(t, bad, "registry.local/shop/web:v2")
		var d appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &d); err != nil || *d.Spec.Replicas != 1 {
			t.Errorf("the failed revision was re-applied over the drift: %v %v", err, d.Spec.Replicas)
		}
	})

	t.Run("canary: halted at 0 %, the stable version whole", func(t *testing.T) {
		good := f.repo.commit(t, "web v3", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 4, "v3")})
		f.d.push(t, f.repo, good, f.key)
		if r := f.ended(t, good); r.Status.Rollout.Phase != "Succeeded" {
			t.Fatalf("v3 rollout %+v: %s", r.Status.Rollout, stepsOf(latestLog(t, r)))
		}
		setSpec(func(s *v1alpha1.ReleaseSpec) {
			s.Strategy = &v1alpha1.Strategy{Type: "canary", Steps: []int32{25, 50, 100}}
		})
		bad := f.repo.commit(t, "web v4, never ready", map[string]string{"web.yaml": neverReady(4, "v4")})
		f.d.push(t, f.repo, bad, f.key)
		r := f.ended(t, bad)
		l := logOf(t, r, bad)
		if r.Status.Rollout.Phase != "Halted" || l.Status != "HALTED" || !strings.Contains(stepsOf(l), "halt OK: rollbackOnFailure is off: canary at 0 %") {
			t.Fatalf("rollout %+v; log %s: %s", r.Status.Rollout, l.Status, stepsOf(l))
		}
		env.Eventually(t, 30*time.Second, "stable whole on v3, canary at 0", func(ctx context.Context) (bool, error) {
			var stable, canary appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &stable); err != nil {
				return false, err
			}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &canary); err != nil {
				return false, err
			}
			return stable.Spec.Template.Spec.Containers[0].Image == "registry.local/shop/web:v3" && *stable.Spec.Replicas == 4 && stable.Status.ReadyReplicas == 4 &&
				*canary.Spec.Replicas == 0, nil
		})
		settled(t, bad, "registry.local/shop/web:v3")
	})

	t.Run("a canary that cannot start: one FAILED log, the Release waits", func(t *testing.T) {
		setSpec(func(s *v1alpha1.ReleaseSpec) {
			s.RollbackOnFailure = nil
			s.Strategy = &v1alpha1.Strategy{Type: "canary", HTTPRoute: "missing"}
		})
		next := f.repo.commit(t, "web v5", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 4, "v5")})
		f.d.push(t, f.repo, next, f.key)
		var r *v1alpha1.Release
		env.Eventually(t, 30*time.Second, "the FAILED log", func(context.Context) (bool, error) {
			r = f.get(t)
			return logsOf(t, r, next) > 0 && latestLog(t, r).Status == "FAILED", nil
		})
		if l := latestLog(t, r); !strings.Contains(stepsOf(l), "strategy.httpRoute missing: the revision has no HTTPRoute of that name") {
			t.Errorf("log: %s", stepsOf(l))
		}
		settled(t, next, "registry.local/shop/web:v3")
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("the halted canary was not cleared by the restore: %v", err)
		}
	})
}

// TestRedButtonThroughTheGate: bollard's daemon and webhook together, the daemon as its
// ServiceAccount. A canary proven at each step fails its proof after a freeze began: the rollback
// is admitted by the webhook (the daemon's identity and its rollback marker), with a warning and
// an Event; anyone else's write carrying the marker, and the daemon's next revision, are still
// gated.
func TestRedButtonThroughTheGate(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 4)
	env, ns := f.env, f.ns
	ctx := context.Background()
	f.d.stop()
	startGateWith(t, env, ns, webhook.Config{RollbackUsers: []string{daemonUser}})
	f.d = startDaemon(t, env, ns, "receiver", f.gitDir)
	// v2 never proves itself.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/v2") {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(app.Close)
	f.create(t, v1alpha1.ReleaseSpec{Strategy: &v1alpha1.Strategy{Type: "canary", Steps: []int32{25, 50, 100}},
		Prove: &v1alpha1.Prove{HTTP: &v1alpha1.HTTPProve{URL: app.URL + "/smoke/{{version}}"}, Timeout: &metav1.Duration{Duration: time.Hour}}})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v: %s", r.Status.Rollout, stepsOf(latestLog(t, r)))
	}
	bad := f.commitAndPush(t, "v2", 4)
	env.Eventually(t, 30*time.Second, "the 25% canary being proven", func(context.Context) (bool, error) {
		ro := f.get(t).Status.Rollout
		return ro != nil && ro.Revision == bad && ro.Check == "prove", nil
	})
	createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-freeze"}, Spec: v1alpha1.DeployPolicySpec{
		Scope: v1alpha1.Scope{Namespaces: []string{ns}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()}}})
	web := client.ObjectKey{Namespace: ns, Name: "web"}
	waitGateSees(t, env, web, setImage("registry.local/shop/web:v9"), "code-freeze")
	// Now the proof runs out of time: the canary fails inside the freeze.
	rel := f.get(t)
	rel.Spec.Prove.Timeout = &metav1.Duration{Duration: time.Second}
	if err := env.Client.Update(ctx, rel); err != nil {
		t.Fatal(err)
	}

	r := f.ended(t, bad)
	l := logOf(t, r, bad)
	if r.Status.Rollout.Phase != "RolledBack" || l.Status != "ROLLED_BACK" || !strings.Contains(stepsOf(l), "canary 25% prove FAIL") || !strings.Contains(stepsOf(l), "rollback OK: to "+f.first[:7]) {
		t.Fatalf("rollout %+v; log %s: %s", r.Status.Rollout, l.Status, stepsOf(l))
	}
	env.Eventually(t, 30*time.Second, "web whole on v1, no canary", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, &appsv1.Deployment{})
		return f.image() == "registry.local/shop/web:v1" && apierrors.IsNotFound(err), nil
	})
	// The daemon acted as the Release's ServiceAccount; the webhook knew it by the user extra.
	waitEvent(t, env, ns, "Rollback", "web", "rollback by "+daemonUser+" as system:serviceaccount:"+ns+":"+releaseAccount, ns+"/shop to "+f.first[:7])

	t.Run("the marker is nobody else's", func(t *testing.T) {
		c, _ := as(t, env, ns, "mallory")
		err := update(ctx, env, c, web, func(d *appsv1.Deployment) {
			d.Annotations["bollard.dev/rollback"] = ns + "/shop to " + f.first[:7]
			d.Spec.Template.Spec.Containers[0].Image = "registry.local/shop/web:v9"
		})
		if err == nil || !strings.Contains(err.Error(), "code-freeze") {
			t.Errorf("a marked write by another user: %v, want the freeze's denial", err)
		}
		// The tenant holding the Release's ServiceAccount token is not the daemon either.
		err = update(ctx, env, asReleaseAccount(t, env, ns), web, func(d *appsv1.Deployment) {
			d.Annotations["bollard.dev/rollback"] = ns + "/shop to " + f.first[:7]
			d.Spec.Template.Spec.Containers[0].Image = "registry.local/shop/web:v9"
		})
		if err == nil || !strings.Contains(err.Error(), "code-freeze") {
			t.Errorf("a marked write with the Release's ServiceAccount token: %v, want the freeze's denial", err)
		}
		// Nor can a tenant who may impersonate the namespace's accounts (ClusterRole edit) claim
		// to be the daemon: the user extra is the daemon's alone.
		c = impersonatingAsDaemon(t, env, ns)
		err = update(ctx, env, c, web, func(d *appsv1.Deployment) {
			d.Annotations["bollard.dev/rollback"] = ns + "/shop to " + f.first[:7]
			d.Spec.Template.Spec.Containers[0].Image = "registry.local/shop/web:v9"
		})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "userextras/bollard.dev/daemon") {
			t.Errorf("a tenant impersonating the daemon's extra: %v, want forbidden", err)
		}
	})
	t.Run("the daemon's next revision still passes the gate (refused in the freeze)", func(t *testing.T) {
		next := f.commitAndPush(t, "v3", 4)
		env.Eventually(t, 30*time.Second, "the refusal", func(context.Context) (bool, error) {
			r := f.get(t)
			return r.Status.Phase == "Refused" && r.Status.DesiredRevision == next, nil
		})
		if f.image() != "registry.local/shop/web:v1" {
			t.Errorf("web runs %s", f.image())
		}
	})
	t.Run("the daemon's rollback marker is refused in git", func(t *testing.T) {
		marked := strings.Replace(fmt.Sprintf(webYAML, 4, "v1"), "  name: web\n", "  name: web\n  annotations: {bollard.dev/rollback: sneaky}\n", 1)
		rev := f.repo.commit(t, "sneaky", map[string]string{"web.yaml": marked})
		f.d.push(t, f.repo, rev, f.key)
		env.Eventually(t, 30*time.Second, "the refusal", func(context.Context) (bool, error) {
			r := f.get(t)
			return r.Status.Phase == "Refused" && r.Status.DesiredRevision == rev && strings.Contains(r.Status.Message, "the daemon's own rollback marker"), nil
		})
	})
}

// TestRollbackByDigest: a rollback returns to the digests the last good revision was verified
// with, not to what its tag points at now — and needs no registry.
func TestRollbackByDigest(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	ns := env.Namespace(t)
	reg, signer := signingPolicy(t, env, ns)
	a := reg.Push(t, "shop/web:stable")
	signer.Sign(t, a)
	web := func(image string, ready bool) string {
		y := fmt.Sprintf(webYAML, 2, "x")
		if !ready {
			y = neverReady(2, "x")
		}
		return strings.Replace(y, "registry.local/shop/web:x", image, 1)
	}
	stable := reg.Host + "/shop/web:stable"
	repo := newGitRepo(t)
	first := repo.commit(t, "web stable", map[string]string{"web.yaml": web(stable, true)})
	f := &releaseFixture{env: env, ns: ns, repo: repo, key: []byte("k")}
	f.d = startDaemonWith(t, env, ns, "receiver", t.TempDir(), true)
	f.create(t, v1alpha1.ReleaseSpec{HealthTimeout: &metav1.Duration{Duration: 6 * time.Second}})
	r := f.ended(t, first)
	pinned := stable + "@" + a.DigestStr()
	if r.Status.Rollout.Phase != "Succeeded" || f.image() != pinned {
		t.Fatalf("first rollout %+v; web runs %s, want %s", r.Status.Rollout, f.image(), pinned)
	}
	if l := logOf(t, r, first); !strings.Contains(strings.Join(l.Artifacts, ","), pinned) {
		t.Errorf("the log's artifacts %v lack %s", l.Artifacts, pinned)
	}
	// The tag moves to a new (also signed) image; the next revision fails.
	moved := reg.Push(t, "shop/web:stable")
	signer.Sign(t, moved)
	next := reg.Push(t, "shop/web:v2")
	signer.Sign(t, next)
	bad := repo.commit(t, "web v2, never ready", map[string]string{"web.yaml": web(reg.Host+"/shop/web:v2", false)})
	f.d.push(t, repo, bad, f.key)
	env.Eventually(t, 30*time.Second, "v2 rolling out", func(context.Context) (bool, error) {
		ro := f.get(t).Status.Rollout
		return ro != nil && ro.Revision == bad, nil
	})
	reg.Down.Store(true) // the registry goes away too
	r = f.ended(t, bad)
	if r.Status.Rollout.Phase != "RolledBack" {
		t.Fatalf("rollout %+v: %s", r.Status.Rollout, stepsOf(logOf(t, r, bad)))
	}
	env.Eventually(t, 30*time.Second, "web back on the verified digest", func(context.Context) (bool, error) { return f.image() == pinned, nil })
}

// TestRollbackFailedRetried: a rollback that cannot be done (no snapshot, git down) is not
// reported as done, nor is the failed revision as a success: ROLLBACK_FAILED in the log, the
// status and an Event, retried with backoff — and done once git is back.
func TestRollbackFailedRetried(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 2)
	env, ns := f.env, f.ns
	ctx := context.Background()
	f.create(t, v1alpha1.ReleaseSpec{HealthTimeout: &metav1.Duration{Duration: 6 * time.Second}})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	bad := f.repo.commit(t, "web v2, never ready", map[string]string{"web.yaml": neverReady(2, "v2")})
	f.d.push(t, f.repo, bad, f.key)
	env.Eventually(t, 30*time.Second, "v2 rolling out", func(context.Context) (bool, error) {
		ro := f.get(t).Status.Rollout
		return ro != nil && ro.Revision == bad, nil
	})
	// Nothing left to roll back from: the snapshots gone, and git.
	k := snapshot.Key(daemonNamespace, f.get(t))
	if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.repo.bare, f.repo.bare+".gone"); err != nil {
		t.Fatal(err)
	}
	r := f.ended(t, bad)
	l := logOf(t, r, bad)
	if r.Status.Rollout.Phase != "RollbackFailed" || l.Status != "ROLLBACK_FAILED" || r.Status.Phase != "Failed" ||
		!strings.Contains(stepsOf(l), "rollback FAIL: to "+f.first[:7]+": revision "+f.first[:7]+" has no snapshot and git failed") {
		t.Fatalf("rollout %+v, phase %s; log %s: %s", r.Status.Rollout, r.Status.Phase, l.Status, stepsOf(l))
	}
	waitEvent(t, env, ns, "RolloutRollbackFailed", "shop", "revision "+bad[:7])
	noSuccessFor(t, r, bad)
	if err := os.Rename(f.repo.bare+".gone", f.repo.bare); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 60*time.Second, "the retried rollback", func(context.Context) (bool, error) {
		r = f.get(t)
		return r.Status.Rollout.Phase == "RolledBack", nil
	})
	l = logOf(t, r, bad)
	if l.Status != "ROLLED_BACK" || strings.Count(stepsOf(l), "rollback ") != 1 || !strings.Contains(stepsOf(l), "rollback OK: to "+f.first[:7]) || !strings.Contains(stepsOf(l), "(attempt ") {
		t.Errorf("log %s: %s", l.Status, stepsOf(l))
	}
	env.Eventually(t, 30*time.Second, "web back on v1", func(context.Context) (bool, error) { return f.image() == "registry.local/shop/web:v1", nil })
	noSuccessFor(t, f.get(t), bad)
}
