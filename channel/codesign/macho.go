package codesign

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Mach-O code directories may use SHA-1; a SHA-256 one is required beside it
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
)

// Mach-O code signature constants (xnu's cs_blobs.h).
const (
	lcCodeSignature  = 0x1d
	magicSuperBlob   = 0xfade0cc0
	magicCodeDir     = 0xfade0c02
	magicBlobWrapper = 0xfade0b01
	slotCodeDir      = 0
	slotAltCodeDir   = 0x1000
	slotCMS          = 0x10000
	cdRuntime        = 0x10000 // CS_RUNTIME: the hardened runtime
)

// MachOOptions are what a Mach-O signature must satisfy beyond Options.
type MachOOptions struct {
	Options
	// TeamID, when set, must equal the code directory's Team ID.
	TeamID string
	// HardenedRuntime requires the hardened runtime flag (notarization requires it).
	HardenedRuntime bool
}

// MachOResult is what a verified Mach-O signature says, beyond Result.
type MachOResult struct {
	Result
	// Identifier is the code directory's signing identifier; TeamID its Team ID ("" when none).
	Identifier string `json:"identifier"`
	TeamID     string `json:"teamID"`
	// CDHash is the code directory hash (the first 20 bytes of its SHA-256) — what macOS and a
	// notarization ticket identify the code by.
	CDHash          string `json:"cdHash"`
	HardenedRuntime bool   `json:"hardenedRuntime"`
	// Notarization is always "not verifiable offline": a bare Mach-O cannot carry a stapled
	// ticket, and Apple's notary service is online.
	Notarization string `json:"notarization"`
	// Slices are the architectures of a universal (fat) Mach-O, each verified on its own (the
	// fields above then say what they share; CDHash is empty: each slice has its own).
	Slices []MachOSlice `json:"slices,omitempty"`
}

// MachOSlice is one verified architecture of a universal Mach-O.
type MachOSlice struct {
	Arch   string `json:"arch"`
	CDHash string `json:"cdHash"`
	// Offset and Size of the slice in the universal file.
	Offset uint32 `json:"offset"`
	Size   uint32 `json:"size"`
}

// codeDir is one parsed code directory and its raw bytes.
type codeDir struct {
	raw                          []byte
	flags, hashOffset, nSpecial  uint32
	nCode                        uint32
	codeLimit                    uint64
	hashSize, hashType, pageBits uint8
	ident, team                  string
}

func (cd codeDir) hash() (crypto.Hash, error) {
	switch cd.hashType {
	case 1:
		return crypto.SHA1, nil
	case 2, 3:
		return crypto.SHA256, nil
	case 4:
		return crypto.SHA384, nil
	}
	return 0, fmt.Errorf("code directory hash type %d unknown", cd.hashType)
}

func sum(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA1:
		s := sha1.Sum(b) //nolint:gosec
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(b)
		return s[:]
	}
	s := sha256.Sum256(b)
	return s[:]
}

// MachO verifies the code signature of a thin Mach-O binary (a macOS executable or dylib):
// every page hash of every code directory recomputed from r, the requirements and entitlements
// blobs against their special slots, the CMS signature over the code directory, the signer's
// chain to opts.Roots for code signing, opts.Subject, opts.TeamID and the hardened runtime.
// Notarization is not verifiable offline and the result says so.
func MachO(r io.ReaderAt, size int64, opts MachOOptions) (_ MachOResult, err error) {
	defer malformed(&err)
	if opts.Roots == nil {
		return MachOResult{}, errors.New("no roots to verify the signer against")
	}
	subject, err := subjectMatcher(opts.Subject)
	if err != nil {
		return MachOResult{}, err
	}
	f, err := macho.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		var fe *macho.FormatError
		if errors.As(err, &fe) {
			return MachOResult{}, notVerified("not a thin Mach-O file: %v", err)
		}
		return MachOResult{}, notVerified("Mach-O: %v", err)
	}
	var off, n uint32
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) >= 16 && f.ByteOrder.Uint32(raw) == lcCodeSignature {
			off, n = f.ByteOrder.Uint32(raw[8:]), f.ByteOrder.Uint32(raw[12:])
		}
	}
	if n == 0 {
		return MachOResult{}, notVerified("Mach-O: not signed (no LC_CODE_SIGNATURE)")
	}
	if int64(off)+int64(n) != size {
		// Bytes after the signature are hashed by no page: nothing vouches for them.
		return MachOResult{}, notVerified("Mach-O: the code signature (bytes %d–%d) does not end the file (%d bytes)", off, int64(off)+int64(n), size)
	}
	blob := make([]byte, n)
	if _, err := r.ReadAt(blob, int64(off)); err != nil {
		return MachOResult{}, err
	}
	dirs, blobs, cms, err := superBlob(blob)
	if err != nil {
		return MachOResult{}, notVerified("Mach-O code signature: %v", err)
	}
	// The CMS signature signs the primary code directory (slot 0); alternates would need the
	// CDHashes attributes checked, which this verifier does not do: they are not trusted, and the
	// primary must be SHA-256.
	primary := &dirs[0]
	h, _ := primary.hash()
	if h == crypto.SHA1 {
		return MachOResult{}, notVerified("Mach-O: the primary code directory is SHA-1 (a SHA-256 one is required; alternate directories are not authenticated by this verifier)")
	}
	if err := checkPages(r, primary, h, uint64(off)); err != nil {
		return MachOResult{}, notVerified("Mach-O: %v", err)
	}
	for slot := uint32(1); slot <= primary.nSpecial; slot++ {
		at := int(primary.hashOffset) - int(slot)*int(primary.hashSize)
		want := primary.raw[at : at+int(primary.hashSize)]
		data, ok := blobs[slot]
		switch {
		case slot == 1 || slot == 3: // Info.plist, resources: files of a bundle, not of a bare binary
			continue
		case !ok && !bytes.Equal(want, make([]byte, len(want))):
			return MachOResult{}, notVerified("Mach-O: special slot %d (%s) is hashed but its blob is missing", slot, slotName(slot))
		case ok && !hmac.Equal(sum(h, data)[:primary.hashSize], want):
			return MachOResult{}, notVerified("Mach-O: special slot %d (%s) does not match its blob", slot, slotName(slot))
		}
	}
	for slot := range blobs {
		if slot > primary.nSpecial {
			return MachOResult{}, notVerified("Mach-O: a %s blob the code directory does not hash", slotName(slot))
		}
	}
	if len(cms) == 0 {
		return MachOResult{}, notVerified("Mach-O: ad-hoc signature (no CMS signature: nobody vouches for it)")
	}
	psd, err := pkcs7.Unmarshal(cms)
	if err != nil {
		return MachOResult{}, notVerified("Mach-O CMS signature: %v", err)
	}
	sig, err := psd.Content.Verify(primary.raw, false)
	if err != nil {
		return MachOResult{}, notVerified("Mach-O CMS signature over the code directory: %v", err)
	}
	tsig, err := pkcs9.VerifyOptionalTimestamp(sig)
	if err != nil {
		return MachOResult{}, notVerified("Mach-O CMS timestamp: %v", err)
	}
	// The signer's chain, at the timestamp's time only when the timestamp authority's own chain
	// (to the same roots, for time stamping) verifies — as for Authenticode.
	if err := tsig.VerifyChain(opts.Roots, nil, x509.ExtKeyUsageCodeSigning); err != nil {
		return MachOResult{}, notVerified("Mach-O signer %q: chain: %v", sig.Certificate.Subject.String(), err)
	}
	ts := tsig.CounterSignature
	signer := sig.Certificate.Subject.String()
	if subject != nil && !subject.MatchString(signer) {
		return MachOResult{}, notVerified("Mach-O signer %q does not match %q", signer, opts.Subject)
	}
	cdHash := sum(h, primary.raw)[:20]
	res := MachOResult{
		Result: Result{Format: "mach-o", Signer: signer, Issuer: sig.Certificate.Issuer.String(), Digest: "cdhash:" + hex.EncodeToString(cdHash),
			PageHashes: true, Timestamped: ts != nil, SHA256: fileSHA256(r, size)},
		Identifier: primary.ident, TeamID: primary.team, CDHash: hex.EncodeToString(cdHash),
		HardenedRuntime: primary.flags&cdRuntime != 0, Notarization: "not verifiable offline",
	}
	if opts.TeamID != "" && res.TeamID != opts.TeamID {
		return MachOResult{}, notVerified("Mach-O Team ID %q, want %q", res.TeamID, opts.TeamID)
	}
	if opts.HardenedRuntime && !res.HardenedRuntime {
		return MachOResult{}, notVerified("Mach-O: the hardened runtime is off (notarization requires it)")
	}
	return res, nil
}

// superBlob cuts the embedded signature into its code directories, the special blobs the
// directories hash (by slot) and the CMS signature.
func superBlob(b []byte) (dirs []codeDir, blobs map[uint32][]byte, cms []byte, err error) {
	be := binary.BigEndian
	if len(b) < 12 || be.Uint32(b) != magicSuperBlob {
		return nil, nil, nil, errors.New("no embedded signature superblob")
	}
	length, count := be.Uint32(b[4:]), be.Uint32(b[8:])
	if int(length) > len(b) || 12+int(count)*8 > int(length) {
		return nil, nil, nil, errors.New("superblob truncated")
	}
	b = b[:length]
	blobs = map[uint32][]byte{}
	for i := range int(count) {
		typ, off := be.Uint32(b[12+i*8:]), be.Uint32(b[16+i*8:])
		if int(off)+8 > len(b) {
			return nil, nil, nil, fmt.Errorf("blob %d out of bounds", i)
		}
		blen := be.Uint32(b[off+4:])
		if blen < 8 || int(off)+int(blen) > len(b) {
			return nil, nil, nil, fmt.Errorf("blob %d out of bounds", i)
		}
		data := b[off : off+blen]
		switch {
		case typ == slotCodeDir || typ >= slotAltCodeDir && typ < slotAltCodeDir+5:
			cd, err := parseCodeDir(data)
			if err != nil {
				return nil, nil, nil, err
			}
			if typ == slotCodeDir {
				dirs = append([]codeDir{cd}, dirs...)
			} else {
				dirs = append(dirs, cd)
			}
		case typ == slotCMS:
			if be.Uint32(data) != magicBlobWrapper {
				return nil, nil, nil, errors.New("CMS blob has the wrong magic")
			}
			cms = data[8:]
		case typ >= 1 && typ < slotAltCodeDir:
			blobs[typ] = data
		}
	}
	if len(dirs) == 0 {
		return nil, nil, nil, errors.New("no code directory")
	}
	return dirs, blobs, cms, nil
}

func parseCodeDir(b []byte) (codeDir, error) {
	be := binary.BigEndian
	if len(b) < 44 || be.Uint32(b) != magicCodeDir {
		return codeDir{}, errors.New("code directory malformed")
	}
	cd := codeDir{raw: b, flags: be.Uint32(b[12:]), hashOffset: be.Uint32(b[16:]), nSpecial: be.Uint32(b[24:]), nCode: be.Uint32(b[28:]),
		codeLimit: uint64(be.Uint32(b[32:])), hashSize: b[36], hashType: b[37], pageBits: b[39]}
	version := be.Uint32(b[8:])
	cstr := func(off uint32) string {
		if off == 0 || int(off) >= len(b) {
			return ""
		}
		s := b[off:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return string(s)
	}
	cd.ident = cstr(be.Uint32(b[20:]))
	if version >= 0x20200 && len(b) >= 52 {
		cd.team = cstr(be.Uint32(b[48:]))
	}
	if version >= 0x20300 && len(b) >= 64 {
		if l := be.Uint64(b[56:]); l != 0 {
			cd.codeLimit = l
		}
	}
	h, err := cd.hash()
	if err != nil {
		return codeDir{}, err
	}
	if want := h.Size(); cd.hashType == 3 && cd.hashSize != 20 || cd.hashType != 3 && int(cd.hashSize) != want {
		return codeDir{}, fmt.Errorf("code directory hash size %d does not fit hash type %d", cd.hashSize, cd.hashType)
	}
	if cd.pageBits < 12 || cd.pageBits > 16 { // 4 KiB (Intel) to 64 KiB; Apple signs with 4 or 16 KiB pages
		return codeDir{}, fmt.Errorf("code directory page size 2^%d is not one Apple signs with", cd.pageBits)
	}
	end := uint64(cd.hashOffset) + uint64(cd.nCode)*uint64(cd.hashSize)
	if uint64(cd.hashOffset) < uint64(cd.nSpecial)*uint64(cd.hashSize) || end > uint64(len(b)) {
		return codeDir{}, errors.New("code directory slots out of bounds")
	}
	return cd, nil
}

// checkPages recomputes every code slot: page i of the file (up to the code limit).
func checkPages(r io.ReaderAt, cd *codeDir, h crypto.Hash, sigOffset uint64) error {
	if cd.codeLimit != sigOffset {
		return fmt.Errorf("the code directory covers %d bytes, but the signature starts at %d: not everything before it is signed", cd.codeLimit, sigOffset)
	}
	page := uint64(1) << cd.pageBits
	want := (cd.codeLimit + page - 1) / page
	if uint64(cd.nCode) != want {
		return fmt.Errorf("%d code slots for a code limit of %d bytes in pages of %d", cd.nCode, cd.codeLimit, page)
	}
	buf := make([]byte, page)
	for i := range uint64(cd.nCode) {
		start := i * page
		n := min(page, cd.codeLimit-start)
		if _, err := r.ReadAt(buf[:n], int64(start)); err != nil {
			return fmt.Errorf("page %d: %v", i, err)
		}
		at := uint64(cd.hashOffset) + i*uint64(cd.hashSize)
		if !hmac.Equal(sum(h, buf[:n])[:cd.hashSize], cd.raw[at:at+uint64(cd.hashSize)]) {
			return fmt.Errorf("page %d (bytes %d–%d) does not match its hash: the file was changed after signing", i, start, start+n)
		}
	}
	return nil
}

func slotName(slot uint32) string {
	switch slot {
	case 2:
		return "requirements"
	case 5:
		return "entitlements"
	case 7:
		return "DER entitlements"
	}
	return fmt.Sprintf("slot %d", slot)
}

func fileSHA256(r io.ReaderAt, size int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, io.NewSectionReader(r, 0, size))
	return hex.EncodeToString(h.Sum(nil))
}

// Verify verifies a file by its format: a Windows PE (Authenticode), a thin or a universal
// Mach-O; anything else is not verified.
func Verify(f *os.File, opts MachOOptions) (MachOResult, error) {
	st, err := f.Stat()
	if err != nil {
		return MachOResult{}, err
	}
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return MachOResult{}, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("MZ")):
		if opts.TeamID != "" || opts.HardenedRuntime {
			return MachOResult{}, notVerified("a Windows PE has no Team ID or hardened runtime")
		}
		res, err := Authenticode(f, opts.Options)
		return MachOResult{Result: res}, err
	case bytes.Equal(head, []byte{0xca, 0xfe, 0xba, 0xbe}):
		return Universal(f, st.Size(), opts)
	case bytes.Equal(head, []byte{0xca, 0xfe, 0xba, 0xbf}):
		return MachOResult{}, notVerified("a universal Mach-O with 64-bit offsets (fat_arch_64): not supported")
	}
	return MachO(f, st.Size(), opts)
}

// maxSlices bounds the architectures a universal Mach-O may list (Apple ships at most a few).
const maxSlices = 16

// Universal verifies a universal (fat) Mach-O: every architecture's slice is verified as MachO
// verifies a thin one (all must pass: macOS runs whichever slice fits the machine), the slices
// must share the signer, identifier, Team ID and hardened runtime, and nothing in the file may
// lie outside them but the header and zero padding (bytes no signature covers).
func Universal(r io.ReaderAt, size int64, opts MachOOptions) (_ MachOResult, err error) {
	defer malformed(&err)
	ff, err := macho.NewFatFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return MachOResult{}, notVerified("universal Mach-O: %v", err)
	}
	if len(ff.Arches) > maxSlices {
		return MachOResult{}, notVerified("universal Mach-O: %d architectures (at most %d)", len(ff.Arches), maxSlices)
	}
	arches := slices.Clone(ff.Arches)
	sort.Slice(arches, func(i, j int) bool { return arches[i].Offset < arches[j].Offset })
	// The header (8 bytes, 20 per architecture), then the slices in order with zeros between.
	covered := int64(8 + 20*len(arches))
	var res MachOResult
	for i, a := range arches {
		arch := archName(a.Cpu)
		if int64(a.Offset) < covered || int64(a.Offset)+int64(a.Size) > size {
			return MachOResult{}, notVerified("universal Mach-O: the %s slice (bytes %d–%d) overlaps another or leaves the file", arch, a.Offset, int64(a.Offset)+int64(a.Size))
		}
		if err := zeros(r, covered, int64(a.Offset)); err != nil {
			return MachOResult{}, notVerified("universal Mach-O: before the %s slice: %v", arch, err)
		}
		covered = int64(a.Offset) + int64(a.Size)
		one, err := MachO(io.NewSectionReader(r, int64(a.Offset), int64(a.Size)), int64(a.Size), opts)
		if err != nil {
			return MachOResult{}, fmt.Errorf("the %s slice: %w", arch, err)
		}
		if i == 0 {
			res = one
			res.Format, res.CDHash, res.Digest = "mach-o universal", "", ""
		} else if one.Signer != res.Signer || one.Identifier != res.Identifier || one.TeamID != res.TeamID || one.HardenedRuntime != res.HardenedRuntime {
			return MachOResult{}, notVerified("universal Mach-O: the %s slice is signed as %q (identifier %s, Team ID %q, hardened runtime %t), the %s slice as %q (identifier %s, Team ID %q, hardened runtime %t)",
				arch, one.Signer, one.Identifier, one.TeamID, one.HardenedRuntime, arches[0].Cpu, res.Signer, res.Identifier, res.TeamID, res.HardenedRuntime)
		}
		res.Timestamped = res.Timestamped && one.Timestamped
		res.Slices = append(res.Slices, MachOSlice{Arch: arch, CDHash: one.CDHash, Offset: a.Offset, Size: a.Size})
		sep := ","
		if i == 0 {
			sep = "cdhash:"
		}
		res.Digest += sep + arch + "=" + one.CDHash
	}
	if covered != size {
		return MachOResult{}, notVerified("universal Mach-O: %d bytes after the last slice, covered by no signature", size-covered)
	}
	res.SHA256 = fileSHA256(r, size)
	return res, nil
}

// archName is an architecture as Apple's tools name it (lipo -info).
func archName(c macho.Cpu) string {
	switch c {
	case macho.CpuAmd64:
		return "x86_64"
	case macho.CpuArm64:
		return "arm64"
	case macho.Cpu386:
		return "i386"
	case macho.CpuArm:
		return "arm"
	}
	return c.String()
}

// zeros checks that bytes [from, to) of r are all zero.
func zeros(r io.ReaderAt, from, to int64) error {
	buf := make([]byte, 32<<10)
	for at := from; at < to; {
		n := int(min(int64(len(buf)), to-at))
		if _, err := r.ReadAt(buf[:n], at); err != nil {
			return err
		}
		if i := bytes.IndexFunc(buf[:n], func(c rune) bool { return c != 0 }); i >= 0 {
			return fmt.Errorf("byte %d is not padding (%#x), and no signature covers it", at+int64(i), buf[i])
		}
		at += int64(n)
	}
	return nil
}
