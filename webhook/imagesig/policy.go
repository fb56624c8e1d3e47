package imagesig

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"

	"bollard.dev/bollard/api/policy/v1beta1"
)

// Policy is a compiled ClusterImagePolicy.
type Policy struct {
	Name string
	// Mode is enforce or warn.
	Mode  string
	Keys  []Key
	globs []*regexp.Regexp
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
		switch {
		case a.Keyless != nil || a.Static != nil || a.Attestations != nil || a.CTLog != nil || a.RFC3161Timestamp != nil || a.Sources != nil:
			problems = append(problems, label+" uses keyless, static, attestations, ctlog, rfc3161timestamp or source, which bollard does not support yet")
		case a.Key == nil:
			problems = append(problems, label+" has no key")
		case a.Key.KMS != "":
			problems = append(problems, label+" uses a KMS key, which bollard does not support yet")
		default:
			k, err := keyOf(label, a.Key, secrets)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			p.Keys = append(p.Keys, k)
		}
	}
	if cip.Spec.Policy != nil || cip.Spec.Match != nil {
		problems = append(problems, "spec.policy and spec.match are not supported by bollard yet")
	}
	if len(p.Keys) == 0 && len(problems) == 0 {
		problems = append(problems, "no authorities")
	}
	p.Problem = strings.Join(problems, "; ")
	return p
}

func keyOf(label string, ref *v1beta1.KeyRef, secrets SecretReader) (Key, error) {
	if ref.Data != "" {
		return ParseKey(label, []byte(ref.Data))
	}
	if ref.SecretRef == nil {
		return Key{}, fmt.Errorf("%s: key has neither data nor secretRef", label)
	}
	s, err := secrets(ref.SecretRef.Namespace, ref.SecretRef.Name)
	if err != nil {
		return Key{}, fmt.Errorf("%s: key Secret %s/%s: %w", label, ref.SecretRef.Namespace, ref.SecretRef.Name, err)
	}
	if len(s.Data) != 1 {
		return Key{}, fmt.Errorf("%s: key Secret %s/%s must hold exactly one value (the PEM), it holds %d", label, s.Namespace, s.Name, len(s.Data))
	}
	for _, pem := range s.Data {
		return ParseKey(label, pem)
	}
	return Key{}, nil
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
// the full reference and on the repository alone ("ghcr.io/org/app" covers every tag and digest
// of that repository); Docker Hub short names are expanded first (nginx → index.docker.io/library/nginx).
func (p *Policy) Matches(image string) bool {
	ref, err := name.ParseReference(image)
	candidates := []string{image}
	if err == nil {
		candidates = append(candidates, ref.Name(), ref.Context().Name())
	}
	for _, re := range p.globs {
		for _, c := range candidates {
			if re.MatchString(c) {
				return true
			}
		}
	}
	return false
}
