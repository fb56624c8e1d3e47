package feed

import (
	"fmt"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// A delta is a zstd frame of the new file compressed with the old one as its raw dictionary —
// the format of `zstd --patch-from=OLD NEW`, so Debian's zstd applies bollard's deltas and
// bollard applies zstd's.

// window is the smallest zstd window (a power of two) that reaches back over old and new.
func window(old, new int) int {
	n := max(old+new, zstd.MinWindowSize)
	return min(1<<bits.Len(uint(n-1)), zstd.MaxWindowSize)
}

// MakeDelta is the patch that turns old into new.
func MakeDelta(old, new []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(0, old), zstd.WithWindowSize(window(len(old), len(new))),
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(new, nil), nil
}

// ApplyDelta turns old into the file delta was made for; the result is bounded by max bytes.
func ApplyDelta(old, delta []byte, max int64) ([]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDictRaw(0, old), zstd.WithDecoderMaxMemory(uint64(max)),
		zstd.WithDecoderMaxWindow(uint64(window(len(old), int(max)))))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	out, err := dec.DecodeAll(delta, nil)
	if err != nil {
		return nil, fmt.Errorf("delta: %w", err)
	}
	return out, nil
}
