#!/usr/bin/env bash
# Builds the local test cluster's binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) from the Go module proxy at the versions pinned in tools/*/go.mod.
# Each component is cached under $BOLLARD_CACHE (default $HOME/.cache/bollard) in a folder keyed by
# its version, its go.sum, the build flags and the Go version, so the ~15-minute cold build happens
# once per machine. Prints the folder that holds (links to) all binaries as its last line.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
export GOFLAGS=-buildvcs=false
here=$(cd "$(dirname "$0")" && pwd)
cache=${BOLLARD_CACHE:-$HOME/.cache/bollard}
mkdir -p "$cache/bin"

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
go_version=$(cd "$here/tools/kube" && go env GOVERSION)

kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
etcd_ldflags="-s -w"
kwok_ldflags="-s -w"

# key NAME VERSION FLAGS: a folder name that changes whenever anything that shapes the binary does.
key() {
  local sum
  sum=$(cat "$here/tools/$1/go.mod" "$here/tools/$1/go.sum" <(echo "$3 $go_version") | sha256sum | cut -c1-12)
  echo "$cache/bin/$1-$2-$sum"
}

# build NAME VERSION FLAGS PACKAGE...: builds into the keyed folder unless it is complete already.
build() {
  local name=$1 version=$2 flags=$3; shift 3
  local dir; dir=$(key "$name" "$version" "$flags")
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  echo "building $name $version into $dir (cold build: several minutes)" >&2
  local start=$SECONDS
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  (cd "$here/tools/$name" && go build -trimpath -ldflags "$flags" -o "$dir.tmp/" "$@") >&2
  touch "$dir.tmp/.complete"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  echo "built $name in $((SECONDS - start))s" >&2
  # Older builds of this component are dead weight (each kube build is ~400 MB).
  find "$cache/bin" -maxdepth 1 -name "$name-*" ! -path "$dir" -exec rm -rf {} +
  echo "$dir"
}

# One build at a time per machine: parallel test processes wait for the first one.
exec 9>"$cache/bin/.lock"
flock 9

etcd_dir=$(build etcd "$ETCD_VERSION" "$etcd_ldflags" go.etcd.io/etcd/server/v3)
kube_dir=$(build kube "$KUBE_VERSION" "$kube_ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
kwok_dir=$(build kwok "$KWOK_VERSION" "$kwok_ldflags" sigs.k8s.io/kwok/cmd/kwok)
# The real-node lane's kubelet and kube-proxy, only when asked for (REAL_NODE=1): ~2.5 more
# minutes on top of a warm control-plane build.
node_dir=
if [ "${REAL_NODE:-}" = 1 ]; then
  node_dir=$(build node "$KUBE_VERSION" "$kube_ldflags" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
fi

# The etcd server package builds a binary named "server".
out="$cache/bin/cluster-$(echo "$etcd_dir $kube_dir $kwok_dir $node_dir" | sha256sum | cut -c1-12)"
find "$cache/bin" -mindepth 2 -maxdepth 2 -path "$cache/bin/cluster-*/*" -xtype l -printf '%h\n' | sort -u | xargs -r rm -rf
if [ ! -f "$out/.complete" ]; then
  rm -rf "$out"; mkdir -p "$out"
  ln -s "$etcd_dir/server" "$out/etcd"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -s "$kube_dir/$b" "$out/$b"; done
  ln -s "$kwok_dir/kwok" "$out/kwok"
  if [ -n "$node_dir" ]; then ln -s "$node_dir/kubelet" "$out/kubelet"; ln -s "$node_dir/kube-proxy" "$out/kube-proxy"; fi
  touch "$out/.complete"
fi
echo "$out"
