// Package imagesig verifies that an image's digest carries a valid cosign signature: tags are
// resolved to digests, each distinct digest is verified once per key set (concurrent callers share
// one verification), and verdicts — positive and negative — are cached with TTLs, so the admission
// hot path makes no registry request for a digest it has seen.
//
// Both formats cosign v3 writes verify: classic signatures and Sigstore bundles. This is the
// key-based core; keyless authorities, attestations and the ClusterImagePolicy wiring build on it
// (issue #3).
package imagesig

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/types"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/singleflight"
)

// Key is a public key that may sign images, with the name messages use for it.
type Key struct {
	Name     string
	verifier signature.Verifier
	id       string // sha256 of the PEM: identifies the key in cache keys
}

// ParseKey reads a PEM public key (ECDSA, RSA or Ed25519), as cosign.pub holds it.
func ParseKey(keyName string, pemData []byte) (Key, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemData)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: %w", keyName, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: %w", keyName, err)
	}
	sum := sha256.Sum256(pemData)
	return Key{Name: keyName, verifier: v, id: hex.EncodeToString(sum[:8])}, nil
}

// Verdict is the outcome for one image.
type Verdict struct {
	Image    string `json:"image"`
	Digest   string `json:"digest,omitempty"`
	Verified bool   `json:"verified"`
	// Key names the key whose signature verified.
	Key string `json:"key,omitempty"`
	// Format is the signature format that verified: classic (the .sig tag) or bundle.
	Format string `json:"format,omitempty"`
	// Reason says why not: no signatures, signature does not match key X, registry unreachable, ….
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
}

// Verifier verifies images against keys, with a verdict cache.
type Verifier struct {
	opts   Options
	cache  *cache
	flight singleflight.Group
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
	return &Verifier{opts: opts, cache: newCache(opts.CacheSize)}
}

func (v *Verifier) remoteOptions(ctx context.Context) []remote.Option {
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, v.opts.Remote...)
	return opts
}

// Resolve returns the digest reference of image: itself when it names a digest, else the digest
// its tag points at now (one HEAD request).
func (v *Verifier) Resolve(ctx context.Context, image string) (name.Digest, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q: %w", image, err)
	}
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	desc, err := remote.Head(ref, v.remoteOptions(ctx)...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("resolve %s to a digest: registry unreachable or image missing: %w", image, err)
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// Verify checks that image (by tag or digest) carries a cosign signature by one of keys. Errors
// that keep it from deciding (registry unreachable) are a failed Verdict with that reason, never
// an error return: the caller fails closed on them.
func (v *Verifier) Verify(ctx context.Context, image string, keys []Key) Verdict {
	digest, err := v.Resolve(ctx, image)
	if err != nil {
		return Verdict{Image: image, Reason: err.Error()}
	}
	key := cacheKey(digest, keys)
	if cached, ok := v.cache.get(key, time.Now()); ok {
		cached.Image, cached.Cached = image, true
		return cached
	}
	res, _, _ := v.flight.Do(key, func() (any, error) {
		verdict, registryErr := v.verify(ctx, digest, keys)
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

// verify looks for both formats cosign v3 writes: classic signatures (the sha256-<hex>.sig tag)
// and Sigstore bundles (OCI referrers, or the sha256-<hex> fallback tag), and accepts a signature
// by any of keys in either. It reports whether a failure came from the registry rather than the
// signatures (such a failure is not cached).
func (v *Verifier) verify(ctx context.Context, digest name.Digest, keys []Key) (Verdict, bool) {
	verdict := Verdict{Digest: digest.DigestStr()}
	if len(keys) == 0 {
		verdict.Reason = "no keys to verify with"
		return verdict, false
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	registry := []ociremote.Option{ociremote.WithRemoteOptions(v.remoteOptions(ctx)...)}
	checkOpts := func(k Key) *cosign.CheckOpts {
		return &cosign.CheckOpts{
			SigVerifier: k.verifier,
			// Air-gapped: no transparency log; the key is the trust root.
			IgnoreTlog: true,
			IgnoreSCT:  true,
			// Without it cosign does not check that the signed payload names this digest.
			ClaimVerifier:      cosign.SimpleClaimVerifier,
			RegistryClientOpts: registry,
		}
	}
	var mismatches []string
	found := false

	for _, k := range keys {
		sigs, _, err := cosign.VerifyImageSignatures(ctx, digest, checkOpts(k))
		var noSigs *cosign.ErrNoSignaturesFound
		var noMatch *cosign.ErrNoMatchingSignatures
		switch {
		case err == nil && len(sigs) > 0:
			verdict.Verified, verdict.Key, verdict.Format = true, k.Name, "classic"
			return verdict, false
		case errors.As(err, &noSigs):
		case errors.As(err, &noMatch):
			found = true
			mismatches = append(mismatches, "signature does not match key "+k.Name)
			continue
		case err != nil:
			verdict.Reason = "registry unreachable while reading signatures: " + err.Error()
			return verdict, true
		}
		break // no classic signatures at all: no other key will find one
	}

	bundles, _, err := cosign.GetBundles(ctx, digest, registry)
	var noBundles *cosign.ErrNoMatchingAttestations
	switch {
	case errors.As(err, &noBundles):
	case err != nil:
		verdict.Reason = "registry unreachable while reading signature bundles: " + err.Error()
		return verdict, true
	}
	hexDigest, err := hex.DecodeString(digest.DigestStr()[len("sha256:"):])
	if err != nil {
		verdict.Reason = "digest " + digest.DigestStr() + " is not sha256"
		return verdict, false
	}
	for _, b := range bundles {
		for _, k := range keys {
			res, err := cosign.VerifyNewBundle(ctx, checkOpts(k), verify.WithArtifactDigest("sha256", hexDigest), b)
			switch {
			case err != nil:
				found = true
				mismatches = append(mismatches, "signature bundle does not match key "+k.Name)
			case res.Statement == nil || res.Statement.GetPredicateType() != types.CosignSignPredicateType:
				// An attestation signed with the key (SLSA, SBOM, …) is not a signature of the image.
			default:
				verdict.Verified, verdict.Key, verdict.Format = true, k.Name, "bundle"
				return verdict, false
			}
		}
	}
	if !found {
		verdict.Reason = "no signatures found"
	} else {
		verdict.Reason = strings.Join(dedupe(mismatches), "; ")
	}
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

// cacheKey identifies a verdict: the digest and the set of keys (order does not matter).
func cacheKey(d name.Digest, keys []Key) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.id
	}
	sort.Strings(ids)
	return d.String() + "|" + strings.Join(ids, ",")
}
