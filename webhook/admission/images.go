package admission

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/webhook/imagesig"
	"bollard.dev/bollard/webhook/workload"
)

// ImageVerifier verifies one image against authorities (imagesig.Verifier: cached, deduplicated).
type ImageVerifier interface {
	Verify(ctx context.Context, image string, authorities []imagesig.Authority) imagesig.Verdict
}

// GateOption configures a Gate.
type GateOption func(*Gate)

// WithImageVerification turns on the signature gate: images that a ClusterImagePolicy matches
// must verify; noMatch (allow, warn or deny; "" is deny: only signed images) says what happens
// to images no policy matches.
func WithImageVerification(v ImageVerifier, noMatch string) GateOption {
	if noMatch == "" {
		noMatch = "deny"
	}
	return func(g *Gate) { g.images, g.noMatch = v, noMatch }
}

// ImagesInput is what the signature gate found.
type ImagesInput struct {
	// Checked is false when nothing was verified: image verification is off, or an UPDATE left
	// every image as it was.
	Checked       bool         `json:"checked"`
	NoMatchPolicy string       `json:"noMatchPolicy"`
	Checks        []ImageCheck `json:"checks"`
	Unmatched     []ImageRef   `json:"unmatched"`
	// Images are the object's images, each once, in order (for the Deployment Log's evidence
	// when nothing was checked).
	Images []string `json:"-"`
}

// ImageCheck is one image against one ClusterImagePolicy that matches it.
type ImageCheck struct {
	Path      string `json:"path"`
	Image     string `json:"image"`
	Digest    string `json:"digest"`
	Policy    string `json:"policy"`
	Mode      string `json:"mode"`
	Verified  bool   `json:"verified"`
	Authority string `json:"authority"`
	Reason    string `json:"reason"`
	// For the Deployment Log: how it verified, who signed, and the attestations.
	Format   string              `json:"-"`
	Signer   string              `json:"-"`
	Attested []imagesig.Attested `json:"-"`
}

// Summary is one line per image for a Deployment Log: the digest and the policy and authority
// that verified it (or why not), an image no policy matched and the no-match policy applied to
// it, or — when verification is off (enabled false) — that nothing was verified. An UPDATE that
// keeps every image says so.
func (in ImagesInput) Summary(enabled bool) []string {
	if !enabled {
		return []string{"image signatures not verified: verification is off (--verify-images=false)"}
	}
	if !in.Checked {
		return []string{"image signatures not verified again: no image changed"}
	}
	var out []string
	for _, c := range in.Checks {
		switch {
		case c.Verified:
			out = append(out, fmt.Sprintf("%s (%s) verified by ClusterImagePolicy %s, authority %s", c.Image, c.Digest, c.Policy, c.Authority))
		default:
			out = append(out, fmt.Sprintf("%s (%s) NOT verified by ClusterImagePolicy %s (%s mode): %s", c.Image, c.Digest, c.Policy, c.Mode, c.Reason))
		}
	}
	for _, u := range in.Unmatched {
		out = append(out, fmt.Sprintf("%s matches no ClusterImagePolicy: %s (no-match policy)", u.Image, in.NoMatchPolicy))
	}
	return out
}

// Evidence is, per image and matching policy, what the gate established — for the Deployment
// Log. Verified only where an authority verified; otherwise the reason (verification off, no
// policy matched, the check failed, or an UPDATE that kept every image).
func (in ImagesInput) Evidence(enabled bool) []v1alpha1.ArtifactEvidence {
	var out []v1alpha1.ArtifactEvidence
	switch {
	case !enabled:
		for _, image := range in.Images {
			out = append(out, v1alpha1.ArtifactEvidence{Image: image, Reason: "verification is off: --verify-images=false"})
		}
		return out
	case !in.Checked:
		for _, image := range in.Images {
			out = append(out, v1alpha1.ArtifactEvidence{Image: image, Reason: "not verified again: no image changed"})
		}
		return out
	}
	for _, c := range in.Checks {
		e := v1alpha1.ArtifactEvidence{Image: c.Image, Digest: c.Digest, Verified: c.Verified, Policy: c.Policy}
		if c.Verified {
			e.Authority, e.Format = c.Signer, c.Format
			for _, a := range c.Attested {
				e.Attestations = append(e.Attestations, v1alpha1.AttestationEvidence{Name: a.Name, PredicateType: a.PredicateType, Digest: a.Digest, Signer: a.Signer})
			}
		} else {
			e.Reason = fmt.Sprintf("%s mode: %s", c.Mode, c.Reason)
		}
		out = append(out, e)
	}
	for _, u := range in.Unmatched {
		out = append(out, v1alpha1.ArtifactEvidence{Image: u.Image, Reason: "no ClusterImagePolicy matches it; no-match policy: " + in.NoMatchPolicy})
	}
	return out
}

// VerifiesImages tells whether the signature gate is on.
func (g *Gate) VerifiesImages() bool { return g.images != nil }

// ImageRef is an image no policy matches.
type ImageRef struct {
	Path  string `json:"path"`
	Image string `json:"image"`
}

type compiledImagePolicy struct {
	resourceVersion string
	policy          *imagesig.Policy
}

func (g *Gate) imagesInput(ctx context.Context, in *Input, old, cur *workload.Workload) error {
	in.Images = ImagesInput{NoMatchPolicy: g.noMatch, Checks: []ImageCheck{}, Unmatched: []ImageRef{}}
	for _, c := range cur.Containers() {
		if !slices.Contains(in.Images.Images, c.Image) {
			in.Images.Images = append(in.Images.Images, c.Image)
		}
	}
	if g.images == nil || (old != nil && slices.Equal(imageList(old), imageList(cur))) {
		return nil
	}
	in.Images.Checked = true
	policies, err := g.imagePolicies(ctx)
	if err != nil {
		return err
	}
	var authorities [][]imagesig.Authority // authorities[i] verify Checks[i]
	for _, c := range cur.Containers() {
		matched := false
		for _, p := range policies {
			if !p.Matches(c.Image) {
				continue
			}
			matched = true
			in.Images.Checks = append(in.Images.Checks, ImageCheck{Path: c.ImagePath(), Image: c.Image, Policy: p.Name, Mode: p.Mode, Reason: p.Problem})
			authorities = append(authorities, p.Authorities)
		}
		if !matched {
			in.Images.Unmatched = append(in.Images.Unmatched, ImageRef{Path: c.ImagePath(), Image: c.Image})
		}
	}
	// In parallel: the verifier shares the work of equal images and key sets, and answers cached
	// digests without a registry request.
	var wg sync.WaitGroup
	for i := range in.Images.Checks {
		check := &in.Images.Checks[i]
		if check.Reason != "" {
			continue // the policy cannot be evaluated; its problem is the reason
		}
		wg.Go(func() {
			v := g.images.Verify(ctx, check.Image, authorities[i])
			check.Digest, check.Verified, check.Authority, check.Reason = v.Digest, v.Verified, v.Authority, v.Reason
			check.Format, check.Signer, check.Attested = v.Format, v.Signer, v.Attested
		})
	}
	wg.Wait()
	return nil
}

// pins maps each image given by tag whose every check verified to its digest-pinned reference.
func (in ImagesInput) pins() map[string]string {
	pins := map[string]string{}
	failed := map[string]bool{}
	for _, c := range in.Checks {
		switch {
		case strings.Contains(c.Image, "@"):
		case !c.Verified || c.Digest == "":
			failed[c.Image] = true
		default:
			pins[c.Image] = c.Image + "@" + c.Digest
		}
	}
	for image := range failed {
		delete(pins, image)
	}
	if len(pins) == 0 {
		return nil
	}
	return pins
}

func imageList(w *workload.Workload) []string {
	var out []string
	for _, c := range w.Containers() {
		out = append(out, c.Path+"="+c.Image)
	}
	sort.Strings(out)
	return out
}

// imagePolicies returns the cluster's ClusterImagePolicies compiled, sorted by name. The list the
// Cluster returns may be shared (Objects), so it is not sorted in place.
func (g *Gate) imagePolicies(ctx context.Context) ([]*imagesig.Policy, error) {
	cips, err := g.cluster.ImagePolicies(ctx)
	if err != nil {
		return nil, err
	}
	policies := make([]*imagesig.Policy, len(cips))
	for i := range cips {
		policies[i] = g.compileImagePolicy(ctx, &cips[i])
	}
	sort.Slice(policies, func(i, j int) bool { return policies[i].Name < policies[j].Name })
	return policies, nil
}

func (g *Gate) compileImagePolicy(ctx context.Context, cip *v1beta1.ClusterImagePolicy) *imagesig.Policy {
	usesSecrets := false
	for _, a := range cip.Spec.Authorities {
		usesSecrets = usesSecrets || (a.Key != nil && a.Key.SecretRef != nil) || (a.Keyless != nil && a.Keyless.CACert != nil && a.Keyless.CACert.SecretRef != nil)
	}
	// A key in a Secret can change without the policy changing: those policies are compiled per
	// request (parsing a PEM takes microseconds).
	if cip.ResourceVersion != "" && !usesSecrets {
		if c, ok := g.imageCache.Load(cip.Name); ok && c.(compiledImagePolicy).resourceVersion == cip.ResourceVersion {
			return c.(compiledImagePolicy).policy
		}
	}
	p := imagesig.Compile(cip, func(ns, name string) (*corev1.Secret, error) { return g.cluster.Secret(ctx, ns, name) })
	if cip.ResourceVersion != "" && !usesSecrets {
		g.imageCache.Store(cip.Name, compiledImagePolicy{resourceVersion: cip.ResourceVersion, policy: p})
	}
	return p
}

// Pins returns, for each image given by tag that a ClusterImagePolicy matched and that verified,
// the reference pinned to the verified digest ("repo:tag@sha256:…"), keyed by JSON pointer: what
// the mutating endpoint writes so that what runs is what was verified. Requests the gate would
// not check get no pins.
func (g *Gate) Pins(ctx context.Context, req Request) (map[string]string, error) {
	if g.images == nil || exempt(req) != "" || req.Object == nil {
		return nil, nil
	}
	cur, err := workload.FromObject(req.Object)
	if err != nil {
		return nil, nil // the validating call reports it
	}
	policies, err := g.imagePolicies(ctx)
	if err != nil {
		return nil, err
	}
	pins := map[string]string{}
	for _, f := range cur.ImageFields() {
		// No image (the API server rejects such a container) is nothing to pin; one given by digest is pinned already.
		if f.Image == "" || strings.Contains(f.Image, "@") {
			continue
		}
		verified, checked := true, false
		for _, p := range policies {
			if !p.Matches(f.Image) {
				continue
			}
			checked = true
			if p.Problem != "" {
				verified = false
				break
			}
			v := g.images.Verify(ctx, f.Image, p.Authorities)
			if !v.Verified {
				verified = false
				break
			}
			pins[f.Pointer] = f.Image + "@" + v.Digest
		}
		if !checked || !verified {
			delete(pins, f.Pointer)
		}
	}
	return pins, nil
}

// Preparer is an ImageVerifier that can set up the registries the policies name before the first
// admission (imagesig.Verifier.Prepare).
type Preparer interface {
	Prepare(ctx context.Context, hosts []string)
}

// Warm does before Ready what the first admission would otherwise pay for: it compiles the
// cluster's ClusterImagePolicies (keys parsed, globs and attestation policies compiled), sets up
// the transports of the registries their globs name, and runs one decision on a made-up
// Deployment, so the policy engine's lazily built state exists.
func (g *Gate) Warm(ctx context.Context) {
	if g.images != nil {
		policies, _ := g.imagePolicies(ctx)
		if p, ok := g.images.(Preparer); ok {
			var hosts []string
			for _, pol := range policies {
				hosts = append(hosts, pol.Registries...)
			}
			p.Prepare(ctx, hosts)
		}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "bollard-warm-up", "namespace": "bollard-warm-up"},
		"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{}}}}}}
	_, _ = g.Review(ctx, Request{Operation: "CREATE", DryRun: true, User: User{Username: "bollard-warm-up"}, Object: obj})
}
