package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bollard.dev/bollard/channel/codesign/codesigntest"
)

// TestChannelVerifyCommand: bollard channel verify on Windows binaries signed by Debian's
// osslsigncode and a macOS binary signed by goreleaser/quill —
// exit 0 with the signer and digest, 1 for a file not verified (and the reason), 2 for usage.
func TestChannelVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	ca, other := codesigntest.NewCA(t, dir, "Shop"), codesigntest.NewCA(t, dir, "Other")
	unsigned := codesigntest.WindowsBinary(t, dir)
	signed := filepath.Join(dir, "app-signed.exe")
	ca.SignAuthenticode(t, unsigned, signed)
	mac := codesigntest.DarwinBinary(t, t.TempDir())
	ca.SignMachO(t, mac, "dev.shop.app")
	fat := codesigntest.DarwinUniversal(t, t.TempDir())
	ca.SignMachO(t, fat, "dev.shop.app")
	roots, otherRoots := filepath.Join(dir, "roots.pem"), filepath.Join(dir, "other-roots.pem")
	for path, c := range map[string]codesigntest.CA{roots: ca, otherRoots: other} {
		data, err := os.ReadFile(c.CertPEM) // leaf then root: the pool takes both, the chain needs the root
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	upload, otherKey := codesigntest.NewUploadKey(t, "CN=Shop upload"), codesigntest.NewUploadKey(t, "CN=Someone else")
	aab := filepath.Join(dir, "shop.aab")
	if err := os.WriteFile(aab, codesigntest.Zip(t, map[string]string{"base/manifest/AndroidManifest.xml": "manifest", "base/dex/classes.dex": "dex"}), 0o644); err != nil {
		t.Fatal(err)
	}
	upload.Sign(t, aab)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"an .aab of the pinned upload key", []string{"channel", "verify", aab, "--android-upload-cert", upload.Fingerprint}, 0,
			`: Android JAR signature verified, every entry signed — signer "CN=Shop upload", certificate SHA-256 `},
		{"an .aab of another upload key", []string{"channel", "verify", aab, "--android-upload-cert", otherKey.Fingerprint}, 1, "not a pinned upload certificate"},
		{"an .aab without a pin", []string{"channel", "verify", aab}, 2, ""},
		{"signed", []string{"channel", "verify", signed, "--roots", roots, "--subject", "CN=Shop publisher,.*"}, 0,
			`🔐 ` + signed + `: authenticode signature verified — signer "CN=Shop publisher,O=Shop" (issuer "CN=Shop root"), signed digest sha256:`},
		{"one of two unsigned", []string{"channel", "verify", signed, unsigned, "--roots", roots}, 1, "❌ " + unsigned + ": not verified: authenticode: PECOFF contains no signatures"},
		{"untrusted root", []string{"channel", "verify", signed, "--roots", otherRoots}, 1, "chain"},
		{"subject", []string{"channel", "verify", signed, "--roots", roots, "--subject", "CN=Other.*"}, 1, "does not match"},
		{"no roots", []string{"channel", "verify", signed}, 2, ""},
		{"no file", []string{"channel", "verify", "--roots", roots}, 2, ""},
		{"missing file", []string{"channel", "verify", filepath.Join(dir, "gone.exe"), "--roots", roots}, 2, ""},
		{"roots not PEM", []string{"channel", "verify", signed, "--roots", unsigned}, 2, ""},
		{"a Mach-O signed by quill", []string{"channel", "verify", mac, "--roots", roots, "--subject", "CN=Shop publisher,.*"}, 0,
			`: mach-o signature verified — signer "CN=Shop publisher,O=Shop" (issuer "CN=Shop root"), signed digest cdhash:`},
		{"a universal Mach-O signed by quill", []string{"channel", "verify", fat, "--roots", roots}, 0,
			`: mach-o universal signature verified — signer "CN=Shop publisher,O=Shop" (issuer "CN=Shop root"), signed digest cdhash:x86_64=`},
		{"a universal Mach-O of another root", []string{"channel", "verify", fat, "--roots", otherRoots}, 1, ": the x86_64 slice: not verified: Mach-O signer"},
		{"a Mach-O and its notarization", []string{"channel", "verify", mac, "--roots", roots}, 0, "identifier dev.shop.app, Team ID \"\", hardened runtime"},
		{"a Mach-O of another Team ID", []string{"channel", "verify", mac, "--roots", roots, "--team-id", "ABCDE12345"}, 1, "Team ID"},
		{"Team ID on a PE", []string{"channel", "verify", signed, "--roots", roots, "--team-id", "ABCDE12345"}, 1, "no Team ID"},
		{"neither PE nor Mach-O", []string{"channel", "verify", roots, "--roots", roots}, 1, "not a thin Mach-O"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execute(t, tc.args...)
			code := 0
			if err != nil {
				code = exitCode(err)
			}
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d (%v), want %d; output %q lacks %q", code, err, tc.code, out, tc.want)
			}
		})
	}
	// The feed's pre-flight: an unsigned installer publishes nothing; a signed one is published.
	feedDir := filepath.Join(t.TempDir(), "feed")
	if _, err := execute(t, "feed", "init", feedDir); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, "feed", "publish", feedDir, unsigned, "--platform", "windows-amd64", "--version", "1.0.0", "--verify-roots", roots)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "nothing published") {
		t.Errorf("publishing an unsigned installer: %v\n%s", err, out)
	}
	if out, err := execute(t, "feed", "show", feedDir, "--platform", "windows-amd64"); err == nil {
		t.Errorf("the refused installer was published: %s", out)
	}
	out, err = execute(t, "feed", "publish", feedDir, signed, "--platform", "windows-amd64", "--version", "1.0.0", "--verify-roots", roots, "--verify-subject", "CN=Shop publisher,.*")
	if err != nil || !strings.Contains(out, "authenticode signature verified") || !strings.Contains(out, `"version":"1.0.0"`) {
		t.Errorf("publishing a signed installer: %v\n%s", err, out)
	}

	out, err = execute(t, "channel", "verify", signed, "--roots", roots, "-o", "json")
	var v []struct {
		File, Format, Signer, Digest, SHA256 string
	}
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || len(v) != 1 || v[0].Format != "authenticode" || v[0].Signer != "CN=Shop publisher,O=Shop" || len(v[0].SHA256) != 64 {
		t.Errorf("-o json: %v %+v\n%s", err, v, out)
	}
}
