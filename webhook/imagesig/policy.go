package imagesig

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sigstore/policy-controller/pkg/apis/glob"
	"github.com/sigstore/policy-controller/pkg/apis/policy/common"
	policyv1alpha1 "github.com/sigstore/policy-controller/pkg/apis/policy/v1alpha1"
	"github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	"github.com/sigstore/policy-controller/pkg/apis/signaturealgo"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"knative.dev/pkg/apis"
)

// What is policy-controller's and what is bollard's: the ClusterImagePolicy API (both served
// versions), its defaults, its validation (globs, hashAlgorithm, modes, keys, identities), the
// v1alpha1→v1beta1 conversion, glob compilation and the hash names are sigstore
// policy-controller v0.15.1's own packages. bollard keeps its verification core (offline key,
// keyless and bundle verification, attestation policies, one fetch per digest, the verdict cache)
// and its reference canonicalisation, and says field by field what it does not support yet.

// Policy is a compiled ClusterImagePolicy.
type Policy struct {
	Name string
	// Mode is enforce or warn.
	Mode        string
	Authorities []Authority
	globs       []*regexp.Regexp
	// Registries are the registry hosts the globs name literally ("registry.example" of
	// "registry.example/shop/*"), for setting up their transports ahead.
	Registries []string
	// Problem, when set, says why the policy cannot be evaluated (invalid as policy-controller
	// validates it, a feature bollard does not support, a key that does not parse): images it
	// matches fail with this reason.
	Problem string
}

// SecretReader reads the Secrets that key authorities name.
type SecretReader func(namespace, name string) (*corev1.Secret, error)

// init gives policy-controller's validation of spec.match the resources bollard's webhook sees,
// as policy-controller's own main does for its webhook.
func init() {
	common.ValidResourceNames = sets.NewString("replicasets", "deployments", "pods", "cronjobs", "jobs",
		"statefulsets", "daemonsets", "replicationcontrollers")
}

// Validate is policy-controller's validation of a ClusterImagePolicy (after its defaults), as its
// admission webhook applies it: an error listing every problem with its field path, and the
// warnings it gives (a deprecated predicateType short name). A key Secret must be in
// systemNamespace (bollard's, as policy-controller's must be in its own); "" skips that check.
func Validate(ctx context.Context, cip *v1beta1.ClusterImagePolicy, systemNamespace string) (warnings []string, err error) {
	c := cip.DeepCopy()
	c.SetDefaults(ctx)
	// policy-controller compares secretRef.namespace with knative's process-wide SYSTEM_NAMESPACE;
	// bollard checks it here against its own namespace instead.
	var errs []string
	for i, a := range c.Spec.Authorities {
		refs := map[string]*v1beta1.KeyRef{"key": a.Key}
		if a.Keyless != nil {
			refs["keyless.ca-cert"] = a.Keyless.CACert
		}
		for field, ref := range refs {
			if ref == nil || ref.SecretRef == nil || ref.SecretRef.Namespace == "" {
				continue
			}
			if systemNamespace != "" && ref.SecretRef.Namespace != systemNamespace {
				errs = append(errs, fmt.Sprintf("invalid value: %s: spec.authorities[%d].%s.secretRef.namespace: key Secrets are read only from bollard's namespace %s", ref.SecretRef.Namespace, i, field, systemNamespace))
			}
			ref.SecretRef.Namespace = ""
		}
	}
	// policy-controller validates keyless.ca-cert.data as a public key, so an inline CA chain (what
	// ca-cert holds) can never pass its validation; bollard checks it holds certificates and lets
	// the rest of policy-controller's checks (one of data, secretRef, kms) run on a stand-in key.
	for i, a := range c.Spec.Authorities {
		if a.Keyless == nil || a.Keyless.CACert == nil || a.Keyless.CACert.Data == "" {
			continue
		}
		if certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(a.Keyless.CACert.Data)); err != nil || len(certs) == 0 {
			errs = append(errs, fmt.Sprintf("invalid value: spec.authorities[%d].keyless.ca-cert.data: no PEM certificate (the CA chain)", i))
		}
		a.Keyless.CACert.Data = standInKey
	}
	fe := c.Validate(ctx)
	if e := fe.Filter(apis.ErrorLevel); e != nil {
		errs = append([]string{oneLine(e)}, errs...)
	}
	if w := fe.Filter(apis.WarningLevel); w != nil {
		warnings = append(warnings, oneLine(w))
	}
	if len(errs) > 0 {
		return warnings, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return warnings, nil
}

// standInKey is a P-256 public key that stands in for an inline CA chain in validation.
const standInKey = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZxAfzrQG1EbWyCI8LiSB7YgSFXoI
FNGTyQGKHFc6/H8TQumT9VLS78pUwtv3w7EfKoyFZoP32KrO7nzUy2q6Cw==
-----END PUBLIC KEY-----`

func oneLine(fe *apis.FieldError) string { return strings.ReplaceAll(fe.Error(), "\n", "; ") }

// FromUnstructured reads a ClusterImagePolicy in either version policy-controller serves
// (policy.sigstore.dev/v1alpha1 or v1beta1; the same schema), converted to v1beta1 with
// policy-controller's conversion. A field neither version knows is an error naming it.
func FromUnstructured(obj map[string]any) (*v1beta1.ClusterImagePolicy, error) {
	u := unstructured.Unstructured{Object: obj}
	gvk := u.GroupVersionKind()
	if gvk.Kind != "ClusterImagePolicy" || gvk.Group != v1beta1.SchemeGroupVersion.Group {
		return nil, fmt.Errorf("%s %s is not a ClusterImagePolicy (policy.sigstore.dev/v1alpha1 or v1beta1)", u.GetAPIVersion(), gvk.Kind)
	}
	var out v1beta1.ClusterImagePolicy
	switch gvk.Version {
	case "v1beta1":
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &out, true); err != nil {
			return nil, fmt.Errorf("ClusterImagePolicy %s: %w", u.GetName(), err)
		}
	case "v1alpha1":
		var in policyv1alpha1.ClusterImagePolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj, &in, true); err != nil {
			return nil, fmt.Errorf("ClusterImagePolicy %s: %w", u.GetName(), err)
		}
		if err := in.ConvertTo(context.Background(), &out); err != nil {
			return nil, fmt.Errorf("ClusterImagePolicy %s: converting v1alpha1 to v1beta1: %w", u.GetName(), err)
		}
	default:
		return nil, fmt.Errorf("ClusterImagePolicy %s: version %s is not served (policy.sigstore.dev/v1alpha1 or v1beta1)", u.GetName(), gvk.Version)
	}
	out.APIVersion, out.Kind = v1beta1.SchemeGroupVersion.String(), "ClusterImagePolicy"
	return &out, nil
}

// Compile prepares a ClusterImagePolicy. Problems do not fail the compile: they make every image
// the policy matches fail with a reason that names them (fail closed, but visibly).
func Compile(cip *v1beta1.ClusterImagePolicy, secrets SecretReader) *Policy {
	ctx := context.Background()
	// An invalid policy enforces (its problem denies what it matches) unless it plainly says warn.
	p := &Policy{Name: cip.Name, Mode: "enforce"}
	if cip.Spec.Mode == "warn" {
		p.Mode = "warn"
	}
	// What a policy covers is decided where its globs compile, valid or not (an invalid one then
	// denies what it covers); a glob that does not compile makes the policy invalid.
	var registries []string
	for _, img := range cip.Spec.Images {
		if re, err := glob.Compile(img.Glob); err == nil {
			p.globs = append(p.globs, re)
		}
		if host, _, found := strings.Cut(img.Glob, "/"); found && isHost(host) && !strings.Contains(host, "*") && !slices.Contains(registries, host) {
			registries = append(registries, host)
		}
	}
	if _, err := Validate(ctx, cip, ""); err != nil {
		p.Problem = "invalid ClusterImagePolicy: " + err.Error()
		return p
	}
	p.Registries = registries
	c := cip.DeepCopy()
	c.SetDefaults(ctx)
	problems := Unsupported(c)
	if len(problems) == 0 {
		for i, a := range c.Spec.Authorities {
			auth, err := compileAuthority(fmt.Sprintf("spec.authorities[%d]", i), a, secrets)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			p.Authorities = append(p.Authorities, auth)
		}
	}
	if len(c.Spec.Authorities) == 0 && len(problems) == 0 {
		problems = append(problems, "spec.authorities: none (bollard needs at least one; policy-controller's spec.policy is not supported yet)")
	}
	p.Problem = strings.Join(problems, "; ")
	return p
}

// Unsupported names, field by field, what a valid ClusterImagePolicy asks for that bollard does not
// do yet. A policy using any of them fails closed for the images it matches.
func Unsupported(cip *v1beta1.ClusterImagePolicy) []string {
	var out []string
	no := func(field, why string) { out = append(out, field+": "+why) }
	if cip.Spec.Policy != nil {
		no("spec.policy", "not supported by bollard yet (policies on the whole image are not evaluated): give each authority's attestations a policy")
	}
	for i := range cip.Spec.Match {
		no(fmt.Sprintf("spec.match[%d]", i), "not supported by bollard yet: the policy applies to every pod-making resource the webhook sees")
	}
	for i, a := range cip.Spec.Authorities {
		at := fmt.Sprintf("spec.authorities[%d]", i)
		if a.Static != nil {
			no(at+".static", "not supported by bollard yet")
		}
		if len(a.Sources) > 0 {
			no(at+".source", "not supported by bollard yet: signatures are read beside the image")
		}
		if a.CTLog != nil {
			no(at+".ctlog", "not supported by bollard yet: verification is offline, without a transparency log")
		}
		if a.RFC3161Timestamp != nil {
			no(at+".rfc3161timestamp", "not supported by bollard yet")
		}
		if a.Key != nil && a.Key.KMS != "" {
			no(at+".key.kms", "KMS keys are not supported by bollard yet: give the public key in data or secretRef")
		}
		if k := a.Keyless; k != nil {
			if k.URL != nil {
				no(at+".keyless.url", "the public Fulcio is not used by bollard (air-gapped): give the private CA's chain in ca-cert")
			}
			if k.TrustRootRef != "" {
				no(at+".keyless.trustRootRef", "TrustRoots are not supported by bollard yet: give the CA chain in ca-cert")
			}
			if k.CACert == nil && k.URL == nil && k.TrustRootRef == "" {
				no(at+".keyless.ca-cert", "required by bollard (the private CA's chain): the public Sigstore is not used")
			}
			if k.CACert != nil && k.CACert.KMS != "" {
				no(at+".keyless.ca-cert.kms", "not supported by bollard: give the CA chain in data or secretRef")
			}
			if k.CACert != nil && (k.InsecureIgnoreSCT == nil || !*k.InsecureIgnoreSCT) {
				no(at+".keyless.insecureIgnoreSCT", "must be true: checking SCTs needs a certificate transparency log key (a TrustRoot), which bollard does not read yet")
			}
		}
		for j, att := range a.Attestations {
			pol := att.Policy
			if pol == nil {
				continue
			}
			ap := fmt.Sprintf("%s.attestations[%d].policy", at, j)
			if pol.Type != "rego" {
				no(ap+".type", fmt.Sprintf("%q is not supported by bollard (use rego)", pol.Type))
			}
			if pol.Remote != nil {
				no(ap+".remote", "not supported by bollard (renders and verification fetch nothing remote): give the policy in data")
			}
			if pol.ConfigMapRef != nil {
				no(ap+".configMapRef", "not supported by bollard yet: give the policy in data")
			}
			for field, set := range map[string]*bool{"fetchConfigFile": pol.FetchConfigFile, "includeSpec": pol.IncludeSpec, "includeObjectMeta": pol.IncludeObjectMeta, "includeTypeMeta": pol.IncludeTypeMeta} {
				if set != nil && *set {
					no(ap+"."+field, "not supported by bollard yet")
				}
			}
		}
	}
	return out
}

func compileAuthority(at string, a v1beta1.Authority, secrets SecretReader) (Authority, error) {
	label := a.Name
	if label == "" {
		label = at
	}
	var auth Authority
	var err error
	switch {
	case a.Key != nil:
		pem, err := pemOf(at+".key", a.Key, secrets)
		if err != nil {
			return auth, err
		}
		hash, err := signaturealgo.HashAlgorithm(a.Key.HashAlgorithm)
		if err != nil {
			return auth, fmt.Errorf("%s.key.hashAlgorithm: %w", at, err)
		}
		if auth, err = ParseKeyHash(label, pem, hash); err != nil {
			return auth, fmt.Errorf("%s.key: %w", at, err)
		}
	case a.Keyless != nil:
		k := a.Keyless
		pem, err := pemOf(at+".keyless.ca-cert", k.CACert, secrets)
		if err != nil {
			return auth, err
		}
		ids := make([]Identity, len(k.Identities))
		for i, id := range k.Identities {
			ids[i] = Identity{Issuer: id.Issuer, Subject: id.Subject, IssuerRegExp: id.IssuerRegExp, SubjectRegExp: id.SubjectRegExp}
		}
		if auth, err = NewKeyless(label, pem, ids, k.InsecureIgnoreSCT != nil && *k.InsecureIgnoreSCT); err != nil {
			return auth, fmt.Errorf("%s.keyless: %w", at, err)
		}
	default:
		return auth, fmt.Errorf("%s: neither key nor keyless", at)
	}
	if len(a.Attestations) == 0 {
		return auth, nil
	}
	specs := make([]AttestationSpec, len(a.Attestations))
	for i, att := range a.Attestations {
		specs[i] = AttestationSpec{Name: att.Name, PredicateType: att.PredicateType}
		if pol := att.Policy; pol != nil {
			specs[i].PolicyType, specs[i].Policy = pol.Type, pol.Data
		}
	}
	auth, err = auth.WithAttestations(specs)
	if err != nil {
		return auth, fmt.Errorf("%s.attestations: %w", at, err)
	}
	return auth, nil
}

// pemOf reads a KeyRef's PEM: inline, or the one value of a Secret.
func pemOf(field string, ref *v1beta1.KeyRef, secrets SecretReader) ([]byte, error) {
	if ref.Data != "" {
		return []byte(ref.Data), nil
	}
	if ref.SecretRef == nil {
		return nil, fmt.Errorf("%s: neither data nor secretRef", field)
	}
	s, err := secrets(ref.SecretRef.Namespace, ref.SecretRef.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: Secret %s/%s: %w", field, ref.SecretRef.Namespace, ref.SecretRef.Name, err)
	}
	if len(s.Data) != 1 {
		return nil, fmt.Errorf("%s: Secret %s/%s must hold exactly one value (the PEM), it holds %d", field, s.Namespace, s.Name, len(s.Data))
	}
	for _, pem := range s.Data {
		return pem, nil
	}
	return nil, nil
}

// Matches reports whether image is covered by one of the policy's globs (compiled by
// policy-controller's glob package). The glob is tried on the reference the runtime pulls
// (Canonical: `DOCKER.IO/…`, `registry-1.docker.io/…`, `host:443/…` and `nginx` are what they
// pull) and on its repository alone ("ghcr.io/org/app" covers every tag and digest of that
// repository, where policy-controller would need "ghcr.io/org/app:**" — bollard errs on the side
// of checking), spelled as distribution and as go-containerregistry spell them
// (docker.io/library/nginx, index.docker.io/library/nginx).
func (p *Policy) Matches(image string) bool {
	names := candidates(image)
	for _, re := range p.globs {
		for _, c := range names {
			if re.MatchString(c) {
				return true
			}
		}
	}
	return false
}
