package codesign

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	macholibre "github.com/anchore/go-macholibre"

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

// TestMachOUniversal: a universal Mach-O (darwin/amd64 and darwin/arm64 packed by anchore's
// go-macholibre, each slice signed by quill) verifies slice by slice through Verify; a flipped byte
// in either slice, bytes appended after the last slice or hidden in the padding between slices,
// an unsigned slice, and a slice signed by another publisher are refused.
func TestMachOUniversal(t *testing.T) {
	dir := t.TempDir()
	ca, other := codesigntest.NewCA(t, dir, "Shop"), codesigntest.NewCA(t, dir, "Other")
	fat := codesigntest.DarwinUniversal(t, dir)
	plain, err := os.ReadFile(fat)
	if err != nil {
		t.Fatal(err)
	}
	ca.SignMachO(t, fat, "dev.shop.app")
	data, err := os.ReadFile(fat)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(b []byte, opts MachOOptions) (MachOResult, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "app")
		if err := os.WriteFile(path, b, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return Verify(f, opts)
	}
	opts := MachOOptions{Options: Options{Roots: ca.Pool(), Subject: "CN=Shop publisher,O=Shop"}}
	res, err := verify(data, opts)
	if err != nil {
		t.Fatalf("signed universal: %v", err)
	}
	if res.Format != "mach-o universal" || res.Signer != "CN=Shop publisher,O=Shop" || res.Identifier != "dev.shop.app" || len(res.Slices) != 2 ||
		res.Slices[0].Arch == res.Slices[1].Arch || len(res.Slices[0].CDHash) != 40 || res.Slices[0].CDHash == res.Slices[1].CDHash ||
		res.Digest != "cdhash:"+res.Slices[0].Arch+"="+res.Slices[0].CDHash+","+res.Slices[1].Arch+"="+res.Slices[1].CDHash || len(res.SHA256) != 64 {
		t.Errorf("result %+v", res)
	}
	flip := func(at int64) []byte {
		b := bytes.Clone(data)
		b[at] ^= 0x01
		return b
	}
	s0, s1 := res.Slices[0], res.Slices[1]
	// A signed slice of another publisher in place of the second one.
	foreign := filepath.Join(t.TempDir(), "app-other")
	if err := os.WriteFile(foreign, plain, 0o755); err != nil {
		t.Fatal(err)
	}
	other.SignMachO(t, foreign, "dev.shop.app")
	mixed, err := os.ReadFile(foreign)
	if err != nil {
		t.Fatal(err)
	}
	otherRes, err := verify(mixed, MachOOptions{Options: Options{Roots: other.Pool()}})
	if err != nil {
		t.Fatal(err)
	}
	slice := func(b []byte, sl MachOSlice) string {
		path := filepath.Join(t.TempDir(), sl.Arch)
		if err := os.WriteFile(path, b[sl.Offset:sl.Offset+sl.Size], 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mixedPath := filepath.Join(t.TempDir(), "app-mixed")
	if err := macholibre.Package(mixedPath, slice(data, s0), slice(mixed, otherRes.Slices[1])); err != nil {
		t.Fatal(err)
	}
	withForeign, err := os.ReadFile(mixedPath)
	if err != nil {
		t.Fatal(err)
	}
	both := x509.NewCertPool()
	both.AddCert(ca.Root)
	both.AddCert(other.Root)
	gap := bytes.Clone(data)
	if s1.Offset <= s0.Offset+s0.Size {
		t.Fatalf("no padding between the slices: %+v", res.Slices)
	}
	gap[s0.Offset+s0.Size] = 'X'
	for _, tc := range []struct {
		name string
		b    []byte
		opts MachOOptions
		want string
	}{
		{"a flipped byte in the first slice", flip(int64(s0.Offset + s0.Size/3)), opts, "the " + s0.Arch + " slice: not verified: Mach-O: page"},
		{"a flipped byte in the second slice", flip(int64(s1.Offset + s1.Size/3)), opts, "the " + s1.Arch + " slice"},
		{"bytes after the last slice", append(bytes.Clone(data), "evil"...), opts, "4 bytes after the last slice"},
		{"bytes in the padding", gap, opts, "is not padding"},
		{"unsigned (the Go linker signs only the arm64 slice, ad hoc)", plain, opts, "the x86_64 slice: not verified: Mach-O: not signed (no LC_CODE_SIGNATURE)"},
		{"a slice of another publisher", withForeign, MachOOptions{Options: Options{Roots: both}}, "the " + s1.Arch + " slice is signed as \"CN=Other publisher,O=Other\""},
		{"a root that did not issue the signer", data, MachOOptions{Options: Options{Roots: other.Pool()}}, "chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify(tc.b, tc.opts)
			if !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want not verified with %q", err, tc.want)
			}
		})
	}
}
