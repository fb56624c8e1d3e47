package feed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sigstore/cosign/v3/cmd/cosign/cli/options"
	"github.com/sigstore/cosign/v3/cmd/cosign/cli/signcommon"
	cbundle "github.com/sigstore/cosign/v3/pkg/cosign/bundle"
	sigsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
)

// SignSums writes targets/SHA256SUMS — every published file and delta, as `sha256sum -c` reads
// it from the targets folder's copy of the feed — and its signature by a cosign key as a Sigstore
// bundle, targets/SHA256SUMS.sigstore.json, which `cosign verify-blob --key KEY.pub --bundle …`
// checks: for people and tools that do not speak TUF. (Offline: no transparency log upload.)
func (r *Repo) SignSums(ctx context.Context, keyPath string, password []byte) (string, error) {
	unlock, err := r.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	targets, err := r.targets()
	if err != nil {
		return "", err
	}
	var lines []string
	for path, tf := range targets.Signed.Targets {
		if strings.Contains(path, "/channels/") {
			continue // pointers change with every step; their hashes are in the TUF metadata
		}
		stored := filepath.Join(filepath.Dir(path), tf.Hashes["sha256"].String()+"."+filepath.Base(path))
		lines = append(lines, fmt.Sprintf("%s  %s\n", tf.Hashes["sha256"].String(), stored))
	}
	sort.Strings(lines)
	sums := filepath.Join(r.Dir, "targets", "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(strings.Join(lines, "")), 0o644); err != nil {
		return "", err
	}
	// What `cosign sign-blob --key KEY --bundle … --new-bundle-format --tlog-upload=false` does.
	ko := options.KeyOpts{KeyRef: keyPath, PassFunc: func(bool) ([]byte, error) { return password, nil }, SkipConfirmation: true,
		DefaultLoadOptions: &[]signature.LoadOption{}}
	sc, err := signcommon.NewSigningConfigFromKeyOpts(ko, false)
	if err != nil {
		return "", err
	}
	keypair, _, _, err := signcommon.GetKeypairAndToken(ctx, ko, "", "")
	if err != nil {
		return "", fmt.Errorf("SHA256SUMS signing key: %w", err)
	}
	if closer, ok := keypair.(interface{ Close() }); ok {
		defer closer.Close()
	}
	data, err := os.ReadFile(sums)
	if err != nil {
		return "", err
	}
	bundle, err := cbundle.SignData(ctx, &sigsign.PlainData{Data: data}, keypair, "", nil, sc, nil, cbundle.SignOptions{})
	if err != nil {
		return "", fmt.Errorf("signing SHA256SUMS: %w", err)
	}
	if err := os.WriteFile(sums+".sigstore.json", bundle, 0o644); err != nil {
		return "", err
	}
	return sums, nil
}
