package imagesig

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerHubHosts are the names that pull from Docker Hub, as containerd resolves them.
var dockerHubHosts = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// Canonical is the reference a container runtime pulls for image, in the distribution/reference
// normalisation containerd uses (docker.io/library defaults), after the host spellings that reach
// the same registry are folded: the host's case, a trailing dot, the HTTPS default port :443, and
// Docker Hub's other names (index.docker.io, registry-1.docker.io). ok is false when image is no
// reference at all.
func Canonical(image string) (string, bool) {
	named, ok := canonical(image)
	if !ok {
		return "", false
	}
	return named.String(), true
}

// canonical is Canonical's reference, parsed.
func canonical(image string) (reference.Named, bool) {
	host, rest, found := strings.Cut(image, "/")
	if found && isHost(host) {
		// Each folding only where the result is still a host name (a single label without a dot
		// or port would turn into a Docker Hub path).
		h := strings.ToLower(host)
		if s := strings.TrimSuffix(h, ":443"); s != h && isHost(s) {
			h = s
		}
		if s := strings.TrimSuffix(h, "."); s != h && isHost(s) {
			h = s
		}
		if dockerHubHosts[h] {
			h = "docker.io"
		}
		image = h + "/" + rest
	}
	named, err := reference.ParseNormalizedNamed(image)
	return named, err == nil
}

// isHost reports a first path component that distribution reads as a registry host by its dot,
// port or name (an upper-case one it reads as a host too, and is left as it is).
func isHost(s string) bool { return strings.ContainsAny(s, ".:") || s == "localhost" }

// candidates are the names a policy glob is tried on for image: the canonical reference and its
// repository, in distribution's spelling (docker.io/library/nginx) and in go-containerregistry's,
// which sigstore policy-controller matches against (index.docker.io/library/nginx); the image as
// written only when it is no reference (a glob still decides on it, fail closed).
func candidates(image string) []string {
	named, ok := canonical(image)
	if !ok {
		return []string{image}
	}
	out := []string{named.String(), named.Name()}
	if ref, err := name.ParseReference(named.String()); err == nil {
		out = append(out, ref.Name(), ref.Context().Name())
	}
	return out
}
