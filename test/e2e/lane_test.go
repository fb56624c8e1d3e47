package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// TestReleaseLane: a Release deploys into its own namespace — one naming another target is
// refused with nothing written there, until a DeployPolicy allows that target — and its
// migration writes the schema version only where a DeployPolicy's schema source reads it, in its
// own namespace.
func TestReleaseLane(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	other := env.Namespace(t)
	f.d.stop() // a daemon that watches both namespaces
	f.d = startDaemonREST(t, nil, ns, "receiver", f.gitDir, false, other)
	f.create(t, v1alpha1.ReleaseSpec{TargetNamespace: other})
	exists := func(namespace, name string, obj client.Object) bool {
		return !apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj))
	}

	t.Run("another namespace as target: refused, nothing written there", func(t *testing.T) {
		var r *v1alpha1.Release
		env.Eventually(t, 30*time.Second, "the refusal", func(context.Context) (bool, error) {
			r = f.get(t)
			return r.Status.Phase == "Refused", nil
		})
		if want := "spec.targetNamespace " + other + ": a Release of namespace " + ns + " deploys into " + ns + " only"; !strings.Contains(r.Status.Message, want) {
			t.Errorf("status %q lacks %q", r.Status.Message, want)
		}
		time.Sleep(time.Second)
		if exists(other, "web", &appsv1.Deployment{}) {
			t.Error("the refused Release wrote into " + other)
		}
	})
	t.Run("allowed by a DeployPolicy (and RBAC): applied there", func(t *testing.T) {
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-targets"}, Spec: v1alpha1.DeployPolicySpec{
			Scope: v1alpha1.Scope{Namespaces: []string{ns}}, Releases: &v1alpha1.ReleasePolicy{TargetNamespaces: []string{other}}}})
		if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "from-" + ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "bollard-release"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: releaseAccount, Namespace: ns}}}); err != nil {
			t.Fatal(err)
		}
		f.d.push(t, f.repo, f.first, f.key)
		env.Eventually(t, 30*time.Second, "web in "+other, func(context.Context) (bool, error) {
			return exists(other, "web", &appsv1.Deployment{}), nil
		})
	})
	t.Run("a migration record outside the lane is not written", func(t *testing.T) {
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			r := f.get(t)
			r.Spec.TargetNamespace = ""
			r.Spec.Migration = &v1alpha1.Migration{Job: "migrate", SchemaVersion: "44",
				Record: v1alpha1.ConfigMapKeyRef{Namespace: other, Name: "db-schema", Key: "version"}}
			return env.Client.Update(ctx, r)
		}); err != nil {
			t.Fatal(err)
		}
		rev := f.repo.commit(t, "migrate to 44", map[string]string{"migrate.yaml": migrateJob, "web.yaml": fmt.Sprintf(webYAML, 1, "v2")})
		f.d.push(t, f.repo, rev, f.key)
		r := f.ended(t, rev)
		if got := stepsOf(logOf(t, r, rev)); !strings.Contains(got, "migration FAIL: schema version 44 not recorded: the record ConfigMap "+other+"/db-schema is outside the Release's namespace "+ns) {
			t.Errorf("log: %s", got)
		}
		if exists(other, "db-schema", &corev1.ConfigMap{}) {
			t.Error("the migration wrote a ConfigMap outside the Release's namespace")
		}
	})
	t.Run("in its own namespace, only where a DeployPolicy reads the schema", func(t *testing.T) {
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			r := f.get(t)
			r.Spec.Migration.Record.Namespace = ""
			return env.Client.Update(ctx, r)
		}); err != nil {
			t.Fatal(err)
		}
		rev := f.repo.commit(t, "migrate to 44 again", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 1, "v3")})
		f.d.push(t, f.repo, rev, f.key)
		r := f.ended(t, rev)
		if got := stepsOf(logOf(t, r, rev)); !strings.Contains(got, "no DeployPolicy for namespace "+ns+" reads its schema version from ConfigMap "+ns+"/db-schema key version") {
			t.Errorf("log: %s", got)
		}
		if exists(ns, "db-schema", &corev1.ConfigMap{}) {
			t.Error("the migration wrote a ConfigMap no DeployPolicy reads")
		}
	})
}

// TestCredentialsRedacted: credentials planted in a Release's git URL appear in none of what the
// daemon writes — status, conditions, Events — while the failure is still named.
func TestCredentialsRedacted(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	rel := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}, Spec: v1alpha1.ReleaseSpec{
		Source: v1alpha1.GitSource{URL: "http://bollard:planted-s3cret@127.0.0.1:1/shop.git"}, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := env.Client.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	var r v1alpha1.Release
	env.Eventually(t, 30*time.Second, "the fetch failure", func(ctx context.Context) (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &r)
		return err == nil && r.Status.Phase == "Failed", err
	})
	waitEvent(t, env, ns, "FetchFailed", "shop", "http://***@127.0.0.1:1/shop.git")
	var events corev1.EventList
	if err := env.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	status := fmt.Sprintf("%+v", r.Status)
	for _, e := range events.Items {
		status += "\n" + e.Message
	}
	if strings.Contains(status, "planted-s3cret") || !strings.Contains(r.Status.Message, "http://***@127.0.0.1:1/shop.git") {
		t.Errorf("status and Events:\n%s", status)
	}
}

// TestHermeticRender: a kustomization that would pull a file from the network (here a loopback
// server standing in for a metadata endpoint) is refused with the reason; the server sees no
// request.
func TestHermeticRender(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, "token-from-the-network")
	}))
	t.Cleanup(srv.Close)
	f.repo.commit(t, "kustomize, pulling a file from the network", map[string]string{
		"kustomization.yaml": "resources: [web.yaml]\nconfigMapGenerator:\n- name: meta\n  files: [token=" + srv.URL + "/latest/meta-data/token]\n"})
	f.create(t, v1alpha1.ReleaseSpec{})
	var r *v1alpha1.Release
	f.env.Eventually(t, 30*time.Second, "the refusal", func(context.Context) (bool, error) {
		r = f.get(t)
		return r.Status.Phase == "Refused", nil
	})
	if want := `configMapGenerator.files "` + srv.URL + `/latest/meta-data/token" reaches outside the revision`; !strings.Contains(r.Status.Message, want) {
		t.Errorf("status %q lacks %q", r.Status.Message, want)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the render reached the network: %d requests", n)
	}
}

// TestSlowGitHoldsUpNobody: a Release whose git server accepts and never answers does not delay
// another Release's push.
func TestSlowGitHoldsUpNobody(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			held = append(held, c) // never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	f.create(t, v1alpha1.ReleaseSpec{})
	if r := f.ended(t, f.first); r.Status.Rollout.Phase != "Succeeded" {
		t.Fatalf("first rollout %+v", r.Status.Rollout)
	}
	slow := &v1alpha1.Release{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slow"}, Spec: v1alpha1.ReleaseSpec{
		Source: v1alpha1.GitSource{URL: "http://" + l.Addr().String() + "/slow.git"}, Interval: metav1.Duration{Duration: time.Hour}}}
	if err := env.Client.Create(ctx, slow); err != nil {
		t.Fatal(err)
	}
	env.Eventually(t, 30*time.Second, "the slow Release's fetch hanging", func(context.Context) (bool, error) { return accepted.Load() > 0, nil })
	start := time.Now()
	f.commitAndPush(t, "v2", 1)
	env.Eventually(t, 30*time.Second, "web v2", func(context.Context) (bool, error) { return f.image() == "registry.local/shop/web:v2", nil })
	// The hang lasts the fetch timeout (2 minutes): anything near that is queued behind it. (A
	// push alone is applied in about a second on 2 cores: BenchmarkDaemonPushToApplied.)
	took := time.Since(start)
	t.Logf("push applied in %s beside a hanging fetch", took)
	if took > 10*time.Second {
		t.Errorf("the push was applied after %s, behind the hanging fetch", took)
	}
}

// TestTargetOutsideTheDaemon: a Release allowed to target a namespace the daemon does not manage
// (--namespaces) is refused with the reason, instead of failing without a status.
func TestTargetOutsideTheDaemon(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	other := f.env.Namespace(t)
	createPolicy(t, f.env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-targets"}, Spec: v1alpha1.DeployPolicySpec{
		Scope: v1alpha1.Scope{Namespaces: []string{f.ns}}, Releases: &v1alpha1.ReleasePolicy{TargetNamespaces: []string{other}}}})
	f.create(t, v1alpha1.ReleaseSpec{TargetNamespace: other})
	var r *v1alpha1.Release
	f.env.Eventually(t, 30*time.Second, "the refusal", func(context.Context) (bool, error) {
		r = f.get(t)
		return r.Status.Phase == "Refused", nil
	})
	if want := "spec.targetNamespace " + other + " is outside the namespaces this daemon manages (" + f.ns + ")"; !strings.Contains(r.Status.Message, want) {
		t.Errorf("status %q lacks %q", r.Status.Message, want)
	}
}
