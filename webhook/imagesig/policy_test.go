package imagesig

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/policy-controller/pkg/apis/policy/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
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
	yes := true
	pem := string(s.PublicPEM)
	for name, tc := range map[string]struct {
		policy *v1beta1.ClusterImagePolicy
		want   string
	}{
		"keyless with the public Fulcio": {cip("p", []string{"*"}, v1beta1.Authority{Name: "fulcio", Keyless: &v1beta1.KeylessRef{URL: apis.HTTPS("fulcio.sigstore.dev"), Identities: []v1beta1.Identity{{Issuer: "i", Subject: "s"}}}}),
			"spec.authorities[0].keyless.url: the public Fulcio is not used"},
		"keyless CA not PEM": {cip("p", []string{"*"}, v1beta1.Authority{Name: "fulcio", Keyless: &v1beta1.KeylessRef{CACert: &v1beta1.KeyRef{Data: "nope"}, InsecureIgnoreSCT: &yes, Identities: []v1beta1.Identity{{Issuer: "i", Subject: "s"}}}}),
			"invalid value: spec.authorities[0].keyless.ca-cert.data: no PEM certificate"},
		"keyless CA in KMS": {cip("p", []string{"*"}, v1beta1.Authority{Name: "fulcio", Keyless: &v1beta1.KeylessRef{CACert: &v1beta1.KeyRef{KMS: "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k"}, InsecureIgnoreSCT: &yes, Identities: []v1beta1.Identity{{Issuer: "i", Subject: "s"}}}}),
			"spec.authorities[0].keyless.ca-cert.kms: not supported"},
		"static": {cip("p", []string{"*"}, v1beta1.Authority{Name: "s", Static: &v1beta1.StaticRef{Action: "pass"}}), "spec.authorities[0].static: not supported"},
		"ctlog": {cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: pem}, CTLog: &v1beta1.TLog{URL: apis.HTTPS("rekor.sigstore.dev")}}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: pem}, RFC3161Timestamp: &v1beta1.RFC3161Timestamp{TrustRootRef: "tsa"}}),
			"spec.authorities[0].ctlog: not supported by bollard yet: verification is offline, without a transparency log; spec.authorities[1].rfc3161timestamp: not supported"},
		"cue attestation policy": {cip("p", []string{"*"}, v1beta1.Authority{Name: "k", Key: &v1beta1.KeyRef{Data: pem},
			Attestations: []v1beta1.Attestation{{Name: "slsa", PredicateType: "slsaprovenance1", Policy: &v1beta1.Policy{Type: "cue", Data: "predicate: {}"}}}}), `spec.authorities[0].attestations[0].policy.type: "cue" is not supported`},
		"rego that does not compile": {cip("p", []string{"*"}, v1beta1.Authority{Name: "k", Key: &v1beta1.KeyRef{Data: pem},
			Attestations: []v1beta1.Attestation{{Name: "slsa", PredicateType: "slsaprovenance1", Policy: &v1beta1.Policy{Type: "rego", Data: "package sigstore\nisCompliant {"}}}}), "rego policy does not compile"},
		"bad key":      {cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: "nope"}}), "invalid ClusterImagePolicy: invalid value: nope: spec.authorities[0].key.data"},
		"kms":          {cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{KMS: "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k"}}), "spec.authorities[0].key.kms: KMS keys are not supported"},
		"invalid glob": {cip("p", []string{"["}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: pem}}), "invalid ClusterImagePolicy: invalid value: [: spec.images[0].glob"},
		"regexp glob":  {cip("p", []string{"registry.local/.+"}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: pem}}), "spec.images[0].glob"},
		"invalid hash": {cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: pem, HashAlgorithm: "shaINVALID"}}), "invalid value: shaINVALID: spec.authorities[0].key.hashAlgorithm"},
		"spec.match":   {&v1beta1.ClusterImagePolicy{Spec: v1beta1.ClusterImagePolicySpec{Images: []v1beta1.ImagePattern{{Glob: "*"}}, Authorities: []v1beta1.Authority{{Key: &v1beta1.KeyRef{Data: pem}}}, Match: []v1beta1.MatchResource{{GroupVersionResource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}}}}}, "spec.match[0]: not supported"},
		"none":         {cip("p", []string{"*"}), "spec.authorities"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Compile(tc.policy, secrets); !strings.Contains(got.Problem, tc.want) {
				t.Errorf("problem %q, want %q", got.Problem, tc.want)
			}
		})
	}
}

// TestHashAlgorithm: a key authority honours key.hashAlgorithm — a signature over a SHA-256
// digest does not verify for a policy that says sha512, and does for one that says sha256.
func TestHashAlgorithm(t *testing.T) {
	s := newSigner(t)
	for alg, want := range map[string]string{"": "", "sha256": "", "SHA256": "", "sha512": "SHA512"} {
		p := Compile(cip("p", []string{"*"}, v1beta1.Authority{Key: &v1beta1.KeyRef{Data: string(s.PublicPEM), HashAlgorithm: alg}}), noSecrets)
		if p.Problem != "" || len(p.Authorities) != 1 {
			t.Fatalf("%q: %s", alg, p.Problem)
		}
		if want == "" {
			want = "SHA-256"
		}
		if !strings.Contains(p.Authorities[0].id, strings.Replace(want, "SHA512", "SHA-512", 1)) {
			t.Errorf("%q: authority %s does not verify with %s", alg, p.Authorities[0].id, want)
		}
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

// FuzzAttestationStatement: whatever a classic attestation's payload holds (DSSE envelope,
// base64, in-toto statement), reading it and evaluating a Rego policy on it ends in a statement
// or an error, never a panic, within the policy's time limit.
func FuzzAttestationStatement(f *testing.F) {
	stmt := base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","predicate":{"runDetails":{"builder":{"id":"https://ci.example/builder"}}}}`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` + stmt + `"}`))
	f.Add([]byte(`{"payload":"` + base64.StdEncoding.EncodeToString([]byte(`{"predicateType":7,"predicate":null}`)) + `"}`))
	f.Add([]byte(`{"payload":"!!"}`))
	f.Add([]byte(`null`))
	s := newSigner(f)
	auth, err := ParseKey("k", s.PublicPEM)
	if err != nil {
		f.Fatal(err)
	}
	auth, err = auth.WithAttestations([]AttestationSpec{{Name: "slsa", PredicateType: "slsaprovenance1", PolicyType: "rego",
		Policy: "package sigstore\nisCompliant { startswith(input.predicate.runDetails.builder.id, \"https://ci.example/\") }"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		sig, err := static.NewSignature(payload, "")
		if err != nil {
			return
		}
		st, err := classicStatement(sig)
		if err != nil {
			return
		}
		_ = auth.Attestations[0].evaluate(context.Background(), st.json)
	})
}
