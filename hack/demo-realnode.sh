#!/usr/bin/env bash
# The demo `make demo` runs when the real node can start: bollard installed as a user would
# (make image, make chart, helm install from the OCI registry), then a signed app deployed, an
# unsigned one refused, and canaries under real traffic — one promoted, one rolled back — with
# real pods answering. `make demo-kwok` (hack/demo.sh) shows the rest of the gate on kwok alone.
set -euo pipefail
: "${BOLLARD_CLUSTER_BIN:?set by make demo}" "${KUBECONFIG:?set by make demo}" "${BOLLARD_COSIGN:?set by make demo}"
: "${HELM:?set by make demo}" "${REGISTRY_HOST:?set by make demo: the registry of the real node, HOST:PORT}"
# shellcheck source=hack/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"
free_port() { # the first port from $1 nothing listens on, at the bridge address
  local p=$1
  while (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
host=${REGISTRY_HOST%:*} # the bridge address: pods reach the host (git, Prometheus) there
reg=$REGISTRY_HOST
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

step "$(bin/bollard version)"
step "The cluster: a real API server, kwok's fake node, and a real kubelet node (containerd, runc, CNI bridge, kube-proxy)"
kubectl get nodes -o wide

step "make image: bollard's OCI image (linux/amd64 + arm64), CycloneDX SBOM and SLSA provenance attested, signed with cosign"
ref=$(make -s --no-print-directory image REGISTRY="$reg/platform" VERSION=v0.0.1-demo | tail -1)
echo "$ref"
bin/bollard verify "$ref" --key "$HOME/.cache/bollard/keys/cosign.pub" | tail -3

step "make chart: the chart with that digest pinned, pushed to the registry as an OCI artifact, signed"
install=$(make -s --no-print-directory chart REGISTRY="$reg/platform" IMAGE="$ref" VERSION=v0.0.1-demo | tail -1)
echo "$install"

step "helm install from the OCI registry: the webhook (3 real pods) and the daemon, on the real node"
# A run before: its Release first (the daemon removes its finalizer), then the chart.
kubectl -n shop delete releases --all --timeout=30s >/dev/null 2>&1 ||
  kubectl -n shop patch release shop --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
"$HELM" uninstall bollard -n bollard-system --wait >/dev/null 2>&1 || true
for n in shop bollard-system; do kubectl delete namespace "$n" --ignore-not-found --wait=true >/dev/null; done
kubectl create namespace shop >/dev/null
kubectl label namespace shop bollard.dev/environment=production >/dev/null
real=()
for c in webhook daemon; do
  real+=(--set-string "$c.nodeSelector.bollard\.dev/real-node=true" --set "$c.tolerations[0].key=bollard.dev/real-node" --set "$c.tolerations[0].operator=Exists")
done
# shellcheck disable=SC2086 # $install is the command make chart printed
"$HELM" ${install#helm } -n bollard-system --create-namespace --kubeconfig "$KUBECONFIG" --wait --timeout 3m \
  --set-file image.verify.publicKey="$HOME/.cache/bollard/keys/cosign.pub" "${real[@]}" \
  --set "daemon.tenants={shop}" --set "daemon.extraArgs={--git-schemes=git}" --set "daemon.allowedHosts={*.svc,$host}" >/dev/null
kubectl -n bollard-system get pods -o wide

step "The shop's app: a real HTTP server (hack/webapp) — v1, v2, v3 signed with the shop's key; one build unsigned"
GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -o "$work/webapp" ./hack/webapp
for v in v1 v2 v3; do go run ./hack/pushimage -bin "$work/webapp" "$reg/shop/webapp:$v" >/dev/null; done
go run ./hack/pushimage "$reg/shop/webapp:unsigned" >/dev/null # another build, which nobody signed
sign_shop "$work" "$reg" "$reg/shop/webapp:v1" "$reg/shop/webapp:v2" "$reg/shop/webapp:v3"
sleep 1
echo "signed: $reg/shop/webapp:v1, :v2, :v3 (cosign, the shop's key); not signed: :unsigned"

step "An unsigned image is refused by the webhook's pods, called by the API server through their Service"
kubectl -n shop create deployment rogue --image="$reg/shop/webapp:unsigned" || true

step "git and Prometheus on the host: a repository served by git daemon, Prometheus scraping the shop's real pods"
gport=$(free_port 9418)
mkdir -p "$work/git"
git init --quiet --bare --initial-branch=main "$work/git/shop.git"
git daemon --reuseaddr --export-all --base-path="$work/git" --listen="$host" --port="$gport" "$work/git" >"$work/git-daemon.log" 2>&1 &
pids+=($!)
git clone --quiet "$work/git/shop.git" "$work/shop" 2>/dev/null
gitc() { git -C "$work/shop" -c user.name="Dev" -c user.email=dev@shop.example "$@"; }
shop_yaml() { # VERSION [ARGS…]
  local v=$1
  shift
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  replicas: 10
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      nodeSelector: {bollard.dev/real-node: "true"}
      tolerations: [{key: bollard.dev/real-node, operator: Exists, effect: NoSchedule}]
      terminationGracePeriodSeconds: 5
      containers:
      - name: shop
        image: $reg/shop/webapp:$v
        args: [$(printf '"%s", ' "-listen=:8080" "$@" | sed 's/, $//')]
        env: [{name: VERSION, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app.kubernetes.io/version']"}}}]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
YAML
}
push() { # MESSAGE VERSION [ARGS…]: commit deploy/shop.yaml and push
  local msg=$1
  shift
  mkdir -p "$work/shop/deploy"
  shop_yaml "$@" >"$work/shop/deploy/shop.yaml"
  gitc add -A && gitc commit --quiet -m "$msg" && gitc push --quiet origin HEAD:main
}
pport=$(free_port 9090)
printf 'global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: shop\n  file_sd_configs: [{files: ["%s"], refresh_interval: 1s}]\n' \
  "$work/targets.json" >"$work/prometheus.yml"
echo '[]' >"$work/targets.json"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" --web.listen-address="$host:$pport" --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
pids+=($!)
( # Debian's Prometheus has no Kubernetes discovery: the running pods' addresses, from the API.
  while :; do
    ips=$(kubectl -n shop get pods -l app=shop -o jsonpath='{range .items[?(@.status.phase=="Running")]}"{.status.podIP}:8080",{end}' 2>/dev/null || true)
    echo "[{\"targets\": [${ips%,}]}]" >"$work/targets.json.new" && mv "$work/targets.json.new" "$work/targets.json"
    sleep 1
  done
) &
pids+=($!)
echo "git://$host:$gport/shop.git, Prometheus http://$host:$pport"

step "A Release: canary 10 → 50 → 100, each new pod asked for its /health, the error rate held on Prometheus"
push "shop v1" v1
kubectl apply -f - <<YAML
apiVersion: bollard.dev/v1alpha1
kind: Release
metadata: {name: shop, namespace: shop}
spec:
  source: {url: "git://$host:$gport/shop.git", ref: main, path: deploy}
  interval: 10s
  strategy: {type: canary, steps: [10, 50, 100]}
  healthTimeout: 30s
  health: {path: /health, port: 8080}
  analysis:
    prometheus: http://$host:$pport
    interval: 1s
    hold: 5s
    initialDelay: 2s
    onNoData: pause
    metrics:
    - name: errors
      unit: "%"
      max: "5"
      query: 100 * (sum(rate(http_requests_total{version="{{version}}",code="500"}[5s])) or vector(0)) / sum(rate(http_requests_total{version="{{version}}"}[5s]))
YAML
# Real traffic from the start (v1's SLO guard reads it too): ~40 requests/s through the Service's
# ClusterIP, a new connection each (kube-proxy picks a pod per connection).
touch "$work/load.txt"
(
  until cip=$(kubectl -n shop get service shop -o jsonpath='{.spec.clusterIP}' 2>/dev/null) && [ -n "$cip" ]; do sleep 0.5; done
  while :; do r=$(curl -s -m 2 -w ' %{http_code}' "http://$cip/" | tr -d '\n' || true); [ "${r% *}" = "" ] && r="no-answer${r}"; echo "$r"; sleep 0.02; done >"$work/load.txt"
) &
pids+=($!)
tally() { # what the load saw from line $1 on: answers by version and status
  tail -n +"$1" "$work/load.txt" | sort | uniq -c | sed 's/^/    /'
}
bin/bollard deploy shop -n shop --kubeconfig "$KUBECONFIG"
kubectl -n shop get pods -o wide | sed -n 1,6p
cip=$(kubectl -n shop get service shop -o jsonpath='{.spec.clusterIP}')
echo "curl http://$cip/ → $(curl -s -m 2 "http://$cip/")"
echo "    the load through the Service so far, answers by version and status:"
tally 1

step "bollard deploy shop: v2 as a canary — every step healthy and holding its SLO, promoted"
from=$(wc -l <"$work/load.txt")
push "shop v2" v2
bin/bollard deploy shop -n shop --kubeconfig "$KUBECONFIG"
echo "    what the load saw during v2's rollout:"
tally "$from"

step "bollard deploy shop: v3 fails half its requests — the 10 % step shows it, the SLO guard rolls it back"
from=$(wc -l <"$work/load.txt")
push "shop v3" v3 -error-percent=50
bin/bollard deploy shop -n shop --kubeconfig "$KUBECONFIG" || echo "(exit $?: rolled back)"
sleep 3
echo "    what the load saw during v3's canary and after its rollback:"
tally "$from"
last=$(($(wc -l <"$work/load.txt") - 100))
echo "    the last 100 requests:"
tally "$last"

step "bollard log shop: the Deployment Logs"
bin/bollard log shop -n shop --kubeconfig "$KUBECONFIG" | sed -n 1,45p

cat <<TEXT

Done. The cluster and the installed chart keep running (git, Prometheus and the load stopped):
  export KUBECONFIG=$KUBECONFIG
  $BOLLARD_CLUSTER_BIN/kubectl get pods -A -o wide
  make demo-kwok               # the rest of the gate: freeze, break-glass, risky changes, bollard check
  make cluster-down            # stop it all, undoing the real node's host changes
TEXT
