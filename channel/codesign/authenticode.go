// Package codesign verifies the platform signatures of desktop and mobile artifacts offline, as a
// channel's pre-flight does before anything reaches a store or a feed: Windows Authenticode and
// macOS Mach-O code signatures. Each verifier checks the signed digest against the file itself, the signature over it,
// and the signer's chain to roots the caller trusts — never the machine's own trust store.
package codesign

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/sassoftware/relic/v8/lib/authenticode"
)

// Options are what a signature must satisfy beyond being intact.
type Options struct {
	// Roots are the certificate authorities a signer must chain to (required).
	Roots *x509.CertPool
	// Subject, when set, must match the signer certificate's subject (its RFC 2253 string, e.g.
	// "CN=Shop Ltd,O=Shop Ltd,C=DE") as a regular expression anchored at both ends.
	Subject string
}

// Result is what a verified signature says.
type Result struct {
	// Format: authenticode.
	Format string `json:"format"`
	// SHA256 of the whole file as it was verified.
	SHA256 string `json:"sha256"`
	// Signer is the signing certificate's subject; Issuer its issuer's.
	Signer string `json:"signer"`
	Issuer string `json:"issuer"`
	// Digest is the signed image digest (algorithm:hex) — the file without its signature.
	Digest string `json:"digest"`
	// PageHashes tells whether per-page hashes were signed and checked too.
	PageHashes bool `json:"pageHashes"`
	// Timestamped tells whether a countersignature dates the signature (the chain is then
	// checked at that time).
	Timestamped bool `json:"timestamped"`
}

// ErrNotVerified wraps every reason a file is not verified (as opposed to a usage error).
var ErrNotVerified = errors.New("not verified")

// subjectMatcher is the signer subject's regular expression, anchored (nil when none is given).
func subjectMatcher(subject string) (*regexp.Regexp, error) {
	if subject == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + subject + ")$")
	if err != nil {
		return nil, fmt.Errorf("subject %q: %w", subject, err)
	}
	return re, nil
}

// malformed turns a panic of a parser on hostile input into a verdict: not verified.
func malformed(err *error) {
	if p := recover(); p != nil {
		*err = notVerified("malformed file: %v", p)
	}
}

func notVerified(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotVerified, fmt.Sprintf(format, args...))
}

// Authenticode verifies the Authenticode signature of a Windows PE file (.exe, .dll, .sys):
// the image digest (and page hashes, when signed) recomputed from r, the CMS signature over it,
// the signer's chain to opts.Roots for code signing, and opts.Subject. Every signature the file
// carries must verify.
func Authenticode(r io.ReadSeeker, opts Options) (_ Result, err error) {
	defer malformed(&err)
	if opts.Roots == nil {
		return Result{}, errors.New("no roots to verify the signer against")
	}
	subject, err := subjectMatcher(opts.Subject)
	if err != nil {
		return Result{}, err
	}
	h := sha256.New()
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Result{}, err
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(io.TeeReader(r, h), head); err != nil || !bytes.Equal(head, []byte("MZ")) {
		return Result{}, notVerified("not a Windows PE file (no MZ header)")
	}
	if _, err := io.Copy(h, r); err != nil {
		return Result{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Result{}, err
	}
	sigs, err := authenticode.VerifyPE(r, false)
	if err != nil {
		return Result{}, notVerified("authenticode: %v", err)
	}
	if len(sigs) == 0 {
		return Result{}, notVerified("authenticode: no signature")
	}
	res := Result{Format: "authenticode", SHA256: hex.EncodeToString(h.Sum(nil))}
	for i, sig := range sigs {
		if err := sig.VerifyChain(opts.Roots, nil, x509.ExtKeyUsageCodeSigning); err != nil {
			return Result{}, notVerified("authenticode signature %d by %q: chain: %v", i+1, sig.Certificate.Subject.String(), err)
		}
		signer := sig.Certificate.Subject.String()
		if subject != nil && !subject.MatchString(signer) {
			return Result{}, notVerified("authenticode signature %d: signer %q does not match %q", i+1, signer, opts.Subject)
		}
		if i == 0 {
			res.Signer, res.Issuer = signer, sig.Certificate.Issuer.String()
			res.Digest = strings.ToLower(strings.ReplaceAll(sig.ImageHashFunc.String(), "-", "")) + ":" + hex.EncodeToString(sig.Indirect.MessageDigest.Digest)
			res.PageHashes = len(sig.PageHashes) > 0
			res.Timestamped = sig.CounterSignature != nil
		}
	}
	return res, nil
}
