// Package codesigntest makes signed artifacts for tests with independent tools: a test CA, a
// real Windows PE built by the Go toolchain, and Debian's osslsigncode.
package codesigntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	macholibre "github.com/anchore/go-macholibre"
	"github.com/goreleaser/quill/quill"
)

// CA is a root ("CN=NAME root") and a code-signing certificate it issued ("CN=NAME
// publisher,O=NAME"), written as PEM files.
type CA struct {
	Root            *x509.Certificate
	CertPEM, KeyPEM string // the leaf's certificate (with the root after it) and key
}

// NewCA makes a CA named name, its files in dir.
func NewCA(t testing.TB, dir, name string) CA {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " root"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, err := rsa.GenerateKey(rand.Reader, 2048) // RSA: what Apple's code signing (and quill) use
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name + " publisher", Organization: []string{name}}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	ca := CA{Root: root, CertPEM: filepath.Join(dir, name+"-cert.pem"), KeyPEM: filepath.Join(dir, name+"-key.pem")}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	if err := os.WriteFile(ca.CertPEM, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca.KeyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// Pool holds the root alone.
func (ca CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root)
	return p
}

// WindowsBinary builds a small Go program for windows/amd64: a real PE image.
func WindowsBinary(t testing.TB, dir string) string {
	t.Helper()
	return goBuild(t, dir, "windows", "app.exe")
}

func goBuild(t testing.TB, dir, goos, name string) string {
	t.Helper()
	arch := "amd64"
	if goos == "darwin" {
		arch = "arm64"
	}
	return goBuildArch(t, dir, goos, arch, name)
}

func goBuildArch(t testing.TB, dir, goos, arch, name string) string {
	t.Helper()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello from the shop app\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=-trimpath")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", goos, err, b)
	}
	return out
}

// DarwinBinary builds a small Go program for darwin/arm64: a real thin Mach-O image.
func DarwinBinary(t testing.TB, dir string) string {
	t.Helper()
	return goBuild(t, dir, "darwin", "app")
}

// DarwinUniversal builds the program for darwin/amd64 and darwin/arm64 and packs both into a
// universal (fat) Mach-O with anchore's go-macholibre (what quill packs signed slices with).
func DarwinUniversal(t testing.TB, dir string) string {
	t.Helper()
	amd := goBuildArch(t, dir, "darwin", "amd64", "app-x86_64")
	arm := goBuildArch(t, dir, "darwin", "arm64", "app-arm64")
	out := filepath.Join(dir, "app-universal")
	if err := macholibre.Package(out, amd, arm); err != nil {
		t.Fatalf("pack a universal Mach-O: %v", err)
	}
	return out
}

// SignMachO signs the Mach-O at path in place with goreleaser/quill (an implementation
// independent of bollard's verifier) as ca's publisher, with identifier id — each slice of a
// universal one.
func (ca CA) SignMachO(t testing.TB, path, id string) {
	t.Helper()
	cfg, err := quill.NewSigningConfigFromPEMs(path, ca.CertPEM, ca.KeyPEM, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := quill.Sign(*cfg.WithIdentity(id)); err != nil {
		t.Fatalf("quill sign: %v", err)
	}
}

// SignAuthenticode signs the PE in with Debian's osslsigncode (SHA-256) as ca's publisher; a
// missing osslsigncode fails the test.
func (ca CA) SignAuthenticode(t testing.TB, in, out string) {
	t.Helper()
	osslsigncode, err := exec.LookPath("osslsigncode")
	if err != nil {
		t.Fatal("osslsigncode not found: install Debian's osslsigncode (.ci/run does)")
	}
	if b, err := exec.Command(osslsigncode, "sign", "-certs", ca.CertPEM, "-key", ca.KeyPEM, "-h", "sha256", "-n", "shop app",
		"-in", in, "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("osslsigncode sign: %v\n%s", err, b)
	}
}
