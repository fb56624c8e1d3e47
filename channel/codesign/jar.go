package codesign

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/sassoftware/relic/v8/lib/signjar"
)

// UploadKeyResult is an Android App Bundle's JAR signature, verified and matched to a pinned
// upload certificate.
type UploadKeyResult struct {
	Format string `json:"format"` // "jar"
	SHA256 string `json:"sha256"` // of the whole file
	Signer string `json:"signer"`
	// CertSHA256 is the signing certificate's SHA-256 fingerprint, as keytool and the Play
	// Console print it (AB:CD:…).
	CertSHA256 string `json:"certSHA256"`
}

// maxBundle bounds the file AndroidUploadKey reads.
const maxBundle = 2 << 30

// AndroidUploadKey verifies the JAR signature of an Android App Bundle (the upload key Play
// checks) offline: the signature over META-INF/*.SF, the .SF over the manifest, every entry's
// digest in the signed manifest — and no entry outside it — and that the signing certificate's
// SHA-256 fingerprint is one of pins (hex; colons and case ignored). Errors wrap ErrNotVerified.
func AndroidUploadKey(file string, pins []string) (_ UploadKeyResult, err error) {
	defer func() {
		if v := recover(); v != nil { // relic's parsers on hostile input
			err = fmt.Errorf("%w: %s: malformed: %v", ErrNotVerified, file, v)
		}
	}()
	if len(pins) == 0 {
		return UploadKeyResult{}, fmt.Errorf("no upload certificate pinned")
	}
	data, err := readCapped(file, maxBundle)
	if err != nil {
		return UploadKeyResult{}, err
	}
	sum := sha256.Sum256(data)
	res := UploadKeyResult{Format: "jar", SHA256: hex.EncodeToString(sum[:])}
	fail := func(format string, args ...any) (UploadKeyResult, error) {
		return res, fmt.Errorf("%w: %s: %s", ErrNotVerified, file, fmt.Sprintf(format, args...))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fail("not a zip: %v", err)
	}
	sigs, err := signjar.Verify(zr, false)
	if err != nil {
		return fail("JAR signature: %v", err)
	}
	// Every entry must be covered by the signed manifest: a file added after signing is not
	// signed by the upload key.
	var manifest []byte
	for _, f := range zr.File {
		if f.Name == "META-INF/MANIFEST.MF" {
			r, err := f.Open()
			if err != nil {
				return fail("%s: %v", f.Name, err)
			}
			manifest, err = io.ReadAll(io.LimitReader(r, 64<<20))
			r.Close()
			if err != nil {
				return fail("%s: %v", f.Name, err)
			}
		}
	}
	parsed, err := signjar.ParseManifest(manifest)
	if err != nil {
		return fail("META-INF/MANIFEST.MF: %v", err)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") || signatureFile(f.Name) {
			continue
		}
		if _, ok := parsed.Files[f.Name]; !ok {
			return fail("%s is not in the signed manifest (added after signing)", f.Name)
		}
	}
	want := map[string]bool{}
	for _, p := range pins {
		want[normalizeFingerprint(p)] = true
	}
	var seen []string
	for _, s := range sigs {
		c := s.Certificate
		fp := sha256.Sum256(c.Raw)
		h := hex.EncodeToString(fp[:])
		if want[h] {
			res.Signer, res.CertSHA256 = c.Subject.String(), colons(h)
			return res, nil
		}
		seen = append(seen, fmt.Sprintf("%s (SHA-256 %s)", c.Subject, colons(h)))
	}
	return fail("signed by %s: not a pinned upload certificate", strings.Join(seen, ", "))
}

// signatureFile: the manifest and the signature files and blocks of META-INF.
func signatureFile(name string) bool {
	dir, base := path.Split(strings.ToUpper(name))
	if dir != "META-INF/" {
		return false
	}
	switch path.Ext(base) {
	case ".SF", ".RSA", ".DSA", ".EC":
		return true
	}
	return base == "MANIFEST.MF"
}

func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

func colons(h string) string {
	var parts []string
	for i := 0; i+2 <= len(h); i += 2 {
		parts = append(parts, strings.ToUpper(h[i:i+2]))
	}
	return strings.Join(parts, ":")
}

func readCapped(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", file, limit)
	}
	return data, nil
}
