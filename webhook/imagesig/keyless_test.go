package imagesig

import (
	"context"
	"strings"
	"testing"

	"bollard.dev/bollard/webhook/imagesig/imagesigtest"
)

const (
	ciIdentity = "https://ci.example/shop/web/.ci/release@refs/heads/main"
	ciIssuer   = "https://oidc.ci.example"
)

func keyless(t *testing.T, ca imagesigtest.CA, ids ...Identity) Authority {
	t.Helper()
	a, err := NewKeyless("ci", ca.ChainPEM, ids, true)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// verdictCase is one image verified against one authority, and what should come of it.
type verdictCase struct {
	name     string
	image    string
	auth     Authority
	verified bool
	format   string
	reason   string
}

func runVerdicts(t *testing.T, cases []verdictCase, check func(t *testing.T, tc verdictCase, got Verdict)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := New(Options{}).Verify(context.Background(), tc.image, []Authority{tc.auth})
			if got.Verified != tc.verified || got.Format != tc.format || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("Verify = %+v, want verified %v format %q reason ~%q", got, tc.verified, tc.format, tc.reason)
			}
			if check != nil {
				check(t, tc, got)
			}
		})
	}
}

func TestKeyless(t *testing.T) {
	reg := newRegistry(t)
	ca, otherCA := imagesigtest.NewCA(t), imagesigtest.NewCA(t)
	classic := reg.Push(t, "shop/web:classic")
	ca.Signer(t, ciIdentity, ciIssuer).Sign(t, classic)
	bundled := reg.Push(t, "shop/web:bundle")
	ca.BundleSigner(t, ciIdentity, ciIssuer).Sign(t, bundled)
	wrongIdentity := reg.Push(t, "shop/web:laptop")
	ca.Signer(t, "dev@example.com", ciIssuer).Sign(t, wrongIdentity)
	wrongIdentityBundle := reg.Push(t, "shop/web:laptop-bundle")
	ca.BundleSigner(t, "dev@example.com", ciIssuer).Sign(t, wrongIdentityBundle)
	foreign := reg.Push(t, "shop/web:foreign")
	otherCA.Signer(t, ciIdentity, ciIssuer).Sign(t, foreign)
	unsigned := reg.Push(t, "shop/web:unsigned")

	exact := keyless(t, ca, Identity{Issuer: ciIssuer, Subject: ciIdentity})
	byRegexp := keyless(t, ca, Identity{Issuer: "https://elsewhere", Subject: ciIdentity}, Identity{IssuerRegExp: `^https://oidc\.ci\.example$`, SubjectRegExp: `^https://ci\.example/shop/`})
	runVerdicts(t, []verdictCase{
		{"classic signature by the CA's certificate", classic.String(), exact, true, "classic", ""},
		{"bundle signed keyless", bundled.String(), exact, true, "bundle", ""},
		{"identity by regular expression (second identity)", classic.String(), byRegexp, true, "classic", ""},
		{"bundle, identity by regular expression", bundled.String(), byRegexp, true, "bundle", ""},
		{"certificate for another identity", wrongIdentity.String(), exact, false, "", "certificate identity not allowed by keyless authority ci"},
		{"bundle for another identity", wrongIdentityBundle.String(), exact, false, "", "certificate identity not allowed by keyless authority ci"},
		{"certificate from another CA", foreign.String(), exact, false, "", "not issued by keyless authority ci's CA"},
		{"unsigned", unsigned.String(), exact, false, "", "no signatures found"},
	}, nil)

	if _, err := NewKeyless("ci", ca.ChainPEM, []Identity{{Issuer: ciIssuer, Subject: ciIdentity}}, false); err == nil || !strings.Contains(err.Error(), "insecureIgnoreSCT") {
		t.Errorf("keyless without a CT log key must say so, got %v", err)
	}
	if _, err := NewKeyless("ci", ca.ChainPEM, nil, true); err == nil || !strings.Contains(err.Error(), "no identities") {
		t.Errorf("keyless without identities: %v", err)
	}
}

// The policy requires provenance from the release builder, as a policy-controller user writes it.
const slsaPolicy = `package sigstore
isCompliant[response] {
	builder := input.predicate.runDetails.builder.id
	response := {"result": builder == "https://ci.example/builder", "error": sprintf("built by %s", [builder])}
}`

func TestAttestations(t *testing.T) {
	reg := newRegistry(t)
	release, bundles, ca := newSigner(t), imagesigtest.NewBundleSigner(t), imagesigtest.NewCA(t)
	good := `{"runDetails":{"builder":{"id":"https://ci.example/builder"}}}`
	bad := `{"runDetails":{"builder":{"id":"https://laptop.example"}}}`

	classic := reg.Push(t, "shop/web:classic")
	release.Attest(t, classic, "https://slsa.dev/provenance/v1", good)
	bundled := reg.Push(t, "shop/web:bundle")
	bundles.Attest(t, bundled, "https://slsa.dev/provenance/v1", good)
	failing := reg.Push(t, "shop/web:failing")
	release.Attest(t, failing, "https://slsa.dev/provenance/v1", bad)
	signedOnly := reg.Push(t, "shop/web:signed")
	release.Sign(t, signedOnly)
	otherType := reg.Push(t, "shop/web:sbom")
	release.Attest(t, otherType, "https://spdx.dev/Document", `{}`)
	keylessAttested := reg.Push(t, "shop/web:keyless")
	ca.Signer(t, ciIdentity, ciIssuer).Attest(t, keylessAttested, "https://slsa.dev/provenance/v1", good)

	slsa := []AttestationSpec{{Name: "provenance", PredicateType: "slsaprovenance1", PolicyType: "rego", Policy: slsaPolicy}}
	withAtts := func(a Authority) Authority {
		t.Helper()
		a, err := a.WithAttestations(slsa)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	keyAuth := withAtts(release.key(t, "release"))
	bundleAuth := withAtts(bundleKey(t, bundles, "release"))
	keylessAuth := withAtts(keyless(t, ca, Identity{Issuer: ciIssuer, Subject: ciIdentity}))
	runVerdicts(t, []verdictCase{
		{"classic attestation passing its policy", classic.String(), keyAuth, true, "classic", ""},
		{"bundle attestation passing its policy", bundled.String(), bundleAuth, true, "bundle", ""},
		{"keyless attestation", keylessAttested.String(), keylessAuth, true, "classic", ""},
		{"attestation failing its policy", failing.String(), keyAuth, false, "", "attestation provenance (https://slsa.dev/provenance/v1) by key release fails its policy: not compliant: built by https://laptop.example"},
		{"a signature is not an attestation", signedOnly.String(), keyAuth, false, "", "attestation provenance (https://slsa.dev/provenance/v1) signed by key release is missing"},
		{"an attestation of another type", otherType.String(), keyAuth, false, "", "is missing"},
		{"attested by another key", classic.String(), withAtts(newSigner(t).key(t, "other")), false, "", "signed by key other is missing (attestation does not match key other)"},
	}, func(t *testing.T, tc verdictCase, got Verdict) {
		if tc.verified && (len(got.Attestations) != 1 || got.Attestations[0] != "provenance") {
			t.Errorf("attestations = %v, want [provenance]", got.Attestations)
		}
	})
}
