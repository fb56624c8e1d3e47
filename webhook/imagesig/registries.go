package imagesig

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registries keeps, per registry that needs no per-repository token (anonymous or basic auth),
// one authenticated transport: every repository of it is then read without the ping and
// handshake go-containerregistry otherwise does per repository. Registries with bearer tokens
// (scoped to a repository) keep the per-repository set-up of the Puller.
type registries struct {
	mu sync.Mutex
	m  map[string]*registryEntry
}

type registryEntry struct {
	once   sync.Once
	rt     http.RoundTripper // nil: no registry-wide transport (bearer tokens, or unreachable)
	failed bool              // the ping failed: asked again next time
}

// transport returns reg's registry-wide transport, pinging it on first use, or nil.
func (r *registries) transport(ctx context.Context, reg name.Registry) http.RoundTripper {
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]*registryEntry{}
	}
	e, ok := r.m[reg.RegistryStr()]
	if !ok {
		e = &registryEntry{}
		r.m[reg.RegistryStr()] = e
	}
	r.mu.Unlock()
	e.once.Do(func() {
		base := transport.NewRetry(remote.DefaultTransport)
		pr, err := transport.Ping(ctx, reg, base)
		if err != nil {
			e.failed = true
			return
		}
		if strings.EqualFold(pr.Scheme, "bearer") {
			return
		}
		auth, err := authn.Resolve(ctx, authn.DefaultKeychain, reg)
		if err != nil {
			return
		}
		if rt, err := transport.NewWithContext(ctx, reg, auth, base, nil); err == nil {
			e.rt = rt
		}
	})
	if e.failed {
		r.mu.Lock()
		if r.m[reg.RegistryStr()] == e {
			delete(r.m, reg.RegistryStr())
		}
		r.mu.Unlock()
	}
	return e.rt
}
