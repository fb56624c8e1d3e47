package codesign

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bollard.dev/bollard/channel/codesign/codesigntest"
)

func verifyMachO(t *testing.T, path string, opts MachOOptions) (MachOResult, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return MachO(bytes.NewReader(data), int64(len(data)), opts)
}

// TestMachOQuill: a darwin/arm64 binary signed by goreleaser/quill (an implementation
// independent of this verifier) verifies — every page hash, the CMS signature over the code
// directory, the chain to the test root — and says notarization is not verifiable offline; a
// flipped byte, a foreign root, another subject or Team ID, and a binary signed ad hoc only are
// refused.
func TestMachOQuill(t *testing.T) {
	dir := t.TempDir()
	ca, other := codesigntest.NewCA(t, dir, "Shop"), codesigntest.NewCA(t, dir, "Other")
	unsigned := codesigntest.DarwinBinary(t, dir)
	plain, err := os.ReadFile(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "app-signed")
	if err := os.WriteFile(signed, plain, 0o755); err != nil {
		t.Fatal(err)
	}
	ca.SignMachO(t, signed, "dev.shop.app")

	res, err := verifyMachO(t, signed, MachOOptions{Options: Options{Roots: ca.Pool(), Subject: "CN=Shop publisher,O=Shop"}})
	if err != nil {
		t.Fatalf("signed by quill: %v", err)
	}
	if res.Format != "mach-o" || res.Signer != "CN=Shop publisher,O=Shop" || res.Issuer != "CN=Shop root" || res.Identifier != "dev.shop.app" ||
		len(res.CDHash) != 40 || res.Digest != "cdhash:"+res.CDHash || res.Notarization != "not verifiable offline" || len(res.SHA256) != 64 {
		t.Errorf("result %+v", res)
	}

	data, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "app-tampered")
	bad := bytes.Clone(data)
	bad[len(bad)/3] ^= 0x01 // inside the code
	if err := os.WriteFile(tampered, bad, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		opts       MachOOptions
		want       string
	}{
		{"one flipped byte", tampered, MachOOptions{Options: Options{Roots: ca.Pool()}}, "does not match its hash"},
		{"a root that did not issue the signer", signed, MachOOptions{Options: Options{Roots: other.Pool()}}, "chain"},
		{"another subject", signed, MachOOptions{Options: Options{Roots: ca.Pool(), Subject: "CN=Other.*"}}, "does not match"},
		{"another Team ID", signed, MachOOptions{Options: Options{Roots: ca.Pool()}, TeamID: "ABCDE12345"}, "Team ID"},
		{"hardened runtime required", signed, MachOOptions{Options: Options{Roots: ca.Pool()}, HardenedRuntime: !res.HardenedRuntime}, "hardened runtime is off"},
		{"ad-hoc signed only (by the Go linker)", unsigned, MachOOptions{Options: Options{Roots: ca.Pool()}}, "ad-hoc signature"},
		{"a Windows binary", codesigntest.WindowsBinary(t, t.TempDir()), MachOOptions{Options: Options{Roots: ca.Pool()}}, "not a thin Mach-O"},
	} {
		if tc.name == "hardened runtime required" && res.HardenedRuntime {
			continue // quill set it: nothing to refuse
		}
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyMachO(t, tc.path, tc.opts)
			if !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want not verified with %q", err, tc.want)
			}
		})
	}
}
