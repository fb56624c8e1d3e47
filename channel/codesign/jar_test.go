package codesign

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bollard.dev/bollard/channel/codesign/codesigntest"
)

// bundle writes an AAB-shaped zip with entries.
func bundle(t *testing.T, entries map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.aab")
	if err := os.WriteFile(path, codesigntest.Zip(t, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rewrite copies the zip at file with change applied to its entries (signature files kept).
func rewrite(t *testing.T, file string, change func(map[string][]byte)) string {
	t.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	entries := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		r, _ := f.Open()
		var b bytes.Buffer
		b.ReadFrom(r)
		r.Close()
		entries[f.Name] = b.Bytes()
		order = append(order, f.Name)
	}
	change(entries)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name := range entries {
		if !strings.Contains(strings.Join(order, "\n")+"\n", name+"\n") {
			order = append(order, name)
		}
	}
	for _, name := range order {
		w, _ := zw.Create(name)
		w.Write(entries[name])
	}
	zw.Close()
	out := filepath.Join(t.TempDir(), "changed.aab")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAndroidUploadKey: a bundle signed by the JDK's jarsigner with the pinned upload key is
// verified (its fingerprint as keytool prints it, colons and case ignored); another key, a
// changed entry, an entry added after signing and an unsigned bundle are refused.
func TestAndroidUploadKey(t *testing.T) {
	upload, other := codesigntest.NewUploadKey(t, "CN=Shop upload"), codesigntest.NewUploadKey(t, "CN=Someone else")
	signed := bundle(t, map[string]string{"BundleConfig.pb": "config", "base/manifest/AndroidManifest.xml": "manifest", "base/dex/classes.dex": "dex v1"})
	upload.Sign(t, signed)

	res, err := AndroidUploadKey(signed, []string{strings.ToUpper(colons(upload.Fingerprint))})
	if err != nil {
		t.Fatalf("the pinned key's bundle: %v", err)
	}
	if res.CertSHA256 != colons(upload.Fingerprint) || !strings.Contains(res.Signer, "CN=Shop upload") {
		t.Errorf("result %+v", res)
	}
	refused := func(name, file string, pins []string, want string) {
		t.Helper()
		_, err := AndroidUploadKey(file, pins)
		if !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want not verified with %q", name, err, want)
		}
	}
	refused("another pin", signed, []string{other.Fingerprint}, "signed by CN=Shop upload (SHA-256 "+colons(upload.Fingerprint)+"): not a pinned upload certificate")
	refused("a changed entry", rewrite(t, signed, func(e map[string][]byte) { e["base/dex/classes.dex"] = []byte("dex evil") }), []string{upload.Fingerprint}, "classes.dex")
	refused("an entry added after signing", rewrite(t, signed, func(e map[string][]byte) { e["base/dex/classes2.dex"] = []byte("evil") }), []string{upload.Fingerprint},
		"base/dex/classes2.dex is not in the signed manifest")
	unsigned := bundle(t, map[string]string{"base/dex/classes.dex": "dex"})
	refused("unsigned", unsigned, []string{upload.Fingerprint}, "JAR signature")
	junk := filepath.Join(t.TempDir(), "junk.aab")
	if err := os.WriteFile(junk, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused("not a zip", junk, []string{upload.Fingerprint}, "not a zip")
}
