package imagesig

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"bollard.dev/bollard/api/policy/v1beta1"
)

// Policy is a compiled ClusterImagePolicy.
type Policy struct {
	Name string
	// Mode is enforce or warn.
	Mode        string
	Authorities []Authority
	globs       []*regexp.Regexp
	// Problem, when set, says why the policy cannot be evaluated (an unsupported authority, a key
	// that does not parse): images it matches fail with this reason.
	Problem string
}

// SecretReader reads the Secrets that key authorities name.
type SecretReader func(namespace, name string) (*corev1.Secret, error)

// Compile prepares a ClusterImagePolicy. Problems do not fail the compile: they make every image
// the policy matches fail with a reason that names them (fail closed, but visibly).
func Compile(cip *v1beta1.ClusterImagePolicy, secrets SecretReader) *Policy {
	p := &Policy{Name: cip.Name, Mode: cip.Spec.Mode}
	if p.Mode == "" {
		p.Mode = "enforce"
	}
	var problems []string
	if p.Mode != "enforce" && p.Mode != "warn" {
		problems = append(problems, fmt.Sprintf("mode %q: want enforce or warn", p.Mode))
	}
	for _, img := range cip.Spec.Images {
		re, err := globRegexp(img.Glob)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		p.globs = append(p.globs, re)
	}
	for i, a := range cip.Spec.Authorities {
		label := a.Name
		if label == "" {
			label = fmt.Sprintf("authority-%d", i)
		}
		auth, err := compileAuthority(label, a, secrets)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		p.Authorities = append(p.Authorities, auth)
	}
	if cip.Spec.Policy != nil || cip.Spec.Match != nil {
		problems = append(problems, "spec.policy and spec.match are not supported by bollard yet")
	}
	if len(p.Authorities) == 0 && len(problems) == 0 {
		problems = append(problems, "no authorities")
	}
	p.Problem = strings.Join(problems, "; ")
	return p
}

func compileAuthority(label string, a v1beta1.Authority, secrets SecretReader) (Authority, error) {
	var auth Authority
	var err error
	switch {
	case a.Static != nil || a.CTLog != nil || a.RFC3161Timestamp != nil || a.Sources != nil:
		return auth, fmt.Errorf("%s uses static, ctlog, rfc3161timestamp or source, which bollard does not support yet", label)
	case a.Key != nil && a.Keyless != nil:
		return auth, fmt.Errorf("%s has both key and keyless: give one", label)
	case a.Key != nil:
		if a.Key.KMS != "" {
			return auth, fmt.Errorf("%s uses a KMS key, which bollard does not support yet", label)
		}
		pem, err := pemOf(label, "key", a.Key, secrets)
		if err != nil {
			return auth, err
		}
		if auth, err = ParseKey(label, pem); err != nil {
			return auth, err
		}
	case a.Keyless != nil:
		k := a.Keyless
		if k.TrustRootRef != "" {
			return auth, fmt.Errorf("%s: keyless trustRootRef is not supported by bollard yet: give the CA chain in ca-cert", label)
		}
		if k.CACert == nil {
			return auth, fmt.Errorf("%s: keyless needs ca-cert (the private CA's chain): the public Sigstore is not used", label)
		}
		pem, err := pemOf(label, "ca-cert", k.CACert, secrets)
		if err != nil {
			return auth, err
		}
		ids := make([]Identity, len(k.Identities))
		for i, id := range k.Identities {
			ids[i] = Identity{Issuer: id.Issuer, Subject: id.Subject, IssuerRegExp: id.IssuerRegExp, SubjectRegExp: id.SubjectRegExp}
		}
		if auth, err = NewKeyless(label, pem, ids, k.InsecureIgnoreSCT != nil && *k.InsecureIgnoreSCT); err != nil {
			return auth, err
		}
	default:
		return auth, fmt.Errorf("%s has neither key nor keyless", label)
	}
	if len(a.Attestations) == 0 {
		return auth, nil
	}
	specs := make([]AttestationSpec, len(a.Attestations))
	for i, att := range a.Attestations {
		specs[i] = AttestationSpec{Name: att.Name, PredicateType: att.PredicateType}
		if pol := att.Policy; pol != nil {
			if pol.URL != "" || pol.ConfigMapRef != nil {
				return auth, fmt.Errorf("%s: attestation %s: policy url and configMapRef are not supported by bollard yet: give the policy in data", label, att.Name)
			}
			specs[i].PolicyType, specs[i].Policy = pol.Type, pol.Data
		}
	}
	auth, err = auth.WithAttestations(specs)
	return auth, err
}

// pemOf reads a KeyRef's PEM: inline, or the one value of a Secret.
func pemOf(label, field string, ref *v1beta1.KeyRef, secrets SecretReader) ([]byte, error) {
	if ref.Data != "" {
		return []byte(ref.Data), nil
	}
	if ref.SecretRef == nil {
		return nil, fmt.Errorf("%s: %s has neither data nor secretRef", label, field)
	}
	s, err := secrets(ref.SecretRef.Namespace, ref.SecretRef.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %s Secret %s/%s: %w", label, field, ref.SecretRef.Namespace, ref.SecretRef.Name, err)
	}
	if len(s.Data) != 1 {
		return nil, fmt.Errorf("%s: %s Secret %s/%s must hold exactly one value (the PEM), it holds %d", label, field, s.Namespace, s.Name, len(s.Data))
	}
	for _, pem := range s.Data {
		return pem, nil
	}
	return nil, nil
}

// globRegexp follows policy-controller: `*` matches within a path segment, `**` across them.
func globRegexp(glob string) (*regexp.Regexp, error) {
	quoted := regexp.QuoteMeta(glob)
	quoted = strings.ReplaceAll(quoted, `\*\*`, `.*`)
	quoted = strings.ReplaceAll(quoted, `\*`, `[^/]*`)
	re, err := regexp.Compile("^" + quoted + "$")
	if err != nil {
		return nil, fmt.Errorf("glob %q: %w", glob, err)
	}
	return re, nil
}

// Matches reports whether image is covered by one of the policy's globs. The glob is tried on
// the reference the runtime pulls (Canonical: `DOCKER.IO/…`, `registry-1.docker.io/…`,
// `host:443/…` and `nginx` are what they pull) and on its repository alone ("ghcr.io/org/app"
// covers every tag and digest of that repository), spelled as distribution and as
// go-containerregistry spell them (docker.io/library/nginx, index.docker.io/library/nginx).
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
