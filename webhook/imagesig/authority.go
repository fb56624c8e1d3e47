package imagesig

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"bollard.dev/bollard/internal/regosafe"
)

// Authority is one way an image may be trusted: signed by a key, or by a certificate that a
// private Fulcio-style CA issued to an allowed identity (keyless). With Attestations, the
// authority checks those instead of the signature, as policy-controller does.
type Authority struct {
	Name         string
	key          signature.Verifier   // key authority
	trust        root.TrustedMaterial // keyless authority: the CA chain
	identities   []cosign.Identity    // keyless: any one must match the certificate
	ignoreSCT    bool                 // keyless: no certificate transparency log to check against
	Attestations []Attestation        // when set, what must be attached instead of a signature
	id           string               // identifies the authority (key, CA, identities, policies) in cache keys
}

// Attestation is an in-toto statement of PredicateType that must be attached to the digest,
// signed by the authority, and pass Policy (when set).
type Attestation struct {
	Name          string
	PredicateType string
	policy        *rego.PreparedEvalQuery
}

// ParseKey reads a PEM public key (ECDSA, RSA or Ed25519), as cosign.pub holds it, for signatures
// over a SHA-256 digest (cosign's default).
func ParseKey(authorityName string, pemData []byte) (Authority, error) {
	return ParseKeyHash(authorityName, pemData, crypto.SHA256)
}

// ParseKeyHash is ParseKey for signatures over another digest (a policy's key.hashAlgorithm,
// `cosign sign --signature-digest-algorithm`): a signature over any other digest does not verify.
func ParseKeyHash(authorityName string, pemData []byte, hash crypto.Hash) (Authority, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemData)
	if err != nil {
		return Authority{}, fmt.Errorf("key %s: %w", authorityName, err)
	}
	v, err := signature.LoadVerifier(pub, hash)
	if err != nil {
		return Authority{}, fmt.Errorf("key %s: %w", authorityName, err)
	}
	return Authority{Name: authorityName, key: v, id: "key:" + digestOf(pemData) + ":" + hash.String()}, nil
}

// Identity is an OIDC issuer and subject the signing certificate must carry, each exact or by
// regular expression.
type Identity = cosign.Identity

// NewKeyless trusts certificates that chain to the CA in caPEM (a root, optionally followed by
// intermediates — either order) and carry one of identities. ignoreSCT must be true while no
// certificate transparency log key can be configured (bollard does not read TrustRoots yet).
func NewKeyless(authorityName string, caPEM []byte, identities []Identity, ignoreSCT bool) (Authority, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(caPEM)
	if err != nil || len(certs) == 0 {
		return Authority{}, fmt.Errorf("keyless %s: ca-cert holds no PEM certificate: %v", authorityName, err)
	}
	if len(identities) == 0 {
		return Authority{}, fmt.Errorf("keyless %s: no identities: without them any certificate the CA issued would do", authorityName)
	}
	if !ignoreSCT {
		return Authority{}, fmt.Errorf("keyless %s: checking SCTs needs a certificate transparency log key (a TrustRoot), which bollard does not read yet; set insecureIgnoreSCT: true for a private CA without a CT log", authorityName)
	}
	ca := &root.FulcioCertificateAuthority{}
	for _, c := range certs {
		if isSelfSigned(c) {
			ca.Root = c
		} else {
			ca.Intermediates = append(ca.Intermediates, c)
		}
	}
	if ca.Root == nil {
		return Authority{}, fmt.Errorf("keyless %s: ca-cert has no self-signed root certificate", authorityName)
	}
	// sigstore-go wants the intermediates leaf-side first.
	sort.SliceStable(ca.Intermediates, func(i, j int) bool {
		return chainDepth(ca.Intermediates[i], certs) > chainDepth(ca.Intermediates[j], certs)
	})
	trusted, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{ca}, nil, nil, nil)
	if err != nil {
		return Authority{}, fmt.Errorf("keyless %s: %w", authorityName, err)
	}
	for _, id := range identities {
		if id.Issuer == "" && id.IssuerRegExp == "" || id.Subject == "" && id.SubjectRegExp == "" {
			return Authority{}, fmt.Errorf("keyless %s: an identity needs an issuer (or issuerRegExp) and a subject (or subjectRegExp)", authorityName)
		}
	}
	ids, _ := json.Marshal(identities)
	return Authority{Name: authorityName, trust: trusted, identities: identities, ignoreSCT: ignoreSCT,
		id: "keyless:" + digestOf(caPEM) + digestOf(ids)}, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

// chainDepth is how many certificates of all lie between c and a root.
func chainDepth(c *x509.Certificate, all []*x509.Certificate) int {
	for d := 0; d < len(all); d++ {
		if isSelfSigned(c) {
			return d
		}
		parent := (*x509.Certificate)(nil)
		for _, p := range all {
			if p != c && c.CheckSignatureFrom(p) == nil {
				parent = p
				break
			}
		}
		if parent == nil {
			return d
		}
		c = parent
	}
	return len(all)
}

// WithAttestations makes the authority check attestations instead of the signature. A rego
// policy follows policy-controller: package sigstore, rule isCompliant (true, or an object with
// result/error/warning), evaluated with the in-toto statement as input, in Rego v0 syntax.
func (a Authority) WithAttestations(atts []AttestationSpec) (Authority, error) {
	for _, spec := range atts {
		if spec.Name == "" || spec.PredicateType == "" {
			return a, fmt.Errorf("%s: an attestation needs a name and a predicateType", a.Name)
		}
		att := Attestation{Name: spec.Name, PredicateType: PredicateType(spec.PredicateType)}
		switch spec.PolicyType {
		case "":
			if spec.Policy != "" {
				return a, fmt.Errorf("%s: attestation %s has policy data but no policy type", a.Name, spec.Name)
			}
		case "rego":
			q, err := rego.New(append([]func(*rego.Rego){
				rego.Query("isCompliant = data.sigstore.isCompliant"),
				rego.Module(spec.Name+".rego", spec.Policy),
				rego.SetRegoVersion(ast.RegoV0),
			}, regosafe.Options()...)...).PrepareForEval(context.Background())
			if err != nil {
				return a, fmt.Errorf("%s: attestation %s: rego policy does not compile: %w", a.Name, spec.Name, err)
			}
			att.policy = &q
		default:
			return a, fmt.Errorf("%s: attestation %s: policy type %q is not supported by bollard (use rego)", a.Name, spec.Name, spec.PolicyType)
		}
		a.Attestations = append(a.Attestations, att)
		a.id += "|att:" + spec.Name + "=" + att.PredicateType + ":" + digestOf([]byte(spec.Policy))
	}
	return a, nil
}

// AttestationSpec is an attestation requirement as a ClusterImagePolicy states it.
type AttestationSpec struct {
	Name, PredicateType string
	// PolicyType is "" (presence is enough) or rego; Policy is the module.
	PolicyType, Policy string
}

// evaluate runs the attestation's policy on one in-toto statement (JSON).
func (att Attestation) evaluate(ctx context.Context, statement []byte) error {
	if att.policy == nil {
		return nil
	}
	var input any
	if err := json.Unmarshal(statement, &input); err != nil {
		return fmt.Errorf("statement is not JSON: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rs, err := att.policy.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return err
	}
	// isCompliant is true, or (as a partial set) objects {result, error, warning}.
	for _, r := range rs {
		switch v := r.Bindings["isCompliant"].(type) {
		case bool:
			if v {
				return nil
			}
		case []any:
			var errs []string
			for _, item := range v {
				m, _ := item.(map[string]any)
				if ok, _ := m["result"].(bool); ok {
					return nil
				}
				if msg, _ := m["error"].(string); msg != "" {
					errs = append(errs, msg)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("not compliant: %s", strings.Join(errs, "; "))
			}
		}
	}
	return fmt.Errorf("not compliant (data.sigstore.isCompliant is not true)")
}

// predicateTypes are cosign's short names for predicate types (`cosign attest --type`).
var predicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}

// PredicateType expands cosign's short names; URIs are returned as they are.
func PredicateType(t string) string {
	if uri, ok := predicateTypes[strings.ToLower(t)]; ok {
		return uri
	}
	return t
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// checkOpts are cosign's options for verifying with the authority, offline: no transparency log
// (air-gapped), the key or the private CA is the trust root.
func (a Authority) checkOpts(registry []ociremoteOption) *cosign.CheckOpts {
	co := &cosign.CheckOpts{
		IgnoreTlog: true,
		IgnoreSCT:  true,
		// Without it cosign does not check that the signed payload names this digest.
		ClaimVerifier:      cosign.SimpleClaimVerifier,
		RegistryClientOpts: registry,
	}
	if a.key != nil {
		co.SigVerifier = a.key
	} else {
		co.TrustedMaterial = a.trust
		co.IgnoreSCT = a.ignoreSCT
	}
	return co
}
