package imagesig

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"bollard.dev/bollard/api/policy/v1beta1"
)

func cip(name string, globs []string, authorities ...v1beta1.Authority) *v1beta1.ClusterImagePolicy {
	p := &v1beta1.ClusterImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.ClusterImagePolicySpec{Authorities: authorities}}
	for _, g := range globs {
		p.Spec.Images = append(p.Spec.Images, v1beta1.ImagePattern{Glob: g})
	}
	return p
}

func noSecrets(string, string) (*corev1.Secret, error) { panic("no secrets in this test") }

func TestGlobs(t *testing.T) {
	s := newSigner(t)
	key := v1beta1.Authority{Key: &v1beta1.KeyRef{Data: string(s.PublicPEM)}}
	for _, tc := range []struct {
		glob, image string
		want        bool
	}{
		{"registry.local/shop/*", "registry.local/shop/web:v1", true},
		{"registry.local/shop/*", "registry.local/shop/web@sha256:" + strings.Repeat("a", 64), true},
		{"registry.local/shop/*", "registry.local/shop/team/web:v1", false},
		{"registry.local/**", "registry.local/shop/team/web:v1", true},
		{"ghcr.io/org/app", "ghcr.io/org/app:v2", true},
		{"ghcr.io/org/app", "ghcr.io/org/app2:v2", false},
		{"index.docker.io/library/*", "nginx:1.27", true},
		{"index.docker.io/library/*", "nginx", true},
		// What the runtime pulls, however it is spelled.
		{"docker.io/library/*", "nginx:1.27", true},
		{"index.docker.io/library/*", "DOCKER.IO/library/nginx:1.27", true},
		{"docker.io/library/nginx", "registry-1.docker.io/library/nginx:1.27", true},
		{"docker.io/library/nginx", "index.docker.io/nginx", true},
		{"registry.local/shop/*", "registry.local:443/shop/web:v1", true},
		{"registry.local/shop/*", "REGISTRY.LOCAL/shop/web:v1", true},
		{"registry.local/shop/*", "registry.local./shop/web:v1", true},
		{"registry.local/shop/*", "registry.local:5000/shop/web:v1", false}, // another port is another registry
		{"registry.local/shop/*", "registry.local/shop/../web:v1", false},   // no reference: only the glob on the string
	} {
		if got := Compile(cip("p", []string{tc.glob}, key), noSecrets).Matches(tc.image); got != tc.want {
			t.Errorf("glob %q on %q = %v, want %v", tc.glob, tc.image, got, tc.want)
		}
	}
}

func TestCompileProblems(t *testing.T) {
	s := newSigner(t)
	secrets := func(ns, name string) (*corev1.Secret, error) {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"cosign.pub": s.PublicPEM}}, nil
	}
	ok := Compile(cip("ok", []string{"*"}, v1beta1.Authority{Name: "release", Key: &v1beta1.KeyRef{SecretRef: &corev1.SecretReference{Namespace: "cosign-system", Name: "release-key"}}}), secrets)
	if ok.Problem != "" || len(ok.Authorities) != 1 || ok.Authorities[0].Name != "release" || ok.Mode != "enforce" {
		t.Errorf("secretRef key: %+v", ok)
	}
	for name, tc := range map[string]struct {
		policy *v1beta1.ClusterImagePolicy
		want   string
	}{
		"keyless without CA": {cip("p", []string{"*"}, v1beta1.Authority{Name: "fulcio", Keyless: &v1beta1.KeylessRef{URL: "https://fulcio.local"}}), "fulcio: keyless needs ca-cert"},
		"keyless CA not PEM": {cip("p", []string{"*"}, v1beta1.Authority{Name: "fulcio", Keyless: &v1beta1.KeylessRef{CACert: &v1beta1.KeyRef{Data: "nope"}}}), "ca-cert holds no PEM certificate"},
		"static":             {cip("p", []string{"*"}, v1beta1.Authority{Name: "s", Static: &runtime.RawExtension{Raw: []byte(`{"action":"pass"}`)}}), "s uses static"},
		"cue attestation policy": {cip("p", []string{"*"}, v1beta1.Authority{Name: "k", Key: &v1beta1.KeyRef{Data: string(s.PublicPEM)},
			Attestations: []v1beta1.Attestation{{Name: "slsa", PredicateType: "slsaprovenance1", Policy: &v1beta1.AttestationPolicy{Type: "cue", Data: "predicate: {}"}}}}), `policy type "cue" is not supported`},
		"rego that does not compile": {cip("p", []string{"*"}, v1beta1.Authority{Name: "k", Key: &v1beta1.KeyRef{Data: string(s.PublicPEM)},
			Attestations: []v1beta1.Attestation{{Name: "slsa", PredicateType: "slsaprovenance1", Policy: &v1beta1.AttestationPolicy{Type: "rego", Data: "package sigstore\nisCompliant {"}}}}), "rego policy does not compile"},
		"bad key": {cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: "nope"}}), "authority-0"},
		"kms":     {cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{KMS: "awskms:///x"}}), "KMS"},
		"none":    {cip("p", []string{"*"}), "no authorities"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Compile(tc.policy, secrets); !strings.Contains(got.Problem, tc.want) {
				t.Errorf("problem %q, want %q", got.Problem, tc.want)
			}
		})
	}
}

// FuzzMatchesCanonical is differential: every spelling of a reference that pulls the same image
// (the host's case, a trailing dot, :443, Docker Hub's names) is matched by a policy exactly when
// the reference distribution/reference normalises it to is.
func FuzzMatchesCanonical(f *testing.F) {
	f.Add("registry.local/shop/*", "registry.local", "shop/web:v1")
	f.Add("index.docker.io/library/*", "docker.io", "library/nginx:1.27")
	f.Add("docker.io/library/nginx", "docker.io", "nginx")
	f.Add("ghcr.io/**", "ghcr.io", "org/team/app@sha256:"+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, glob, host, path string) {
		p := Compile(cip("p", []string{glob}), noSecrets)
		if p.Problem != "" && len(p.globs) == 0 {
			return
		}
		want := p.Matches(host + "/" + path)
		canonical, ok := Canonical(host + "/" + path)
		if !ok {
			return
		}
		if got := p.Matches(canonical); got != want {
			t.Errorf("glob %q: %q matches %v, its canonical %q %v", glob, host+"/"+path, want, canonical, got)
		}
		if host != strings.ToLower(host) || !strings.Contains(host, ".") || strings.Contains(host, ":") {
			return // the spellings below are of registry hosts: a dotted lower-case name without a port
		}
		variants := []string{strings.ToUpper(host) + "/" + path, host + "./" + path, host + ":443/" + path}
		if dockerHubHosts[host] {
			variants = append(variants, "registry-1.docker.io/"+path, "index.docker.io/"+path)
		}
		for _, v := range variants {
			if c, ok := Canonical(v); ok && c != canonical {
				t.Errorf("%q canonicalises to %q, %q to %q", v, c, host+"/"+path, canonical)
			} else if ok && p.Matches(v) != want {
				t.Errorf("glob %q: %q matches %v, %q does not", glob, host+"/"+path, want, v)
			}
		}
	})
}
