package imagesig

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	"github.com/sigstore/cosign/v3/pkg/oci"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/types"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

type ociremoteOption = ociremote.Option

// ociSignature is oci.Signature under a name that, embedded, does not hide its Signature method.
type ociSignature = oci.Signature

// attached is what the registry holds for one digest, each kind fetched at most once however
// many authorities look at it.
type attached struct {
	digest   name.Digest
	registry []ociremote.Option

	sigsOnce, attsOnce, bundlesOnce sync.Once
	sigs                            []oci.Signature
	atts                            oci.Signatures
	attList                         []oci.Signature
	bundles                         []*sgbundle.Bundle
	sigsErr, attsErr, bundlesErr    error
}

func (at *attached) hash() v1.Hash {
	h, _ := v1.NewHash(at.digest.DigestStr()) // a name.Digest always holds a valid hash
	return h
}

// classic reads the signatures (or attestations) under the sha256-<hex>.sig (.att) tag.
func (at *attached) classic(tag func(name.Reference, ...ociremote.Option) (name.Tag, error)) (oci.Signatures, []oci.Signature, error) {
	t, err := tag(at.digest, at.registry...)
	if err != nil {
		return nil, nil, err
	}
	sigs, err := ociremote.Signatures(t, at.registry...)
	if err != nil {
		return nil, nil, err
	}
	list, err := sigs.Get()
	for i, s := range list {
		list[i] = &payloadOnce{ociSignature: s}
	}
	return sigs, list, err
}

// payloadOnce reads a signature's payload (a registry blob) once, however many authorities and
// checks look at it: cosign's verification reads it again otherwise.
type payloadOnce struct {
	ociSignature // every other method as it is
	once         sync.Once
	payload      []byte
	err          error
}

func (p *payloadOnce) Payload() ([]byte, error) {
	p.once.Do(func() { p.payload, p.err = p.ociSignature.Payload() })
	return p.payload, p.err
}

func (at *attached) signatures() ([]oci.Signature, error) {
	at.sigsOnce.Do(func() { _, at.sigs, at.sigsErr = at.classic(ociremote.SignatureTag) })
	if at.sigsErr != nil {
		return nil, fmt.Errorf("signatures: %w", at.sigsErr)
	}
	return at.sigs, nil
}

func (at *attached) attestations() (oci.Signatures, int, error) {
	at.attsOnce.Do(func() { at.atts, at.attList, at.attsErr = at.classic(ociremote.AttestationTag) })
	if at.attsErr != nil {
		return nil, 0, fmt.Errorf("attestations: %w", at.attsErr)
	}
	return at.atts, len(at.attList), nil
}

func (at *attached) sigstoreBundles(ctx context.Context) ([]*sgbundle.Bundle, error) {
	at.bundlesOnce.Do(func() {
		at.bundles, _, at.bundlesErr = cosign.GetBundles(ctx, at.digest, at.registry)
		var none *cosign.ErrNoMatchingAttestations
		if errors.As(at.bundlesErr, &none) {
			at.bundlesErr = nil
		}
	})
	if at.bundlesErr != nil {
		return nil, fmt.Errorf("signature bundles: %w", at.bundlesErr)
	}
	return at.bundles, nil
}

// result is one authority's outcome: reason is empty when it verified.
type result struct {
	format       string
	signer       string // the authority, and for keyless the certificate's identity and issuer
	attestations []Attested
	reason       string
}

// Attested is one attestation that verified: its policy name, predicate type, the sha256 of the
// in-toto statement, and who signed it.
type Attested struct {
	Name          string `json:"name"`
	PredicateType string `json:"predicateType"`
	Digest        string `json:"digest"`
	Signer        string `json:"signer"`
	// Statement is the verified in-toto statement (JSON).
	Statement []byte `json:"-"`
}

// signer describes who signed: the key authority, or the keyless authority with the identity
// (subject alternative name) and OIDC issuer of the certificate that verified.
func (a Authority) signer(cert *x509.Certificate) string {
	if a.key != nil || cert == nil {
		return a.describe()
	}
	id := strings.Join(cryptoutils.GetSubjectAlternateNames(cert), ", ")
	if iss := certIssuer(cert); iss != "" {
		id += " (issuer " + iss + ")"
	}
	if id == "" {
		return a.describe()
	}
	return a.describe() + ": " + id
}

// bundleCert is the signing certificate of a Sigstore bundle (nil: signed with a key).
func bundleCert(b *sgbundle.Bundle) *x509.Certificate {
	vc, err := b.VerificationContent()
	if err != nil || vc == nil {
		return nil
	}
	return vc.Certificate()
}

// certIssuer is the Fulcio OIDC issuer extension of cert (either version), if any.
func certIssuer(cert *x509.Certificate) string {
	for _, ext := range cert.Extensions {
		switch ext.Id.String() {
		case "1.3.6.1.4.1.57264.1.1": // v1: the raw string
			return string(ext.Value)
		case "1.3.6.1.4.1.57264.1.8": // v2: a DER UTF8String
			var v string
			if _, err := asn1.Unmarshal(ext.Value, &v); err == nil {
				return v
			}
		}
	}
	return ""
}

// options are the cosign options to try for an authority, one per identity (cosign's bundle
// verification takes a single identity; any one of the authority's may match).
func (a Authority) options(registry []ociremote.Option, claims func(oci.Signature, v1.Hash, map[string]any) error) []*cosign.CheckOpts {
	base := a.checkOpts(registry)
	base.ClaimVerifier = claims
	if a.key != nil {
		return []*cosign.CheckOpts{base}
	}
	var out []*cosign.CheckOpts
	for _, id := range a.identities {
		co := *base
		co.Identities = []cosign.Identity{id}
		out = append(out, &co)
	}
	return out
}

// describe says who the authority is in a reason.
func (a Authority) describe() string {
	if a.key != nil {
		return "key " + a.Name
	}
	return "keyless authority " + a.Name
}

// mismatch is the reason a signature that exists did not verify with the authority.
func (a Authority) mismatch(what string, err error) string {
	if a.key != nil {
		return what + " does not match key " + a.Name
	}
	msg := err.Error()
	if strings.Contains(msg, "identit") || strings.Contains(msg, "SAN") || strings.Contains(msg, "issuer") {
		return "certificate identity not allowed by keyless authority " + a.Name + ": " + firstLine(msg)
	}
	return what + " not issued by keyless authority " + a.Name + "'s CA: " + firstLine(msg)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// checkSignature looks for a signature by the authority, in either format.
func (at *attached) checkSignature(ctx context.Context, a Authority) (result, error) {
	sigs, err := at.signatures()
	if err != nil {
		return result{}, err
	}
	var mismatch string
	for _, co := range a.options(at.registry, cosign.SimpleClaimVerifier) {
		for _, sig := range sigs {
			if _, err := cosign.VerifyImageSignature(ctx, sig, at.hash(), co); err != nil {
				mismatch = a.mismatch("signature", err)
				continue
			}
			cert, _ := sig.Cert()
			return result{format: "classic", signer: a.signer(cert)}, nil
		}
	}
	bundles, err := at.sigstoreBundles(ctx)
	if err != nil {
		return result{}, err
	}
	for _, co := range a.options(at.registry, nil) {
		for _, b := range bundles {
			res, err := cosign.VerifyNewBundle(ctx, co, verify.WithArtifactDigest("sha256", at.hexDigest()), b)
			switch {
			case err != nil:
				if mismatch == "" || a.key == nil {
					mismatch = a.mismatch("signature bundle", err)
				}
			case res.Statement == nil || res.Statement.GetPredicateType() != types.CosignSignPredicateType:
				// An attestation by the authority (SLSA, SBOM, …) is not a signature of the image.
			default:
				return result{format: "bundle", signer: a.signer(bundleCert(b))}, nil
			}
		}
	}
	if mismatch == "" {
		return result{reason: "no signatures found"}, nil
	}
	return result{reason: mismatch}, nil
}

func (at *attached) hexDigest() []byte {
	b, _ := hex.DecodeString(strings.TrimPrefix(at.digest.DigestStr(), "sha256:"))
	return b
}

// statement is a verified in-toto statement attached to the digest.
type statement struct {
	predicateType string
	json          []byte
	format        string
	signer        string
}

// checkAttestations verifies that every attestation the authority asks for is attached, signed by
// it, and passes its policy.
func (at *attached) checkAttestations(ctx context.Context, a Authority) (result, error) {
	atts, n, err := at.attestations()
	if err != nil {
		return result{}, err
	}
	bundles, err := at.sigstoreBundles(ctx)
	if err != nil {
		return result{}, err
	}
	var verified []statement
	var mismatch string
	for _, co := range a.options(at.registry, cosign.IntotoSubjectClaimVerifier) {
		if n == 0 {
			break
		}
		checked, _, err := cosign.VerifyImageAttestation(ctx, atts, at.hash(), co)
		if err != nil {
			mismatch = a.mismatch("attestation", err)
			continue
		}
		for _, c := range checked {
			if s, err := classicStatement(c); err == nil {
				cert, _ := c.Cert()
				s.signer = a.signer(cert)
				verified = append(verified, s)
			}
		}
	}
	for _, co := range a.options(at.registry, nil) {
		for _, b := range bundles {
			res, err := cosign.VerifyNewBundle(ctx, co, verify.WithArtifactDigest("sha256", at.hexDigest()), b)
			if err != nil {
				mismatch = a.mismatch("attestation bundle", err)
				continue
			}
			env := b.GetDsseEnvelope()
			if res.Statement == nil || env == nil || res.Statement.GetPredicateType() == types.CosignSignPredicateType {
				continue
			}
			verified = append(verified, statement{predicateType: res.Statement.GetPredicateType(), json: env.GetPayload(), format: "bundle", signer: a.signer(bundleCert(b))})
		}
	}
	res := result{}
	formats := map[string]bool{}
	for _, want := range a.Attestations {
		found := false
		for _, s := range verified {
			if s.predicateType != want.PredicateType {
				continue
			}
			if err := want.evaluate(ctx, s.json); err != nil {
				return result{reason: fmt.Sprintf("attestation %s (%s) by %s fails its policy: %v", want.Name, want.PredicateType, a.describe(), err)}, nil
			}
			formats[s.format] = true
			found = true
			// Each statement of the type: a digest deployed to staging and production carries two
			// Deployment Logs.
			sum := sha256.Sum256(s.json)
			digest := "sha256:" + hex.EncodeToString(sum[:])
			if !slices.ContainsFunc(res.attestations, func(x Attested) bool { return x.Digest == digest }) {
				res.attestations = append(res.attestations, Attested{Name: want.Name, PredicateType: want.PredicateType,
					Digest: digest, Signer: s.signer, Statement: s.json})
			}
		}
		if !found {
			reason := fmt.Sprintf("attestation %s (%s) signed by %s is missing", want.Name, want.PredicateType, a.describe())
			if mismatch != "" {
				reason += " (" + mismatch + ")"
			}
			return result{reason: reason}, nil
		}
	}
	res.signer = a.describe()
	for _, f := range []string{"bundle", "classic"} {
		if formats[f] {
			res.format = strings.TrimPrefix(res.format+"+"+f, "+")
		}
	}
	return res, nil
}

// classicStatement decodes the in-toto statement from a classic attestation (a DSSE envelope).
func classicStatement(sig oci.Signature) (statement, error) {
	payload, err := sig.Payload()
	if err != nil {
		return statement{}, err
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return statement{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return statement{}, err
	}
	var head struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return statement{}, err
	}
	return statement{predicateType: head.PredicateType, json: raw, format: "classic"}, nil
}
