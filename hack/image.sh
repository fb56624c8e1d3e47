#!/usr/bin/env bash
# make image: bollard's OCI image without Docker — static binaries for linux/amd64 and
# linux/arm64 in one image index (hack/image, go-containerregistry), pushed to $REGISTRY/bollard,
# signed with cosign (the index and each platform's image), each image attested with its
# CycloneDX SBOM (cyclonedx-gomod, from the binary's Go build info) and its SLSA v1 provenance;
# the index carries both platforms' attestations too. Prints the digest reference.
#
#   REGISTRY=registry.example/platform make image [COSIGN_KEY=cosign.key] [VERSION=v1.2.3]
#
# Without COSIGN_KEY a development key pair is made once in $CACHE/keys (cosign.pub beside it: the
# key bollard's own ClusterImagePolicy in the chart is given). COSIGN_PASSWORD is the key's
# password (empty for the development key).
set -euo pipefail
: "${REGISTRY:?REGISTRY=host[:port][/path] names where the image goes}"
: "${COSIGN:?COSIGN names the cosign CLI (the Makefile sets it)}"
: "${CYCLONEDX:?CYCLONEDX names the cyclonedx-gomod CLI (the Makefile sets it)}"
CACHE=${CACHE:-$HOME/.cache/bollard}
VERSION=${VERSION:-dev}
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo "${COMMIT:-unknown}")
OUT=${OUT:-bin/image}
GO=${GO:-go}
mkdir -p "$OUT"

KEY=${COSIGN_KEY:-}
if [[ -z $KEY ]]; then
  KEY=$CACHE/keys/cosign.key
  if [[ ! -f $KEY ]]; then
    mkdir -p "$CACHE/keys"
    COSIGN_PASSWORD="" "$COSIGN" generate-key-pair --output-key-prefix "$CACHE/keys/cosign" >/dev/null
    echo "image: made a development signing key $KEY (public key $CACHE/keys/cosign.pub)" >&2
  fi
  export COSIGN_PASSWORD=${COSIGN_PASSWORD:-}
fi

args=()
for arch in amd64 arm64; do
  # Into $OUT, not bin/: two image builds at once (the e2e and real-node test packages) must not
  # overwrite each other's binaries.
  bin=$OUT/linux-$arch/bollard
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch $GO build -trimpath -ldflags "${LDFLAGS:-}" -o "$bin" ./cmd/bollard
  "$CYCLONEDX" bin -json -version "$VERSION" -output "$OUT/sbom-linux-$arch.cdx.json" "$bin" 2>/dev/null
  args+=(-bin "linux/$arch=$bin")
done
ref=$($GO run ./hack/image -repo "$REGISTRY/bollard" -tag "$VERSION" -commit "$COMMIT" -out "$OUT" "${args[@]}")
repo=${ref%@*}
digest() { cat "$OUT/digest-$1"; }
cosign() { # quiet unless it fails
  if ! "$COSIGN" "$@" >"$OUT/cosign.log" 2>&1; then
    cat "$OUT/cosign.log" >&2
    return 1
  fi
}

# Offline signing: no transparency log, no Fulcio (a key pair); the index and its images.
offline=(--key "$KEY" --tlog-upload=false --use-signing-config=false --yes)
cosign sign "${offline[@]}" --recursive "$ref"
for arch in amd64 arm64; do
  for target in "$repo@$(digest "linux-$arch")" "$ref"; do
    cosign attest "${offline[@]}" --type cyclonedx --predicate "$OUT/sbom-linux-$arch.cdx.json" "$target"
    cosign attest "${offline[@]}" --type slsaprovenance1 --predicate "$OUT/provenance-linux-$arch.json" "$target"
  done
done
echo "$ref" >"$OUT/reference"
echo "$ref"
