package codesign

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bollard.dev/bollard/channel/codesign/codesigntest"
)

// TestAuthenticodeOsslsigncode: a Windows binary signed by Debian's osslsigncode (an independent
// implementation) verifies, with its signer and digest; a flipped byte, an untrusted root, another
// subject and an unsigned file are refused.
func TestAuthenticodeOsslsigncode(t *testing.T) {
	dir := t.TempDir()
	ca, other := codesigntest.NewCA(t, dir, "Shop"), codesigntest.NewCA(t, dir, "Other")
	unsigned := codesigntest.WindowsBinary(t, dir)
	signed := filepath.Join(dir, "app-signed.exe")
	ca.SignAuthenticode(t, unsigned, signed)
	verify := func(path string, opts Options) (Result, error) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return Authenticode(f, opts)
	}
	res, err := verify(signed, Options{Roots: ca.Pool(), Subject: "CN=Shop publisher,O=Shop"})
	if err != nil {
		t.Fatalf("signed by osslsigncode: %v", err)
	}
	if res.Format != "authenticode" || res.Signer != "CN=Shop publisher,O=Shop" || res.Issuer != "CN=Shop root" || !strings.HasPrefix(res.Digest, "sha256:") || len(res.Digest) != 71 || len(res.SHA256) != 64 {
		t.Errorf("result %+v", res)
	}
	// osslsigncode's own verdict on the same file agrees.
	if b, err := exec.Command("osslsigncode", "verify", "-CAfile", ca.CertPEM, "-in", signed).CombinedOutput(); err != nil {
		t.Errorf("osslsigncode verify disagrees: %v\n%s", err, b)
	}

	data, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "app-tampered.exe")
	bad := bytes.Clone(data)
	bad[len(bad)/3] ^= 0x01 // inside the code, far from the signature
	if err := os.WriteFile(tampered, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		opts       Options
		want       string
	}{
		{"one flipped byte", tampered, Options{Roots: ca.Pool()}, "digest"},
		{"a root that did not issue the signer", signed, Options{Roots: other.Pool()}, "chain"},
		{"another subject", signed, Options{Roots: ca.Pool(), Subject: "CN=Other publisher,.*"}, "does not match"},
		{"unsigned", unsigned, Options{Roots: ca.Pool()}, "contains no signatures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify(tc.path, tc.opts)
			if !errors.Is(err, ErrNotVerified) || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Errorf("err = %v, want not verified with %q", err, tc.want)
			}
		})
	}
	if _, err := Authenticode(bytes.NewReader([]byte("#!/bin/sh\necho hi\n")), Options{Roots: ca.Pool()}); !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), "not a Windows PE") {
		t.Errorf("a shell script: %v", err)
	}
}
