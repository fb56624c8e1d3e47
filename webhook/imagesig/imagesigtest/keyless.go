package imagesigtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
)

// CA is a private Fulcio-style certificate authority: a root and an intermediate that issues
// signing certificates carrying an OIDC identity (a SAN) and issuer (Fulcio's extension).
type CA struct {
	root, intermediate *x509.Certificate
	intermediateKey    *ecdsa.PrivateKey
	// ChainPEM is the root and the intermediate: what a ClusterImagePolicy's keyless ca-cert holds.
	ChainPEM []byte
}

// Fulcio's OIDC issuer extensions, both as Fulcio writes them: v1 (raw string, what cosign's
// classic verification reads) and v2 (a DER UTF8String, what sigstore-go reads).
var oidIssuerV1, oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}

func NewCA(t testing.TB) CA {
	t.Helper()
	rootKey := newKey(t)
	root := certify(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bollard test root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, rootKey.Public(), rootKey)
	interKey := newKey(t)
	inter := certify(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bollard test intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, root, interKey.Public(), rootKey)
	chain, err := cryptoutils.MarshalCertificatesToPEM([]*x509.Certificate{root, inter})
	if err != nil {
		t.Fatal(err)
	}
	return CA{root: root, intermediate: inter, intermediateKey: interKey, ChainPEM: chain}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certify signs tmpl (for key's public half) by parent (nil: self-signed), valid for a day.
func certify(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leaf issues a signing certificate for pub with subject (an email, or a URI such as a CI
// workflow) and OIDC issuer.
func (ca CA) leaf(t testing.TB, pub crypto.PublicKey, subject, issuer string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	if u, err := url.Parse(subject); err == nil && u.Scheme != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{subject}
	}
	val, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExtraExtensions = []pkix.Extension{{Id: oidIssuerV1, Value: []byte(issuer)}, {Id: oidIssuerV2, Value: val}}
	return certify(t, tmpl, ca.intermediate, pub, ca.intermediateKey)
}

// Signer issues a classic signer whose signatures carry a certificate for subject and issuer
// (what `cosign sign --key … --certificate … --certificate-chain …` writes).
func (ca CA) Signer(t testing.TB, subject, issuer string) Signer {
	t.Helper()
	key := newKey(t)
	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, chainPEM := ca.Certify(t, pubPEM, subject, issuer)
	return Signer{sv: sv, certPEM: certPEM, chainPEM: chainPEM}
}

// BundleSigner issues a bundle signer whose bundles carry a certificate for subject and issuer,
// as cosign v3 keyless signing writes them.
func (ca CA) BundleSigner(t testing.TB, subject, issuer string) BundleSigner {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The ephemeral key pair keeps its private key to itself: certify its public key.
	der := ca.leaf(t, kp.GetPublicKey(), subject, issuer).Raw
	return BundleSigner{kp: kp, certDER: der}
}

// issued is a sign.CertificateProvider that hands out one certificate already issued.
type issued []byte

func (c issued) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return c, nil
}

// Attest attaches a classic attestation (the sha256-<hex>.att tag): a DSSE envelope around an
// in-toto statement of predicateType with predicate (JSON), as `cosign attest --key
// --tlog-upload=false` writes it.
func (s Signer) Attest(t testing.TB, d name.Digest, predicateType, predicate string) {
	t.Helper()
	env, err := dsse.WrapSigner(s.sv, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(Statement(d, predicateType, predicate)))
	if err != nil {
		t.Fatal(err)
	}
	var opts []static.Option
	if s.certPEM != nil {
		opts = append(opts, static.WithCertChain(s.certPEM, s.chainPEM))
	}
	att, err := static.NewAttestation(env, opts...)
	if err != nil {
		t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(d)
	if err != nil {
		t.Fatal(err)
	}
	if se, err = mutate.AttachAttestationToEntity(se, att); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteAttestations(d.Repository, se); err != nil {
		t.Fatal(err)
	}
}

// Certify issues a signing certificate for the public key in pubPEM (e.g. a cosign.pub), for
// subject and issuer. It returns the certificate and the chain from the intermediate to the
// root, as `cosign sign --certificate … --certificate-chain …` takes them.
func (ca CA) Certify(t testing.TB, pubPEM []byte, subject, issuer string) (certPEM, chainPEM []byte) {
	t.Helper()
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if certPEM, err = cryptoutils.MarshalCertificateToPEM(ca.leaf(t, pub, subject, issuer)); err != nil {
		t.Fatal(err)
	}
	if chainPEM, err = cryptoutils.MarshalCertificatesToPEM([]*x509.Certificate{ca.intermediate, ca.root}); err != nil {
		t.Fatal(err)
	}
	return certPEM, chainPEM
}
