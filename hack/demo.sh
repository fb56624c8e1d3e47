#!/usr/bin/env bash
# The demo `make demo` runs on the local control plane: a Deployment created, rolled out, updated
# to a new image and rolled out again — what bollard's gate and daemon will guard.
set -euo pipefail
: "${BOLLARD_CLUSTER_BIN:?set by make demo}" "${KUBECONFIG:?set by make demo}"
kubectl() { "$BOLLARD_CLUSTER_BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns=bollard-demo

step "$(bin/bollard version)"
step "The cluster: a real API server, with kwok running pods on a fake node"
kubectl get nodes -o wide
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null

step "Create Deployment web (3 replicas of shop/web:v1)"
kubectl -n "$ns" apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.local/shop/web:v1}]
YAML
kubectl -n "$ns" rollout status deployment/web --timeout=60s
kubectl -n "$ns" get pods -o wide

step "Roll out shop/web:v2"
kubectl -n "$ns" set image deployment/web web=registry.local/shop/web:v2
kubectl -n "$ns" rollout status deployment/web --timeout=60s
kubectl -n "$ns" get replicasets -o wide
kubectl -n "$ns" rollout history deployment/web

cat <<TEXT

Done. The cluster keeps running:
  export KUBECONFIG=$KUBECONFIG
  $BOLLARD_CLUSTER_BIN/kubectl get all -n $ns
  make cluster-down            # stop it (PURGE=1 also deletes its data)
  make test                    # unit tests and the end-to-end suite
TEXT
