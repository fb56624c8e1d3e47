// Package imagesigtest gives tests real signature material: go-containerregistry's in-process
// OCI registry on loopback and cosign key pairs that sign images the way the cosign CLI does.
package imagesigtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"github.com/sigstore/cosign/v3/pkg/oci/static"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
)

// Registry is go-containerregistry's in-process OCI registry on loopback, counting the
// requests it serves and able to go down.
type Registry struct {
	*httptest.Server
	Host     string
	Requests atomic.Int64
	Down     atomic.Bool
	// Log, when set, receives "METHOD path" of every request served.
	Log func(string)
	// Authorize, when set, decides each request: false answers 401 with a Basic challenge (a
	// private repository, as registries answer it).
	Authorize atomic.Pointer[func(*http.Request) bool]
}

func NewRegistry(t testing.TB, opts ...registry.Option) *Registry {
	t.Helper()
	r := &Registry{}
	reg := registry.New(append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)...)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.Down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		r.Requests.Add(1)
		if auth := r.Authorize.Load(); auth != nil && !(*auth)(req) {
			w.Header().Set("WWW-Authenticate", `Basic realm="imagesigtest"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if r.Log != nil {
			r.Log(req.Method + " " + req.URL.Path)
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	r.Host = strings.TrimPrefix(r.URL, "http://")
	return r
}

// Push writes a random image under repo:tag and returns its digest reference.
func (r *Registry) Push(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(r.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(h.String())
}

// Signer is a cosign key pair; when a CA issued it a certificate, its signatures carry the
// certificate and chain, as keyless signatures do.
type Signer struct {
	sv                signature.SignerVerifier
	PublicPEM         []byte
	certPEM, chainPEM []byte
}

func NewSigner(t testing.TB) Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return Signer{sv: sv, PublicPEM: pub}
}

// Sign attaches a classic cosign signature (the sha256-<hex>.sig tag), as `cosign sign --key`
// with --tlog-upload=false writes it.
func (s Signer) Sign(t testing.TB, d name.Digest) {
	t.Helper()
	pl, err := sigpayload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.sv.SignMessage(bytes.NewReader(pl))
	if err != nil {
		t.Fatal(err)
	}
	var opts []static.Option
	if s.certPEM != nil {
		opts = append(opts, static.WithCertChain(s.certPEM, s.chainPEM))
	}
	sig, err := static.NewSignature(pl, base64.StdEncoding.EncodeToString(raw), opts...)
	if err != nil {
		t.Fatal(err)
	}
	se, err := ociremote.SignedEntity(d)
	if err != nil {
		t.Fatal(err)
	}
	if se, err = mutate.AttachSignatureToEntity(se, sig); err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteSignatures(d.Repository, se); err != nil {
		t.Fatal(err)
	}
}

// BundleSigner signs in the Sigstore bundle format that `cosign sign` writes by default in v3:
// a DSSE in-toto statement in a v0.3 bundle, stored as an OCI referrer of the image (or under the
// sha256-<hex> fallback tag on registries without the referrers API). No transparency log.
type BundleSigner struct {
	kp        *sign.EphemeralKeypair
	PublicPEM []byte
	certDER   []byte // set when a CA issued the key a certificate
}

// CosignSignPredicate is the predicate type of a cosign v3 image signature.
const CosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"

func NewBundleSigner(t testing.TB) BundleSigner {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	return BundleSigner{kp: kp, PublicPEM: []byte(pub)}
}

// Sign attaches a signature bundle to d.
func (s BundleSigner) Sign(t testing.TB, d name.Digest) { s.Attest(t, d, CosignSignPredicate, "{}") }

// Statement is an in-toto statement of predicateType about d, predicate given as JSON.
func Statement(d name.Digest, predicateType, predicate string) []byte {
	hexDigest := strings.TrimPrefix(d.DigestStr(), "sha256:")
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s}`,
		d.Context().Name(), hexDigest, predicateType, predicate)
}

// Attest attaches a bundle with an in-toto statement of predicateType about d.
func (s BundleSigner) Attest(t testing.TB, d name.Digest, predicateType, predicate string) {
	t.Helper()
	opts := sign.BundleOptions{}
	if s.certDER != nil {
		opts.CertificateProvider = issued(s.certDER)
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: Statement(d, predicateType, predicate), PayloadType: "application/vnd.in-toto+json"}, s.kp, opts)
	if err != nil {
		t.Fatal(err)
	}
	data, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteAttestationNewBundleFormat(d, data, predicateType); err != nil {
		t.Fatal(err)
	}
}
