package feed

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Client is one installation's view of a feed: it trusts the root it was shipped with, refreshes
// the signed metadata (refusing expired, rolled-back or tampered metadata, and any target whose
// hash the targets role did not sign), and decides whether this installation is offered the
// channel's version.
type Client struct {
	// URL of the feed (serving DIR/metadata under /metadata/ and DIR/targets under /targets/).
	URL string
	// Root is the feed's 1.root.json as shipped with the application (trust on first use is not
	// done: a client that never had the root trusts nothing).
	Root []byte
	// Dir keeps the trusted metadata between checks (an older timestamp is then refused).
	Dir string
	// InstallID picks the installation's cohort, stable across checks.
	InstallID string
	Platform  string
	Channel   string
	// Current is the version installed, and Installed its file (a delta from it is downloaded
	// instead of the whole file when the feed has one).
	Current   string
	Installed string
	// HTTP, when set, fetches (tests count requests with it).
	HTTP *http.Client
}

// Offer is an update offered to this installation.
type Offer struct {
	Pointer
	// Downgrade: the channel rolled back the installed version.
	Downgrade bool
}

// Check refreshes the metadata and returns the channel's offer for this installation, if any: a
// version other than the installed one, not halted, whose rollout includes its cohort (a rollback
// is offered to everyone on the withdrawn version).
func (c *Client) Check() (Offer, bool, error) {
	up, err := c.updater()
	if err != nil {
		return Offer{}, false, err
	}
	tf, err := up.GetTargetInfo(pointerPath(c.Channel, c.Platform))
	if err != nil {
		return Offer{}, false, fmt.Errorf("channel %s for %s: %w", c.Channel, c.Platform, err)
	}
	if tf.Custom == nil {
		return Offer{}, false, errors.New("the channel pointer carries no release")
	}
	var p Pointer
	if err := json.Unmarshal(*tf.Custom, &p); err != nil {
		return Offer{}, false, err
	}
	if p.Version == c.Current || p.Halted {
		return Offer{}, false, nil
	}
	if p.Withdrawn != "" && p.Withdrawn == c.Current {
		return Offer{Pointer: p, Downgrade: true}, true, nil // everyone on the withdrawn version
	}
	if p.Percent < 100 && !InCohort(c.InstallID, p.Version, p.Percent) {
		return Offer{}, false, nil
	}
	return Offer{Pointer: p}, true, nil
}

// Download fetches the offer's target into the client's directory and returns its path: from a
// delta against the installed file when the feed has one (checked against the full target's
// signed hash, the whole file downloaded instead when it does not match), else whole — always
// checked against the length and sha256 the targets role signed. viaDelta says which.
func (c *Client) Download(o Offer) (path string, viaDelta bool, err error) {
	up, err := c.updater()
	if err != nil {
		return "", false, err
	}
	tf, err := up.GetTargetInfo(o.Target)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", o.Target, err)
	}
	dest := filepath.Join(c.Dir, "download", filepath.Base(o.Target))
	if path, ok := c.viaDelta(up, o, tf, dest); ok {
		return path, true, nil
	}
	path, _, err = up.DownloadTarget(tf, dest, "")
	return path, false, err
}

// viaDelta builds the target from the installed file and a signed delta; false when there is no
// delta from it, or the result is not the signed target.
func (c *Client) viaDelta(up *updater.Updater, o Offer, full *metadata.TargetFiles, dest string) (string, bool) {
	if c.Installed == "" {
		return "", false
	}
	for _, d := range o.Deltas {
		if d.From != c.Current {
			continue
		}
		info, err := up.GetTargetInfo(d.Target)
		if err != nil {
			return "", false
		}
		_, patch, err := up.DownloadTarget(info, filepath.Join(c.Dir, "download", filepath.Base(d.Target)), "")
		if err != nil {
			return "", false
		}
		old, err := os.ReadFile(c.Installed)
		if err != nil {
			return "", false
		}
		out, err := ApplyDelta(old, patch, full.Length)
		if err != nil || full.VerifyLengthHashes(out) != nil {
			return "", false // the installed file is not what the delta was made from
		}
		if err := os.WriteFile(dest, out, 0o644); err != nil {
			return "", false
		}
		return dest, true
	}
	return "", false
}

// updater is a go-tuf Updater for one refresh (go-tuf's Updater is single-use), trusting the
// metadata kept in Dir, or the shipped root.
func (c *Client) updater() (*updater.Updater, error) {
	if err := os.MkdirAll(filepath.Join(c.Dir, "download"), 0o755); err != nil {
		return nil, err
	}
	root, err := os.ReadFile(filepath.Join(c.Dir, "root.json"))
	if err != nil {
		root = c.Root
	}
	cfg, err := config.New(c.URL+"/metadata/", root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = c.Dir
	cfg.LocalTargetsDir = filepath.Join(c.Dir, "download")
	cfg.RemoteTargetsURL = c.URL + "/targets/"
	cfg.PrefixTargetsWithHash = true
	if c.HTTP != nil {
		cfg.Fetcher = fetcher.NewDefaultFetcher().NewFetcherWithHTTPClient(c.HTTP)
	}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := up.Refresh(); err != nil {
		return nil, fmt.Errorf("feed metadata: %w", err)
	}
	return up, nil
}

// InCohort tells whether installation id is among the percent offered version: sha256 of the id
// and the version, mod 10000, below percent×100 — stable for an installation and a version, and
// independent between versions.
func InCohort(id, version string, percent int) bool {
	h := sha256.Sum256([]byte(id + "\x00" + version))
	return binary.BigEndian.Uint64(h[:8])%10000 < uint64(percent)*100
}
