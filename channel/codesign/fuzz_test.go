package codesign

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
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
