package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler"
	"bollard.dev/bollard/test/kubetest"
)

// labelEnvironment labels namespace ns as environment env.
func labelEnvironment(t *testing.T, env *kubetest.Env, ns, environment string) {
	t.Helper()
	var obj corev1.Namespace
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	obj.Labels[v1alpha1.LabelEnvironment] = environment
	if err := env.Client.Update(context.Background(), &obj); err != nil {
		t.Fatal(err)
	}
}

// TestPromote: `bollard promote --from staging --to production` deploys in production exactly
// the digests staging verified (its DeploymentRecord is the evidence), through production's own
// pre-flight and rollout; production's log links the staging record. A change that failed in
// staging is refused, a freeze in production refuses the promotion, a hand-made promotion
// annotation naming a failed record is refused by the daemon, and deploy --revision is a
// one-off that leaves spec.source.ref alone; a promotion that fails in production rolls back to
// the pin production ran before.
func TestPromote(t *testing.T) {
	t.Parallel()
	env := kubetest.Get(t)
	stg, prd := env.Namespace(t), env.Namespace(t)
	ctx := context.Background()
	labelEnvironment(t, env, stg, "staging")
	labelEnvironment(t, env, prd, "production")
	reg, signer := signingPolicy(t, env, stg)
	v0, v1, v3 := reg.Push(t, "shop/web:v0"), reg.Push(t, "shop/web:v1"), reg.Push(t, "shop/web:v3")
	signer.Sign(t, v0)
	signer.Sign(t, v1)
	signer.Sign(t, v3)
	unsigned := reg.Push(t, "shop/web:v2")
	web := func(tag string) string {
		return strings.Replace(fmt.Sprintf(webYAML, 1, "x"), "registry.local/shop/web:x", reg.Host+"/shop/web:"+tag, 1)
	}
	repo := newGitRepo(t)
	first := repo.commit(t, "staging v1, production v0", map[string]string{"staging/web.yaml": web("v1"), "production/web.yaml": web("v0")})
	startDaemonOpts(t, nil, stg, "receiver", t.TempDir(), func(o *reconciler.Options) { o.VerifyImages = true }, prd)
	// Production proves each version; v3's digest (and only it) fails there.
	smoke := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+v3.DigestStr()[7:19]) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(smoke.Close)
	var stage, prod *releaseFixture
	for _, f := range []struct {
		ns, path string
		into     **releaseFixture
	}{{stg, "staging", &stage}, {prd, "production", &prod}} {
		rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "checkout"},
			Spec: v1alpha1.ReleaseSpec{Source: v1alpha1.GitSource{URL: repo.url(), Path: f.path}, Interval: metav1.Duration{Duration: time.Hour}}}
		if f.ns == prd {
			rel.Spec.Prove = &v1alpha1.Prove{HTTP: &v1alpha1.HTTPProve{URL: smoke.URL + "/smoke/{{version}}"}, Timeout: &metav1.Duration{Duration: 3 * time.Second}}
		}
		if err := env.Client.Create(ctx, rel); err != nil {
			t.Fatal(err)
		}
		*f.into = &releaseFixture{env: env, ns: f.ns, rel: rel}
	}
	stage.ended(t, first)
	prod.ended(t, first)
	if prod.image() != reg.Host+"/shop/web:v0@"+v0.DigestStr() {
		t.Fatalf("production runs %s before any promotion", prod.image())
	}

	var staged v1alpha1.DeploymentLog
	t.Run("the digest staging verified, promoted with production's own rollout", func(t *testing.T) {
		staged = latestLog(t, stage.get(t))
		out, code := bollardCLI(t, env, "promote", "checkout", "--from", "staging", "--to", "production")
		pin := reg.Host + "/shop/web@" + v1.DigestStr()
		for _, want := range []string{
			fmt.Sprintf("promoting from staging (Release %s/checkout, Deployment Log #%d SUCCESS, revision %s", stg, staged.ID, first[:7]),
			"  " + pin + "\n",
			fmt.Sprintf("> **Promoted from**: staging (namespace %s), Release checkout, Deployment Log #%d (revision %s, DeploymentRecord ", stg, staged.ID, first[:7]),
			"🔗 promotion: OK — from staging",
			"🔐 Signature verified (cosign). Digest: " + v1.DigestStr(),
			"**STATUS**: 🟢 SUCCESS.",
		} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("bollard promote (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
		if prod.image() != pin {
			t.Errorf("production runs %s, want %s", prod.image(), pin)
		}
		l := latestLog(t, prod.get(t))
		if l.PromotedFrom == nil || l.PromotedFrom.Namespace != stg || l.PromotedFrom.ID != staged.ID || l.PromotedFrom.Environment != "staging" || l.Environment != "production" {
			t.Errorf("production's log links %+v (environment %q)", l.PromotedFrom, l.Environment)
		}
	})

	t.Run("a change that failed in staging is refused, production untouched", func(t *testing.T) {
		repo.commit(t, "staging v2, unsigned", map[string]string{"staging/web.yaml": web("v2")})
		if out, code := bollardCLI(t, env, "deploy", "checkout", "-n", stg); code != 2 {
			t.Fatalf("staging deploy of an unsigned digest: exit %d\n%s", code, out)
		}
		before := reconciler.LatestID(prod.get(t))
		out, code := bollardCLI(t, env, "promote", "checkout", "--from", "staging", "--to", "production")
		if code != 2 || !strings.Contains(out, "refused: nothing promoted from staging: Deployment Log #") || !strings.Contains(out, "ended REFUSED, not SUCCESS") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if r := prod.get(t); reconciler.LatestID(r) != before || prod.image() != reg.Host+"/shop/web@"+v1.DigestStr() {
			t.Errorf("a refused promotion changed production: log #%d, image %s", reconciler.LatestID(r), prod.image())
		}
		// By hand: the annotations naming the refused record and the unsigned digest. The daemon
		// checks the record before pre-flight and refuses.
		refused := latestLog(t, stage.get(t))
		if refused.Status != v1alpha1.LogRefused {
			t.Fatalf("staging's newest log is %s", refused.Status)
		}
		var records v1alpha1.DeploymentRecordList
		if err := env.Client.List(ctx, &records, client.InNamespace(stg)); err != nil {
			t.Fatal(err)
		}
		refusedRecord := ""
		for _, r := range records.Items {
			if r.Log.ID == refused.ID {
				refusedRecord = r.Name
			}
		}
		forged := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:%q,%q:%q}}}`, v1alpha1.AnnotationArtifact, reg.Host+"/shop/web@"+unsigned.DigestStr(),
			v1alpha1.AnnotationPromotedFrom, stg+"/"+refusedRecord, v1alpha1.AnnotationDeployRequest, time.Now().UTC().Format(time.RFC3339Nano))
		var target v1alpha1.Release
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: prd, Name: "checkout"}, &target); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Patch(ctx, &target, client.RawPatch("application/merge-patch+json", []byte(forged))); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 30*time.Second, "the forged promotion refused", func(context.Context) (bool, error) {
			r := prod.get(t)
			return reconciler.LatestID(r) > before && latestLog(t, r).Status == v1alpha1.LogRefused, nil
		})
		l := latestLog(t, prod.get(t))
		if !strings.Contains(stepsOfGates(l), "promotion FAIL: bollard.dev/promoted-from "+stg+"/") || !strings.Contains(stepsOfGates(l), "ended REFUSED, not SUCCESS") {
			t.Errorf("gates of the forged promotion: %s", stepsOfGates(l))
		}
		if prod.image() != reg.Host+"/shop/web@"+v1.DigestStr() {
			t.Errorf("a forged promotion changed production to %s", prod.image())
		}
	})

	t.Run("a freeze in production refuses the promotion", func(t *testing.T) {
		v3rev := repo.commit(t, "staging v3", map[string]string{"staging/web.yaml": web("v3")})
		if out, code := bollardCLI(t, env, "deploy", "checkout", "-n", stg); code != 0 {
			t.Fatalf("staging deploy of v3: exit %d\n%s", code, out)
		}
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: prd + "-freeze"}, Spec: v1alpha1.DeployPolicySpec{
			Scope: v1alpha1.Scope{Namespaces: []string{prd}}, FreezeWindows: []v1alpha1.FreezeWindow{alwaysFrozen()}}})
		out, code := bollardCLI(t, env, "promote", "checkout", "--from", "staging", "--to", "production")
		if code != 2 || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "frozen") || !strings.Contains(out, "revision "+v3rev[:7]) {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if prod.image() != reg.Host+"/shop/web@"+v1.DigestStr() {
			t.Errorf("a promotion inside a freeze changed production to %s", prod.image())
		}
	})

	t.Run("deploy --revision is a one-off: the spec's ref is not changed", func(t *testing.T) {
		out, code := bollardCLI(t, env, "deploy", "checkout", "-n", stg, "--revision", first)
		if code != 0 || !strings.Contains(out, "📌 revision: OK — "+first+" ("+first[:7]+") asked for by bollard deploy --revision") {
			t.Errorf("deploy --revision: exit %d:\n%s", code, out)
		}
		r := stage.get(t)
		if r.Spec.Source.Ref != "" || stage.image() != reg.Host+"/shop/web:v1@"+v1.DigestStr() {
			t.Errorf("spec.source.ref %q, staging runs %s", r.Spec.Source.Ref, stage.image())
		}
		out, code = bollardCLI(t, env, "deploy", "checkout", "-n", stg)
		if code != 0 || stage.image() != reg.Host+"/shop/web:v3@"+v3.DigestStr() || stage.get(t).Annotations[v1alpha1.AnnotationRevision] != "" {
			t.Errorf("a deploy without --revision: exit %d, staging runs %s:\n%s", code, stage.image(), out)
		}
	})

	t.Run("a promotion that fails in production rolls back to the pin before it", func(t *testing.T) {
		before := reconciler.LatestID(prod.get(t))
		out, code := bollardCLI(t, env, "promote", "checkout", "--from", "staging", "--to", "production")
		v1pin := reg.Host + "/shop/web@" + v1.DigestStr()
		if code != 1 || !strings.Contains(out, "**STATUS**: 🔴 ROLLED_BACK.") || !strings.Contains(out, " with artifact "+v1pin+" (its snapshot") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		r := prod.get(t)
		if prod.image() != v1pin || r.Annotations[v1alpha1.AnnotationArtifact] != v1pin || r.Status.Artifact != v1pin ||
			!strings.HasPrefix(r.Annotations[v1alpha1.AnnotationPromotedFrom], stg+"/") || reconciler.LatestID(r) <= before {
			t.Errorf("after the rollback production runs %s; pin %q from %q; status artifact %q", prod.image(),
				r.Annotations[v1alpha1.AnnotationArtifact], r.Annotations[v1alpha1.AnnotationPromotedFrom], r.Status.Artifact)
		}
		// The restored pin is what runs: a pass brings no new rollout.
		time.Sleep(2 * time.Second)
		if after := reconciler.LatestID(prod.get(t)); after != reconciler.LatestID(r) {
			t.Errorf("a new Deployment Log (#%d) after the rollback", after)
		}
	})

	t.Run("a pin or a revision the target cannot take: refused or failed, never exit 0", func(t *testing.T) {
		out, code := bollardCLI(t, env, "deploy", "checkout", "-n", stg, "--revision", "no-such-tag")
		if code != 1 || !strings.Contains(out, "failed: ") || !strings.Contains(out, "no-such-tag") {
			t.Errorf("--revision no-such-tag: exit %d:\n%s", code, out)
		}
		other := reg.Host + "/other/tool@" + v1.DigestStr()
		out, code = bollardCLI(t, env, "deploy", "checkout", "-n", prd, "--artifact", other)
		if code != 2 || !strings.Contains(out, "no container of the revision runs an image of "+reg.Host+"/other/tool") {
			t.Errorf("--artifact of a repository production does not run: exit %d:\n%s", code, out)
		}
		if prod.image() != reg.Host+"/shop/web@"+v1.DigestStr() {
			t.Errorf("production runs %s", prod.image())
		}
	})
}

// stepsOfGates is a log's gates on one line: "name RESULT: detail | …".
func stepsOfGates(l v1alpha1.DeploymentLog) string {
	return stepsOf(v1alpha1.DeploymentLog{Steps: l.Gates})
}
