// Package imagesig verifies that an image's digest is trusted by an authority — signed by a key,
// or by a certificate a private Fulcio-style CA issued to an allowed identity, or carrying the
// attestations the authority asks for, passing their Rego policies. Tags are resolved to digests,
// each distinct digest is verified once per authority set (concurrent callers share one
// verification), and verdicts — positive and negative — are cached with TTLs, so the admission
// hot path makes no registry request for a digest it has seen.
//
// Both formats cosign v3 writes verify: classic signatures and attestations (.sig/.att tags) and
// Sigstore bundles (OCI referrers or the sha256-<hex> fallback tag); verification is offline.
package imagesig

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"golang.org/x/sync/singleflight"
)

// Verdict is the outcome for one image.
type Verdict struct {
	Image    string `json:"image"`
	Digest   string `json:"digest,omitempty"`
	Verified bool   `json:"verified"`
	// Authority names the authority (key, keyless CA) that verified.
	Authority string `json:"authority,omitempty"`
	// Format is the signature format that verified: classic (the .sig or .att tag) or bundle.
	Format string `json:"format,omitempty"`
	// Signer is who signed: "key NAME", or "keyless authority NAME: IDENTITY (issuer ISSUER)".
	Signer string `json:"signer,omitempty"`
	// Attestations names the attestations that verified, when the authority asks for them.
	Attestations []string `json:"attestations,omitempty"`
	// Attested is each of them: predicate type, the statement's digest, its signer.
	Attested []Attested `json:"attested,omitempty"`
	// Reason says why not: no signatures, signature does not match key X, certificate identity
	// not allowed, attestation missing or failing its policy, registry unreachable, ….
	Reason string `json:"reason,omitempty"`
	// Cached is true when no registry request was made.
	Cached bool `json:"cached"`
}

// Options tune a Verifier.
type Options struct {
	// Remote are go-containerregistry options for every registry call (transport, auth). Without
	// an auth option the default keychain is used.
	Remote []remote.Option
	// Timeout bounds the registry work of one verification; keep it inside the webhook's timeout.
	Timeout time.Duration
	// PositiveTTL and NegativeTTL bound how long verdicts are reused; NegativeTTL is short so a
	// signature pushed after a denial is seen soon. Zero picks 10 min and 30 s.
	PositiveTTL, NegativeTTL time.Duration
	// CacheSize bounds the verdict cache (entries); zero picks 10,000.
	CacheSize int
	// TagTTL is how long a tag's digest is reused without asking the registry again, so a tag
	// admitted a moment ago is admitted during a registry blip; zero picks 30 s, negative turns it
	// off. It never exceeds PositiveTTL.
	TagTTL time.Duration
}

// Verifier verifies images against keys, with a verdict cache.
type Verifier struct {
	opts Options
	// puller keeps each repository's authenticated transport (one ping and token exchange per
	// repository, not per request).
	puller *remote.Puller
	// registries are the registry-wide transports of registries without per-repository tokens.
	registries registries
	cache      *cache
	tags       *cache // tag reference → Verdict{Digest} for TagTTL
	flight     singleflight.Group
}

// New returns a Verifier.
func New(opts Options) *Verifier {
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.PositiveTTL == 0 {
		opts.PositiveTTL = 10 * time.Minute
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = 30 * time.Second
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10_000
	}
	if opts.TagTTL == 0 {
		opts.TagTTL = 30 * time.Second
	}
	opts.TagTTL = min(opts.TagTTL, opts.PositiveTTL)
	v := &Verifier{opts: opts, cache: newCache(opts.CacheSize), tags: newCache(opts.CacheSize)}
	puller, err := remote.NewPuller(append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts.Remote...)...)
	if err == nil { // an option that does not apply: every call builds its transport instead
		v.puller = puller
	}
	return v
}

// remoteOptions are the options for reading reg: its registry-wide transport when it has one (no
// ping, no handshake per repository), else the kept per-repository transports of the Puller.
func (v *Verifier) remoteOptions(ctx context.Context, reg name.Registry) []remote.Option {
	if len(v.opts.Remote) == 0 {
		if rt := v.registries.transport(ctx, reg); rt != nil {
			return []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
		}
	}
	if v.puller != nil {
		return []remote.Option{remote.WithContext(ctx), remote.Reuse(v.puller)}
	}
	return append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, v.opts.Remote...)
}

// Prepare sets up, before the first admission, the transports of the registries named (hosts,
// "registry.example" or "127.0.0.1:5000"): a registry without per-repository tokens is pinged
// once here instead of once per repository on first use. Names that are no registry are skipped.
func (v *Verifier) Prepare(ctx context.Context, hosts []string) {
	if len(v.opts.Remote) > 0 {
		return
	}
	// Bounded: a registry that does not answer delays readiness by 2 s at most, and is set up on
	// first use instead.
	ctx, cancel := context.WithTimeout(ctx, min(v.opts.Timeout, 2*time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range hosts {
		reg, err := name.NewRegistry(h)
		if err != nil {
			continue
		}
		wg.Go(func() { v.registries.transport(ctx, reg) })
	}
	wg.Wait()
}

// Resolve returns the digest reference of image: itself when it names a digest, else the digest
// its tag points at (one HEAD request, reused for TagTTL).
func (v *Verifier) Resolve(ctx context.Context, image string) (name.Digest, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q: %w", image, err)
	}
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	now := time.Now()
	if v.opts.TagTTL > 0 {
		if hit, ok := v.tags.get(ref.Name(), now); ok {
			return ref.Context().Digest(hit.Digest), nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	desc, err := remote.Head(ref, v.remoteOptions(ctx, ref.Context().Registry)...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("resolve %s to a digest: registry unreachable or image missing: %w", image, err)
	}
	if v.opts.TagTTL > 0 {
		v.tags.put(ref.Name(), Verdict{Digest: desc.Digest.String()}, now.Add(v.opts.TagTTL))
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// Verify checks that image (by tag or digest) is trusted by one of authorities: signed, or
// carrying the attestations the authority asks for. Errors that keep it from deciding (registry
// unreachable) are a failed Verdict with that reason, never an error return: the caller fails
// closed on them.
func (v *Verifier) Verify(ctx context.Context, image string, authorities []Authority) Verdict {
	digest, err := v.Resolve(ctx, image)
	if err != nil {
		return Verdict{Image: image, Reason: err.Error()}
	}
	key := cacheKey(digest, authorities)
	if cached, ok := v.cache.get(key, time.Now()); ok {
		cached.Image, cached.Cached = image, true
		return cached
	}
	res, _, _ := v.flight.Do(key, func() (any, error) {
		verdict, registryErr := v.verify(ctx, digest, authorities)
		ttl := v.opts.PositiveTTL
		if !verdict.Verified {
			ttl = v.opts.NegativeTTL
		}
		// A registry outage is not a verdict about the image: don't remember it.
		if !registryErr {
			v.cache.put(key, verdict, time.Now().Add(ttl))
		}
		return verdict, nil
	})
	verdict := res.(Verdict)
	verdict.Image = image
	return verdict
}

// registryError is a failure to read from the registry: not a verdict about the image.
type registryError struct{ error }

// verify tries each authority in turn against what is attached to the digest, fetched once: the
// classic signature and attestation tags (sha256-<hex>.sig, .att) and the Sigstore bundles
// (OCI referrers, or the sha256-<hex> fallback tag). It reports whether a failure came from the
// registry rather than the signatures (such a failure is not cached).
func (v *Verifier) verify(ctx context.Context, digest name.Digest, authorities []Authority) (Verdict, bool) {
	verdict := Verdict{Digest: digest.DigestStr()}
	if len(authorities) == 0 {
		verdict.Reason = "no authorities to verify with"
		return verdict, false
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	att := &attached{digest: digest, registry: []ociremote.Option{ociremote.WithRemoteOptions(v.remoteOptions(ctx, digest.Context().Registry)...)}}
	var reasons []string
	for _, a := range authorities {
		var res result
		var err error
		if len(a.Attestations) > 0 {
			res, err = att.checkAttestations(ctx, a)
		} else {
			res, err = att.checkSignature(ctx, a)
		}
		if err != nil {
			verdict.Reason = "registry unreachable while reading " + err.Error()
			return verdict, true
		}
		if res.reason == "" {
			verdict.Verified, verdict.Authority, verdict.Format, verdict.Signer, verdict.Attested = true, a.Name, res.format, res.signer, res.attestations
			for _, at := range res.attestations {
				if !slices.Contains(verdict.Attestations, at.Name) {
					verdict.Attestations = append(verdict.Attestations, at.Name)
				}
			}
			return verdict, false
		}
		reasons = append(reasons, res.reason)
	}
	verdict.Reason = strings.Join(dedupe(reasons), "; ")
	return verdict, false
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// cacheKey identifies a verdict: the digest and the set of authorities (order does not matter).
func cacheKey(d name.Digest, authorities []Authority) string {
	ids := make([]string, len(authorities))
	for i, a := range authorities {
		ids[i] = a.id
	}
	sort.Strings(ids)
	return d.String() + "|" + strings.Join(ids, ",")
}
