package reconciler

import (
	"fmt"
	"sync"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/webhook/admission"
)

// A Release acts as a ServiceAccount of its own namespace — spec.serviceAccountName, else the
// daemon's default — through impersonation, as Flux and Argo CD do: Kubernetes RBAC, not
// bollard's code, bounds what it can apply, prune, hook, prove, record and read (its git
// credentials). The daemon's own identity only reads, writes Release status, Events and its own
// namespace (snapshots), and impersonates. Every impersonated request carries the user extra
// admission.ExtraDaemon naming the daemon, which only an impersonator can set: bollard's webhook
// tells the daemon's rollbacks and prunes from the tenant's own writes by it.

// identities builds and keeps one client per impersonated ServiceAccount.
type identities struct {
	base    *rest.Config
	options client.Options

	mu      sync.Mutex
	clients map[string]client.Client
}

// serviceAccount is the ServiceAccount rel acts as ("" : the daemon's own identity).
func (r *Reconciler) serviceAccount(rel *v1alpha1.Release) string {
	if rel.Spec.ServiceAccountName != "" {
		return rel.Spec.ServiceAccountName
	}
	return r.DefaultServiceAccount
}

// impersonation is how rel's requests are sent (zero: as the daemon).
func (r *Reconciler) impersonation(rel *v1alpha1.Release) rest.ImpersonationConfig {
	sa := r.serviceAccount(rel)
	if sa == "" {
		return rest.ImpersonationConfig{}
	}
	ic := rest.ImpersonationConfig{UserName: serviceaccount.MakeUsername(rel.Namespace, sa)}
	if r.User.Username != "" {
		ic.Extra = map[string][]string{admission.ExtraDaemon: {r.User.Username}}
	}
	return ic
}

// writer is who the pre-flight decision sees writing rel's objects: what bollard's webhook will
// see when the daemon applies them.
func (r *Reconciler) writer(rel *v1alpha1.Release) admission.User {
	ic := r.impersonation(rel)
	if ic.UserName == "" {
		return r.User
	}
	return admission.User{Username: ic.UserName, Groups: append(serviceaccount.MakeGroupNames(rel.Namespace), "system:authenticated"), Extra: ic.Extra}
}

// clientFor is the client rel writes with: impersonating its ServiceAccount, or the daemon's
// own client when it has none.
func (r *Reconciler) clientFor(rel *v1alpha1.Release) (client.Client, error) {
	ic := r.impersonation(rel)
	if ic.UserName == "" || r.ids == nil {
		return r.Client, nil
	}
	return r.ids.client(ic)
}

func (ids *identities) client(ic rest.ImpersonationConfig) (client.Client, error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if c, ok := ids.clients[ic.UserName]; ok {
		return c, nil
	}
	cfg := rest.CopyConfig(ids.base)
	cfg.Impersonate = ic
	c, err := client.New(cfg, ids.options)
	if err != nil {
		return nil, fmt.Errorf("client as %s: %w", ic.UserName, err)
	}
	if ids.clients == nil {
		ids.clients = map[string]client.Client{}
	}
	ids.clients[ic.UserName] = c
	return c, nil
}
