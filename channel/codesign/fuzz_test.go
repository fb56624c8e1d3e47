package codesign

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzMachOSignature: no superblob or code directory, however hostile, panics the verifier or
// makes it allocate beyond the file; it is either refused or (never, here) verified.
func FuzzMachOSignature(f *testing.F) {
	be := binary.BigEndian
	cd := make([]byte, 88+32*2)
	be.PutUint32(cd, magicCodeDir)
	be.PutUint32(cd[4:], uint32(len(cd)))
	be.PutUint32(cd[8:], 0x20400)
	be.PutUint32(cd[16:], 88) // hash offset
	be.PutUint32(cd[28:], 2)  // code slots
	be.PutUint32(cd[32:], 8192)
	cd[36], cd[37], cd[39] = 32, 2, 12
	sb := make([]byte, 20)
	be.PutUint32(sb, magicSuperBlob)
	be.PutUint32(sb[4:], uint32(20+len(cd)))
	be.PutUint32(sb[8:], 1)
	be.PutUint32(sb[16:], 20)
	f.Add(append(sb, cd...))
	f.Add([]byte{0xfa, 0xde, 0x0c, 0xc0, 0, 0, 0, 12, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, blob []byte) {
		dirs, _, _, err := superBlob(blob)
		if err != nil {
			return
		}
		file := append(make([]byte, 8192), blob...)
		for i := range dirs {
			h, err := dirs[i].hash()
			if err == nil {
				_ = checkPages(bytes.NewReader(file), &dirs[i], h, 8192)
			}
		}
		// The whole verifier on a file that is only this blob.
		if _, err := MachO(bytes.NewReader(file), int64(len(file)), MachOOptions{Options: Options{Roots: x509.NewCertPool()}}); err == nil {
			t.Fatal("a fuzzed signature verified")
		}
	})
}

// FuzzAndroidUploadKey: no bundle, however hostile — a broken zip, a manifest or signature file
// of junk, entries named to confuse — panics the upload-key check or passes it: with no signature
// by the pinned key it is always refused.
func FuzzAndroidUploadKey(f *testing.F) {
	zipOf := func(entries ...string) []byte {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for i := 0; i+1 < len(entries); i += 2 {
			e, _ := w.Create(entries[i])
			_, _ = e.Write([]byte(entries[i+1]))
		}
		_ = w.Close()
		return buf.Bytes()
	}
	manifest := "Manifest-Version: 1.0\r\nCreated-By: 17 (jarsigner)\r\n\r\nName: base/dex/classes.dex\r\nSHA-256-Digest: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n\r\n"
	f.Add(zipOf("base/dex/classes.dex", "dex"))
	f.Add(zipOf("META-INF/MANIFEST.MF", manifest, "META-INF/UPLOAD.SF", "Signature-Version: 1.0\r\nSHA-256-Digest-Manifest: AAAA\r\n\r\n",
		"META-INF/UPLOAD.RSA", "\x30\x82\x01\x00junk", "base/dex/classes.dex", "dex"))
	f.Add(zipOf("META-INF/MANIFEST.MF", manifest, "META-INF/A.SF", manifest, "META-INF/A.EC", "\x30\x03\x02\x01\x01", "../../etc/passwd", "x"))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	pin := strings.Repeat("AB:", 31) + "AB"
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.aab")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if res, err := AndroidUploadKey(path, []string{pin}); err == nil {
			t.Fatalf("a fuzzed bundle passed the upload-key pin: %+v", res)
		}
	})
}
