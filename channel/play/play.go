// Package play is the Google Play channel: a channel.Provider on the Google Play Developer
// API (Android Publisher v3) through Google's generated client,
// google.golang.org/api/androidpublisher/v3.
//
// Every change is one transactional edit — edits.insert, the change, edits.validate,
// edits.commit — and an edit that fails after insert is deleted. A staged rollout is the
// userFraction of the track's release; the red button is status "halted", which stops Play
// offering the build to new users and nothing more: users who updated keep it.
//
// Tests run the real client against bollard.dev/bollard/channel/play/playfake, a contract
// fake built from the API's discovery document. Passing them shows the client speaks the
// API as documented; only a run with real credentials shows what Google Play does.
package play

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	androidpublisher "google.golang.org/api/androidpublisher/v3"
	"google.golang.org/api/option"

	"bollard.dev/bollard/channel"
)

var _ channel.Provider = (*Provider)(nil)

// DefaultTrack is the track a Config without one releases to.
const DefaultTrack = "production"

// Config is one app on one track.
type Config struct {
	// PackageName is the app's package name ("dev.bollard.shop").
	PackageName string
	// Track is the release track; default DefaultTrack. Form-factor tracks carry their
	// prefix ("wear:production").
	Track string
	// Credentials is a service-account JSON key with access to the app in the Play Console.
	// It never appears in an error or log of this package.
	Credentials []byte
	// Endpoint overrides Google's API endpoint (https://androidpublisher.googleapis.com/).
	// Tests point it at the contract fake; the key's token_uri then names the fake's token
	// endpoint, so the real OAuth 2.0 JWT exchange runs against it too.
	Endpoint string
	// UploadChunkSize is how much of a bundle the client holds in memory at a time: a bundle
	// larger than one chunk goes up with Google's resumable protocol, chunk by chunk. Zero
	// means the client's default (16 MiB). Deadlines come from the caller's context.
	UploadChunkSize int
}

// Provider ships Android App Bundles through Google Play. Its calls are serialized: Play
// gives an app one edit at a time.
type Provider struct {
	svc   *androidpublisher.Service
	pkg   string
	track string
	chunk int

	mu sync.Mutex
}

// New builds the client. It sends nothing: the first call to Google (the token exchange)
// happens with the first provider call.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.PackageName == "" {
		return nil, errors.New("play: config has no package name")
	}
	if cfg.Track == "" {
		cfg.Track = DefaultTrack
	}
	if cfg.UploadChunkSize < 0 {
		return nil, fmt.Errorf("play: upload chunk size %d is negative", cfg.UploadChunkSize)
	}
	if err := checkServiceAccount(cfg.Credentials); err != nil {
		return nil, err
	}
	opts := []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, cfg.Credentials)}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("play: endpoint %q is not an absolute URL", cfg.Endpoint)
		}
		// Every call carries the access token: plain HTTP only to this machine.
		if u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())) {
			return nil, fmt.Errorf("play: endpoint %q: the access token travels over HTTPS only (plain HTTP to loopback for tests)", cfg.Endpoint)
		}
		// The generated client resolves its paths against the endpoint as a directory.
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(cfg.Endpoint, "/")+"/"))
	}
	svc, err := androidpublisher.NewService(ctx, opts...)
	if err != nil {
		// The client's errors name options, never the key's contents.
		return nil, fmt.Errorf("play: building the Android Publisher client: %w", err)
	}
	return &Provider{svc: svc, pkg: cfg.PackageName, track: cfg.Track, chunk: cfg.UploadChunkSize}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkServiceAccount refuses credentials that are not a service-account key before the
// client sees them. Its errors never quote the input: a JSON syntax error would.
func checkServiceAccount(creds []byte) error {
	var sa struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if len(creds) == 0 {
		return errors.New("play: no credentials")
	}
	if json.Unmarshal(creds, &sa) != nil {
		return errors.New("play: credentials are not a JSON service-account key")
	}
	if sa.Type != "service_account" {
		return errors.New(`play: credentials are not a service-account key (type is not "service_account")`)
	}
	if sa.ClientEmail == "" || sa.PrivateKey == "" {
		return errors.New("play: service-account key lacks client_email or private_key")
	}
	return nil
}

// inEdit runs change in a new edit. When change asks for a commit, the edit is validated
// and committed; otherwise — and on any error after edits.insert — it is deleted, best
// effort, with a context the caller's cancellation does not reach.
func (p *Provider) inEdit(ctx context.Context, change func(editID string) (commit bool, err error)) (err error) {
	ed, err := p.svc.Edits.Insert(p.pkg, &androidpublisher.AppEdit{}).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("edits.insert: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := p.svc.Edits.Delete(p.pkg, ed.Id).Context(dctx).Do(); derr != nil && err != nil {
			err = errors.Join(err, fmt.Errorf("edits.delete %s (best effort): %w", ed.Id, derr))
		}
	}()
	commit, err := change(ed.Id)
	if err != nil || !commit {
		return err
	}
	if _, err := p.svc.Edits.Validate(p.pkg, ed.Id).Context(ctx).Do(); err != nil {
		return fmt.Errorf("edits.validate: %w", err)
	}
	if _, err := p.svc.Edits.Commit(p.pkg, ed.Id).Context(ctx).Do(); err != nil {
		return fmt.Errorf("edits.commit: %w", err)
	}
	committed = true
	return nil
}

func (p *Provider) getTrack(ctx context.Context, editID string) (*androidpublisher.Track, error) {
	t, err := p.svc.Edits.Tracks.Get(p.pkg, editID, p.track).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("edits.tracks.get %s: %w", p.track, err)
	}
	return t, nil
}

func (p *Provider) updateTrack(ctx context.Context, editID string, releases []*androidpublisher.TrackRelease) error {
	t := &androidpublisher.Track{Track: p.track, Releases: releases}
	if _, err := p.svc.Edits.Tracks.Update(p.pkg, editID, p.track, t).Context(ctx).Do(); err != nil {
		return fmt.Errorf("edits.tracks.update %s: %w", p.track, err)
	}
	return nil
}

// holds reports whether a release names versionCode.
func holds(r *androidpublisher.TrackRelease, versionCode int64) bool {
	for _, vc := range r.VersionCodes {
		if vc == versionCode {
			return true
		}
	}
	return false
}
