#!/usr/bin/env bash
# make chart: charts/bollard packaged with the image make image pushed pinned by digest, pushed
# to $REGISTRY/charts as an OCI artifact (helm push) and signed with cosign. Prints the install
# command.
#
#   REGISTRY=registry.example/platform make image chart
#   helm install bollard oci://registry.example/platform/charts/bollard --version 0.1.0-… -n bollard-system
#
# IMAGE (default: bin/image/reference) is the image's digest reference; CHART_VERSION defaults to
# VERSION when it is SemVer, else the chart's version with the commit as pre-release. Registries on
# loopback or private 10/8 and 192.168/16 addresses are spoken to over plain HTTP (as
# go-containerregistry and cosign do).
set -euo pipefail
: "${REGISTRY:?REGISTRY=host[:port][/path] names where the chart goes}"
: "${COSIGN:?COSIGN names the cosign CLI (the Makefile sets it)}"
: "${HELM:?HELM names the helm CLI (the Makefile sets it)}"
CACHE=${CACHE:-$HOME/.cache/bollard}
OUT=${OUT:-bin/image}
IMAGE=${IMAGE:-$(cat "$OUT/reference" 2>/dev/null || true)}
[[ $IMAGE == *@sha256:* ]] || { echo "chart: IMAGE must be a digest reference (run make image first)" >&2; exit 1; }
VERSION=${VERSION:-dev}
base=$(sed -n 's/^version: *//p' charts/bollard/Chart.yaml)
if [[ -z ${CHART_VERSION:-} ]]; then
  if [[ $VERSION =~ ^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    CHART_VERSION=${VERSION#v}
  else
    CHART_VERSION=$base-$(git rev-parse --short HEAD 2>/dev/null || echo dev)
  fi
fi
KEY=${COSIGN_KEY:-$CACHE/keys/cosign.key}
[[ -n ${COSIGN_KEY:-} ]] || export COSIGN_PASSWORD=${COSIGN_PASSWORD:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r charts/bollard "$work/bollard"
# The image by digest: its repository, and the digest the chart's templates prefer over a tag.
repo=${IMAGE%@*}
digest=${IMAGE#*@}
sed -i "0,/^  repository: .*/s||  repository: $repo|; 0,/^  digest: .*/s||  digest: \"$digest\"|" "$work/bollard/values.yaml"
grep -q "^  digest: \"$digest\"" "$work/bollard/values.yaml" || { echo "chart: could not pin the digest in values.yaml" >&2; exit 1; }
mkdir -p "$OUT"
"$HELM" package "$work/bollard" --version "$CHART_VERSION" --app-version "${VERSION#v}" -d "$OUT" >/dev/null

host=${REGISTRY%%/*}
plain=()
case ${host%:*} in 127.* | localhost | "[::1]" | 10.* | 192.168.*) plain=(--plain-http) ;; esac # as go-containerregistry
pushed=$("$HELM" push "$OUT/bollard-$CHART_VERSION.tgz" "oci://$REGISTRY/charts" "${plain[@]}" 2>&1) || { echo "$pushed" >&2; exit 1; }
chart_digest=$(sed -n 's/^Digest: *//p' <<<"$pushed")
[[ -n $chart_digest ]] || { echo "chart: helm push printed no digest: $pushed" >&2; exit 1; }
if ! "$COSIGN" sign --key "$KEY" --tlog-upload=false --use-signing-config=false --yes "$REGISTRY/charts/bollard@$chart_digest" >"$OUT/cosign-chart.log" 2>&1; then
  cat "$OUT/cosign-chart.log" >&2
  exit 1
fi
echo "$REGISTRY/charts/bollard@$chart_digest" >"$OUT/chart-reference"
echo "helm install bollard oci://$REGISTRY/charts/bollard --version $CHART_VERSION${plain:+ ${plain[*]}}"
