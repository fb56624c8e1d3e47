package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/test/charttest"
	"bollard.dev/bollard/test/kubetest"
	"bollard.dev/bollard/webhook/admission"
)

// The e2e suite runs the daemon as the chart installs it: with the chart's daemon RBAC (applied
// once per test process into bollard-system), authenticated by a token of the chart's daemon
// ServiceAccount — not as cluster admin — and each test namespace onboarded as the chart's
// daemon.tenants does (the bollard-release ServiceAccount and the two RoleBindings).

const (
	daemonNamespace = "bollard-system"
	// releaseAccount is the chart's daemon.defaultServiceAccount.
	releaseAccount = "bollard-release"
)

var chartIdentity struct {
	once sync.Once
	cfg  *rest.Config
	err  error
}

// daemonConfig is a client configuration authenticated as the chart's daemon ServiceAccount, with
// the chart's RBAC in place.
func daemonConfig(t testing.TB) *rest.Config {
	t.Helper()
	env := kubetest.Get(t)
	chartIdentity.once.Do(func() {
		chartIdentity.cfg, chartIdentity.err = installDaemonIdentity(t, env)
	})
	if chartIdentity.err != nil {
		t.Fatalf("the daemon's identity as the chart installs it: %v", chartIdentity.err)
	}
	return rest.CopyConfig(chartIdentity.cfg)
}

func installDaemonIdentity(t testing.TB, env *kubetest.Env) (*rest.Config, error) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: daemonNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	for _, o := range charttest.Render(t, chartDir, "--namespace", daemonNamespace, "--show-only", "templates/daemon-rbac.yaml") {
		if err := env.Client.Create(ctx, o.DeepCopy()); apierrors.IsAlreadyExists(err) {
			err = env.Client.Patch(ctx, o.DeepCopy(), client.Apply, client.FieldOwner("e2e"), client.ForceOwnership)
		} else if err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: daemonNamespace, Name: "bollard-daemon"}}
	if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	cfg, err := tokenConfig(env, daemonNamespace, sa.Name, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = env.Config.QPS, env.Config.Burst
	return cfg, nil
}

// tokenConfig is a client configuration authenticated by a TokenRequest token of the
// ServiceAccount namespace/name, valid for ttl.
func tokenConfig(env *kubetest.Env, namespace, name string, ttl time.Duration) (*rest.Config, error) {
	tok, err := env.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(ttl.Seconds()))}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token of %s/%s: %w", namespace, name, err)
	}
	return &rest.Config{Host: env.Config.Host, BearerToken: tok.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: env.Config.CAFile, CAData: env.Config.CAData, ServerName: env.Config.ServerName}}, nil
}

// daemonKubeconfig writes daemonConfig as a kubeconfig file (for the daemon as a process).
func daemonKubeconfig(t testing.TB) string {
	t.Helper()
	cfg := daemonConfig(t)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["daemon"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["daemon"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "daemon"}
	kc.CurrentContext = "daemon"
	path := filepath.Join(t.TempDir(), "daemon.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// onboard makes namespaces tenants as the chart's daemon.tenants does.
func onboard(t testing.TB, env *kubetest.Env, namespaces ...string) {
	t.Helper()
	daemonConfig(t) // the ClusterRoles the bindings name
	for _, ns := range namespaces {
		for _, o := range charttest.Render(t, chartDir, "--namespace", daemonNamespace, "--show-only", "templates/tenants.yaml", "--set", "daemon.tenants={"+ns+"}") {
			if err := env.Client.Create(context.Background(), o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("onboard %s: %s %s: %v", ns, o.GetKind(), o.GetName(), err)
			}
		}
	}
}

// receiverSecret copies the test's receiver Secret (namespace/name) where the chart keeps it, in
// the daemon's namespace (the only Secrets the daemon reads as itself), and names the copy.
func receiverSecret(t testing.TB, env *kubetest.Env, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	copied := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: daemonNamespace, Name: ns + "-" + name}}
	var s corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err == nil {
		copied.Data = s.Data
		if err := env.Client.Create(ctx, copied); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), copied) })
	}
	return daemonNamespace + "/" + copied.Name
}

// asReleaseAccount is a client authenticated as ns's bollard-release ServiceAccount by its own
// token: what a tenant holding that token can do.
func asReleaseAccount(t testing.TB, env *kubetest.Env, ns string) client.Client {
	t.Helper()
	cfg, err := tokenConfig(env, ns, releaseAccount, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// impersonatingAsDaemon is a client of a ServiceAccount of ns with ClusterRole edit there (which
// may impersonate the namespace's ServiceAccounts) impersonating the Release's ServiceAccount with
// the daemon's user extra: a tenant trying to pass for the daemon.
func impersonatingAsDaemon(t testing.TB, env *kubetest.Env, ns string) client.Client {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mallory"}}
	if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mallory-edit"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "mallory", Namespace: ns}}}
	if err := env.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cfg, err := tokenConfig(env, ns, "mallory", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + releaseAccount,
		Extra: map[string][]string{admission.ExtraDaemon: {daemonUser}}}
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme(), Mapper: env.Client.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dropFinalizers lets the Releases of namespaces go once their daemon stopped, so the test's
// namespace can be deleted (a daemon deletes its Releases' objects first; no daemon, no deletion).
func dropFinalizers(env *kubetest.Env, namespaces ...string) {
	ctx := context.Background()
	for _, ns := range namespaces {
		var list v1alpha1.ReleaseList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			continue
		}
		for i := range list.Items {
			r := &list.Items[i]
			if len(r.Finalizers) > 0 {
				_ = env.Client.Patch(ctx, r, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
			}
		}
	}
}
