package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/reconciler/snapshot"
)

// TestReleaseActsAsItsServiceAccount: the daemon (with the chart's RBAC, which cannot write a
// Deployment itself) applies a Release as a ServiceAccount of the Release's namespace, so RBAC
// bounds it: an account without rights writes nothing and the refusal names it; the default
// account (the chart's bollard-release) applies; a target namespace a DeployPolicy allows still
// needs the account to have rights there; the prove Job runs as the account.
func TestReleaseActsAsItsServiceAccount(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	other := env.Namespace(t)
	f.d.stop()
	f.d = startDaemonREST(t, nil, ns, "receiver", f.gitDir, false, other)
	if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nobody"}}); err != nil {
		t.Fatal(err)
	}
	f.create(t, v1alpha1.ReleaseSpec{ServiceAccountName: "nobody"})
	exists := func(namespace, name string, obj client.Object) bool {
		return !apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj))
	}
	setSpec := func(change func(*v1alpha1.ReleaseSpec)) {
		t.Helper()
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			r := f.get(t)
			change(&r.Spec)
			return env.Client.Update(ctx, r)
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("an account without rights: nothing written, the refusal names it", func(t *testing.T) {
		var r *v1alpha1.Release
		env.Eventually(t, 60*time.Second, "the failed sync", func(context.Context) (bool, error) {
			r = f.get(t)
			return r.Status.Phase == "Failed" || r.Status.Phase == "RolledBack" || r.Status.Phase == "Refused", nil
		})
		if want := "system:serviceaccount:" + ns + ":nobody"; !strings.Contains(r.Status.Message, want) || !strings.Contains(r.Status.Message, "forbidden") {
			t.Errorf("status %s %q, want forbidden naming %s", r.Status.Phase, r.Status.Message, want)
		}
		if exists(ns, "web", &appsv1.Deployment{}) {
			t.Error("a Release whose account may not write wrote web")
		}
	})
	t.Run("the default account applies", func(t *testing.T) {
		setSpec(func(s *v1alpha1.ReleaseSpec) { s.ServiceAccountName = "" })
		env.Eventually(t, 60*time.Second, "web applied", func(context.Context) (bool, error) {
			return f.image() == "registry.local/shop/web:v1" && f.get(t).Status.Phase == "Synced", nil
		})
	})
	t.Run("another target allowed by a DeployPolicy still needs RBAC there", func(t *testing.T) {
		createPolicy(t, env, &v1alpha1.DeployPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns + "-targets"}, Spec: v1alpha1.DeployPolicySpec{
			Scope: v1alpha1.Scope{Namespaces: []string{ns}}, Releases: &v1alpha1.ReleasePolicy{TargetNamespaces: []string{other}}}})
		setSpec(func(s *v1alpha1.ReleaseSpec) { s.TargetNamespace = other })
		env.Eventually(t, 60*time.Second, "forbidden in "+other, func(context.Context) (bool, error) {
			r := f.get(t)
			return strings.Contains(r.Status.Message, "forbidden") && strings.Contains(r.Status.Message, "system:serviceaccount:"+ns+":"+releaseAccount), nil
		})
		if exists(other, "web", &appsv1.Deployment{}) {
			t.Error("written into " + other + " without rights there")
		}
		// The administrator of the other namespace lets the account in.
		if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "from-" + ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "bollard-release"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: releaseAccount, Namespace: ns}}}); err != nil {
			t.Fatal(err)
		}
		f.d.push(t, f.repo, f.first, f.key)
		env.Eventually(t, 60*time.Second, "web in "+other, func(context.Context) (bool, error) {
			return exists(other, "web", &appsv1.Deployment{}), nil
		})
		setSpec(func(s *v1alpha1.ReleaseSpec) { s.TargetNamespace = "" })
	})
	t.Run("the prove Job runs as the account", func(t *testing.T) {
		setSpec(func(s *v1alpha1.ReleaseSpec) {
			s.Prove = &v1alpha1.Prove{Job: &batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "smoke", Image: "registry.local/shop/smoke:v1"}}}}}},
				Timeout: &metav1.Duration{Duration: 2 * time.Second}}
		})
		rev := f.commitAndPush(t, "v2", 1)
		env.Eventually(t, 60*time.Second, "the prove Job", func(ctx context.Context) (bool, error) {
			var jobs batchv1.JobList
			if err := env.Client.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{"bollard.dev/prove": "shop"}); err != nil || len(jobs.Items) == 0 {
				return false, err
			}
			if sa := jobs.Items[0].Spec.Template.Spec.ServiceAccountName; sa != releaseAccount {
				t.Fatalf("the prove Job's pods run as %q, want %s", sa, releaseAccount)
			}
			return true, nil
		})
		f.ended(t, rev)
	})
}

// TestReleaseDeletion: deleting a Release with spec.prune (the default) deletes what it applied
// and its snapshots; with prune false its objects stay, no longer labelled as bollard's.
func TestReleaseDeletion(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	for _, prune := range []bool{true, false} {
		f.create(t, v1alpha1.ReleaseSpec{Prune: &prune})
		env.Eventually(t, 60*time.Second, "web applied", func(context.Context) (bool, error) {
			return f.image() == "registry.local/shop/web:v1" && f.get(t).Status.Phase == "Synced", nil
		})
		rel := f.get(t)
		if len(rel.Finalizers) != 1 || rel.Finalizers[0] != "bollard.dev/release" {
			t.Fatalf("finalizers %v", rel.Finalizers)
		}
		if err := env.Client.Delete(ctx, rel); err != nil {
			t.Fatal(err)
		}
		env.Eventually(t, 60*time.Second, "the Release gone", func(ctx context.Context) (bool, error) {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(rel), &v1alpha1.Release{})), nil
		})
		if err := env.Client.Get(ctx, snapshot.Key(daemonNamespace, rel), &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("prune %v: the snapshots are still there: %v", prune, err)
		}
		var dep appsv1.Deployment
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &dep)
		if prune {
			if err == nil && dep.DeletionTimestamp.IsZero() {
				t.Errorf("prune: web is still there")
			}
			env.Eventually(t, 30*time.Second, "web gone", func(ctx context.Context) (bool, error) {
				return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, &appsv1.Deployment{})), nil
			})
			continue
		}
		if err != nil {
			t.Fatalf("prune false: web: %v", err)
		}
		if l := dep.Labels; l["bollard.dev/release"] != "" || l["bollard.dev/release-namespace"] != "" {
			t.Errorf("prune false: web still labelled %v", l)
		}
	}
}

// TestProveTargetsAllowed: a prove check (or Prometheus) outside the daemon's --allowed-hosts is
// never requested: the proof fails saying so, and the server sees nothing.
func TestProveTargetsAllowed(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	// The same server by a name the daemon does not allow (it allows 127.0.0.1).
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/smoke"
	f.create(t, v1alpha1.ReleaseSpec{Prove: &v1alpha1.Prove{HTTP: &v1alpha1.HTTPProve{URL: url}, Timeout: &metav1.Duration{Duration: 2 * time.Second}}})
	r := f.ended(t, f.first)
	if l := logOf(t, r, f.first); !strings.Contains(stepsOf(l), "is not in the daemon's --allowed-hosts (127.0.0.1/32)") {
		t.Errorf("log %s: %s", l.Status, stepsOf(l))
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server outside the allowlist saw %d requests", n)
	}
}

// TestReleaseReceiverEndpoint: a Release with spec.receiver is pushed to at its own endpoint with
// its team's key (the daemon's shared key is refused there); the push is applied.
func TestReleaseReceiverEndpoint(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	ctx := context.Background()
	teamKey := []byte("team-" + f.ns)
	if err := f.env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "web-push"}, Data: map[string][]byte{"secret": teamKey}}); err != nil {
		t.Fatal(err)
	}
	f.create(t, v1alpha1.ReleaseSpec{Receiver: &v1alpha1.ReleaseReceiver{SecretRef: corev1.LocalObjectReference{Name: "web-push"}}})
	f.env.Eventually(t, 60*time.Second, "v1", func(context.Context) (bool, error) { return f.image() == "registry.local/shop/web:v1", nil })
	own := &daemon{receiver: f.d.receiver + "/" + f.ns + "/shop"}
	rev := f.repo.commit(t, "web v2", map[string]string{"web.yaml": fmt.Sprintf(webYAML, 1, "v2")})
	if resp := own.push(t, f.repo, rev, f.key); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the shared key at the Release's endpoint: %s", resp.Status)
	}
	if resp := own.push(t, f.repo, rev, teamKey); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the team's key: %s", resp.Status)
	}
	f.env.Eventually(t, 30*time.Second, "v2 applied", func(context.Context) (bool, error) { return f.image() == "registry.local/shop/web:v2", nil })
}

// TestTenantEscapes: a Release of one tenant targeting kube-system, or whose manifests name
// another tenant's namespace, is refused with the reason and writes nothing there.
func TestTenantEscapes(t *testing.T) {
	t.Parallel()
	f := newReleaseFixture(t, 1)
	env, ns := f.env, f.ns
	ctx := context.Background()
	other := env.Namespace(t)
	f.create(t, v1alpha1.ReleaseSpec{TargetNamespace: "kube-system"})
	env.Eventually(t, 60*time.Second, "refused", func(context.Context) (bool, error) {
		r := f.get(t)
		// (This daemon manages ns only, so it says that first; TestReleaseLane has the DeployPolicy
		// rule for a daemon that manages both.)
		return r.Status.Phase == "Refused" && strings.Contains(r.Status.Message, "spec.targetNamespace kube-system"), nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "web"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("kube-system/web: %v", err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := f.get(t)
		r.Spec.TargetNamespace = ""
		return env.Client.Update(ctx, r)
	}); err != nil {
		t.Fatal(err)
	}
	f.env.Eventually(t, 60*time.Second, "v1 in its own namespace", func(context.Context) (bool, error) { return f.image() == "registry.local/shop/web:v1", nil })
	sneaky := strings.Replace(fmt.Sprintf(webYAML, 1, "v2"), "  name: web\n", "  name: web\n  namespace: "+other+"\n", 1)
	rev := f.repo.commit(t, "web into another tenant", map[string]string{"web.yaml": sneaky})
	f.d.push(t, f.repo, rev, f.key)
	env.Eventually(t, 30*time.Second, "refused", func(context.Context) (bool, error) {
		r := f.get(t)
		return r.Status.Phase == "Refused" && r.Status.DesiredRevision == rev && strings.Contains(r.Status.Message, "is in namespace "+other+": this Release deploys into "+ns+" only"), nil
	})
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: other, Name: "web"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s/web: %v", other, err)
	}
}
