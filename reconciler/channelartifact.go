package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	kauth "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/channel"
	"bollard.dev/bollard/channel/feed"
	"bollard.dev/bollard/channel/play"
)

// annotationTitle names a layer's file (OCI image spec, annotations.md).
const annotationTitle = "org.opencontainers.image.title"

// MaxArtifactFile bounds one file of a channel artifact (an app bundle, an installer), and all
// of them together; maxArtifactFiles bounds their number.
const (
	MaxArtifactFile  = 2 << 30
	maxArtifactFiles = 32
)

// PullArtifact fetches the OCI artifact ref (repository@sha256:…) into dir with the credentials
// of keychain: each layer is a file named by its org.opencontainers.image.title annotation, its
// digest checked while read. Files are returned by title.
func PullArtifact(ctx context.Context, ref, dir string, keychain authn.Keychain) (map[string]string, error) {
	d, err := name.NewDigest(ref)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: want repository@sha256:…: %w", ref, err)
	}
	img, err := remote.Image(d, remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain))
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", ref, err)
	}
	if len(m.Layers) > maxArtifactFiles {
		return nil, fmt.Errorf("artifact %s has %d layers, more than the %d allowed", ref, len(m.Layers), maxArtifactFiles)
	}
	var total int64
	for _, l := range m.Layers {
		if total += l.Size; l.Size < 0 || total > MaxArtifactFile {
			return nil, fmt.Errorf("artifact %s: its files are more than the %d bytes allowed", ref, int64(MaxArtifactFile))
		}
	}
	files := map[string]string{}
	for _, l := range m.Layers {
		title := l.Annotations[annotationTitle]
		if title == "" || title != filepath.Base(title) || strings.HasPrefix(title, ".") {
			return nil, fmt.Errorf("artifact %s: layer %s: want a file name in its %s annotation, got %q", ref, l.Digest, annotationTitle, title)
		}
		if _, dup := files[title]; dup {
			return nil, fmt.Errorf("artifact %s: two layers titled %q", ref, title)
		}
		if l.Size > MaxArtifactFile {
			return nil, fmt.Errorf("artifact %s: %s is %d bytes, more than the %d allowed", ref, title, l.Size, int64(MaxArtifactFile))
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("artifact %s: %s: %w", ref, title, err)
		}
		rc, err := layer.Compressed() // the blob as pushed; remote checks its digest at EOF
		if err != nil {
			return nil, fmt.Errorf("artifact %s: %s: %w", ref, title, err)
		}
		path := filepath.Join(dir, title)
		err = writeFile(path, io.LimitReader(rc, l.Size+1), l.Size)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("artifact %s: %s: %w", ref, title, err)
		}
		files[title] = path
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("artifact %s has no layers", ref)
	}
	return files, nil
}

func writeFile(path string, r io.Reader, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, the manifest says %d", n, size)
	}
	return err
}

// ChannelProviders builds the channel of a ChannelRelease: feeds under feedRoot/NAMESPACE ("" :
// no feed target), Google Play with the credentials of a Secret read as the release's ServiceAccount.
func ChannelProviders(feedRoot string, play func(ctx context.Context, cr *v1alpha1.ChannelRelease, credentials []byte) (channel.Provider, error)) func(context.Context, client.Client, *v1alpha1.ChannelRelease) (channel.Provider, error) {
	return func(ctx context.Context, c client.Client, cr *v1alpha1.ChannelRelease) (channel.Provider, error) {
		t := cr.Spec.Target
		switch t.Type {
		case v1alpha1.ChannelFeed:
			if t.Feed == nil {
				return nil, errors.New("spec.target.feed: missing")
			}
			if feedRoot == "" {
				return nil, errors.New("this daemon keeps no feeds (--feed-root)")
			}
			if t.Feed.Repository == "" || t.Feed.Repository != filepath.Base(t.Feed.Repository) || strings.HasPrefix(t.Feed.Repository, ".") {
				return nil, fmt.Errorf("spec.target.feed.repository %q: want a directory name under the daemon's feed root", t.Feed.Repository)
			}
			// A namespace's feeds are its own: feedRoot/NAMESPACE/REPOSITORY.
			repo, err := feed.Open(filepath.Join(feedRoot, cr.Namespace, t.Feed.Repository))
			if err != nil {
				return nil, fmt.Errorf("feed %s: %w", t.Feed.Repository, err)
			}
			return &feed.Provider{Repo: repo, Channel: t.Feed.Channel, Platform: t.Feed.Platform, File: t.Feed.File}, nil
		case v1alpha1.ChannelGooglePlay:
			g := t.GooglePlay
			if g == nil {
				return nil, errors.New("spec.target.googlePlay: missing")
			}
			if play == nil {
				return nil, errors.New("this daemon has no Google Play provider")
			}
			var s corev1.Secret
			if err := c.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: g.CredentialsSecretRef.Name}, &s); err != nil {
				return nil, fmt.Errorf("credentials Secret %s: %w", g.CredentialsSecretRef.Name, err)
			}
			key := g.CredentialsSecretRef.Key
			if key == "" {
				key = "service-account.json"
			}
			creds, ok := s.Data[key]
			if !ok {
				return nil, fmt.Errorf("credentials Secret %s has no key %q", g.CredentialsSecretRef.Name, key)
			}
			return play(ctx, cr, creds)
		}
		return nil, fmt.Errorf("spec.target.type %q: want googlePlay or feed", t.Type)
	}
}

// googleHosts are Google's own API and token endpoints: a Play target may always reach them.
var googleHosts = map[string]bool{"https://androidpublisher.googleapis.com/": true, "https://oauth2.googleapis.com/token": true}

// playProvider is the Google Play channel on Google's generated client. An endpoint other than
// Google's — the target's, or the token_uri of the service account key — must be one the
// daemon's --allowed-hosts lists: a tenant cannot point the daemon (and a signed JWT) elsewhere.
func (r *Reconciler) playProvider(ctx context.Context, cr *v1alpha1.ChannelRelease, credentials []byte) (channel.Provider, error) {
	g := cr.Spec.Target.GooglePlay
	var key struct {
		TokenURI string `json:"token_uri"`
	}
	if err := json.Unmarshal(credentials, &key); err != nil {
		return nil, errors.New("the credentials are not a service account JSON key")
	}
	for what, u := range map[string]string{"spec.target.googlePlay.endpoint": g.Endpoint, "the service account key's token_uri": key.TokenURI} {
		if u == "" || googleHosts[u] {
			continue
		}
		if err := r.egress().Check(u); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return play.New(ctx, play.Config{PackageName: g.PackageName, Track: g.Track, Credentials: credentials, Endpoint: g.Endpoint})
}

// pullKeychain is what a ChannelRelease pulls its artifact with: the image pull secrets of the
// ServiceAccount it acts as, read as that ServiceAccount — never the daemon's own registry
// credentials (a release reads only what its namespace may). No pull secrets: anonymous. A
// daemon without tenancy (no ServiceAccount to act as) acts, and pulls, as itself.
func (c *ChannelReconciler) pullKeychain(ctx context.Context, cr *v1alpha1.ChannelRelease) (authn.Keychain, error) {
	rel := asRelease(cr)
	saName := c.Releases.serviceAccount(rel)
	if saName == "" {
		return authn.DefaultKeychain, nil
	}
	cl, err := c.Releases.clientFor(rel)
	if err != nil {
		return nil, err
	}
	var sa corev1.ServiceAccount
	if err := cl.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: saName}, &sa); err != nil {
		return nil, fmt.Errorf("the ServiceAccount %s's image pull secrets: %w", saName, err)
	}
	secrets := make([]corev1.Secret, 0, len(sa.ImagePullSecrets))
	for _, ref := range sa.ImagePullSecrets {
		var s corev1.Secret
		if err := cl.Get(ctx, client.ObjectKey{Namespace: cr.Namespace, Name: ref.Name}, &s); err != nil {
			return nil, fmt.Errorf("image pull secret %s of ServiceAccount %s: %w", ref.Name, saName, err)
		}
		secrets = append(secrets, s)
	}
	return kauth.NewFromPullSecrets(ctx, secrets)
}
