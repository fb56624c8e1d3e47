// Command image assembles bollard's OCI image without Docker (go-containerregistry): one image per
// platform from a static binary — the binary, CA certificates, a non-root user, no shell — under
// one OCI image index, pushed to a registry. It writes the digests and each platform's SLSA v1
// provenance predicate (in-toto's Go types) to -out; hack/image.sh signs and attests with cosign.
//
//	image -repo REGISTRY/bollard -tag v1.2.3 -bin linux/amd64=bin/linux-amd64/bollard \
//	      -bin linux/arm64=bin/linux-arm64/bollard -out bin/image
package main

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	provenance "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// nonRoot is the user the image runs as (distroless's "nonroot").
const nonRoot = 65532

type bins map[string]string // platform → binary

func (b bins) String() string { return fmt.Sprint(map[string]string(b)) }
func (b bins) Set(s string) error {
	p, path, ok := strings.Cut(s, "=")
	if !ok || strings.Count(p, "/") != 1 {
		return fmt.Errorf("-bin %q: want OS/ARCH=PATH", s)
	}
	b[p] = path
	return nil
}

func main() {
	platforms := bins{}
	repo := flag.String("repo", "", "repository to push to (REGISTRY/PATH)")
	tag := flag.String("tag", "", "tag of the image index")
	commit := flag.String("commit", "unknown", "source commit (the full hash is recorded as its digest)")
	source := flag.String("source", "https://github.com/bollard-dev/bollard", "source repository")
	cacerts := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle put into the image")
	out := flag.String("out", "bin/image", "where digests.json and the provenance predicates go")
	flag.Var(platforms, "bin", "OS/ARCH=PATH of a static binary (repeatable)")
	flag.Parse()
	if err := run(*repo, *tag, *commit, *source, *cacerts, *out, platforms); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(repo, tag, commit, source, cacerts, out string, platforms bins) error {
	if repo == "" || tag == "" || len(platforms) == 0 {
		return errors.New("-repo, -tag and at least one -bin are required")
	}
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		return err
	}
	started := time.Now().UTC()
	certs, err := os.ReadFile(cacerts)
	if err != nil {
		return fmt.Errorf("CA certificates (Debian's ca-certificates): %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	digests := map[string]string{}
	for p, path := range platforms {
		img, err := image(p, path, certs, source, commit, tag)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		digests[p] = d.String()
		osName, arch, _ := strings.Cut(p, "/")
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}}})
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	digests["index"] = d.String()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for p, path := range platforms {
		pred, err := provenancePredicate(p, path, ref.String(), source, commit, started)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "provenance-"+strings.ReplaceAll(p, "/", "-")+".json"), pred, 0o644); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"reference": ref.Context().Digest(digests["index"]).String(), "digests": digests}, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "digests.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for p, d := range digests { // digest-index, digest-linux-amd64, … for scripts
		if err := os.WriteFile(filepath.Join(out, "digest-"+strings.ReplaceAll(p, "/", "-")), []byte(d+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Println(ref.Context().Digest(digests["index"]).String())
	return nil
}

// image is one platform's image: a single layer holding the binary, the CA bundle and the
// non-root user; entrypoint the binary, run as that user.
func image(platform, path string, certs []byte, source, commit, version string) (v1.Image, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0) // reproducible: the same binary gives the same digest
	for _, f := range []struct {
		name string
		mode int64
		data []byte
		dir  bool
	}{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRoot, nonRoot)},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", nonRoot)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "bollard", mode: 0o555, data: bin},
	} {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if f.name == "home/nonroot/" {
			h.Uid, h.Gid = nonRoot, nonRoot
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	osName, arch, _ := strings.Cut(platform, "/")
	cfg.OS, cfg.Architecture, cfg.Created = osName, arch, v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{"/bollard"}
	cfg.Config.User = fmt.Sprintf("%d:%d", nonRoot, nonRoot)
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.source":   source,
		"org.opencontainers.image.revision": commit,
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.title":    "bollard",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	return mutate.ConfigFile(img, cfg)
}

// provenancePredicate is the SLSA v1 provenance of one platform's binary in image ref.
func provenancePredicate(platform, path, ref, source, commit string, started time.Time) ([]byte, error) {
	ext, err := structpb.NewStruct(map[string]any{"source": source, "target": ref, "platform": platform, "make": "make image"})
	if err != nil {
		return nil, err
	}
	p := &provenance.Provenance{
		BuildDefinition: &provenance.BuildDefinition{
			BuildType:            "https://bollard.dev/buildtypes/make-image/v1",
			ExternalParameters:   ext,
			ResolvedDependencies: []*intoto.ResourceDescriptor{{Uri: "git+" + source + "@" + commit}},
		},
		RunDetails: &provenance.RunDetails{
			Builder:  &provenance.Builder{Id: "https://bollard.dev/builders/make-image"},
			Metadata: &provenance.BuildMetadata{InvocationId: filepath.Base(path) + "@" + started.Format(time.RFC3339Nano), StartedOn: timestamppb.New(started), FinishedOn: timestamppb.Now()},
		},
	}
	if _, err := hex.DecodeString(commit); err == nil && len(commit) == 40 {
		p.BuildDefinition.ResolvedDependencies[0].Digest = map[string]string{"gitCommit": commit}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{Multiline: true}.Marshal(p)
}
