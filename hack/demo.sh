#!/usr/bin/env bash
# The demo `make demo` runs on the local control plane: a Deployment created, rolled out, updated
# to a new image and rolled out again — what bollard's gate and daemon will guard.
set -euo pipefail
: "${BOLLARD_CLUSTER_BIN:?set by make demo}" "${KUBECONFIG:?set by make demo}" "${BOLLARD_COSIGN:?set by make demo}"
# shellcheck source=hack/demo-lib.sh
source "$(dirname "$0")/demo-lib.sh"
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

step "The gate: bollard webhook, registered with the API server by URL"
kubectl apply -f charts/bollard/crds/ >/dev/null
kubectl label namespace "$ns" bollard.dev/environment=production --overwrite >/dev/null
staging=bollard-demo-staging
kubectl delete namespace "$staging" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$staging" >/dev/null
kubectl label namespace "$staging" bollard.dev/environment=staging >/dev/null
# A freeze that began a minute ago and lasts two hours, and rules for risky changes.
freeze_start=$(date -u -d '1 minute ago' +'%M %H')
kubectl apply -f - <<YAML
apiVersion: bollard.dev/v1alpha1
kind: DeployPolicy
metadata: {name: production-freeze}
spec:
  scope: {environments: [production]}
  freezeWindows:
  - {name: release-freeze, schedule: "$freeze_start * * *", duration: 2h, timeZone: UTC}
  breakGlass: {groups: [sre]}
---
apiVersion: bollard.dev/v1alpha1
kind: DeployPolicy
metadata: {name: risky-changes}
spec:
  riskyChanges:
    rules:
    - {class: DatabaseURL, action: warn}
    - {class: ScaleToZero, action: deny}
YAML
kubectl -n "$ns" create rolebinding sre-edit --clusterrole=edit --group=sre >/dev/null
# The first free port from 18443 (nothing answers on it).
port=18443
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
# Onboarding (--no-match-policy warn): the demo's shop images have no ClusterImagePolicy yet, so
# they are admitted with a warning; the signed-images step below shows enforcement.
bin/bollard webhook --kubeconfig "$KUBECONFIG" --listen "127.0.0.1:$port" --register-url "https://127.0.0.1:$port" \
  --namespace bollard-system --no-match-policy warn >/tmp/bollard-demo-webhook.log 2>&1 &
webhook=$!
registry=
daemon=
fakeapp=
prometheus=
trap 'rc=$?; kill $webhook $registry $daemon $fakeapp $prometheus 2>/dev/null; wait $webhook $registry $daemon $fakeapp $prometheus 2>/dev/null || true; exit $rc' EXIT
# The API server loads webhook configurations asynchronously: wait until a dry run is refused.
for _ in $(seq 1 100); do
  if ! kubectl -n "$ns" set image deployment/web web=registry.local/shop/web:probe --dry-run=server >/dev/null 2>&1; then break; fi
  sleep 0.2
done
echo "bollard webhook running on 127.0.0.1:$port (log: /tmp/bollard-demo-webhook.log)"

step "A deploy to production inside the freeze is refused"
kubectl -n "$ns" set image deployment/web web=registry.local/shop/web:v3 || true

step "Break-glass by someone on call (group sre) is admitted, with a warning and an Event"
kubectl -n "$ns" --as oncall@shop --as-group sre patch deployment web --type merge -p \
  '{"metadata":{"annotations":{"bollard.dev/break-glass":"INC-7 checkout down"}},"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.local/shop/web:v3-hotfix"}]}}}}'
sleep 1
kubectl -n "$ns" get events --field-selector reason=BreakGlass -o custom-columns=REASON:.reason,MESSAGE:.message

step "Scaling (the HPA's path) is not a deploy: admitted during the freeze"
kubectl -n "$ns" scale deployment web --replicas=4

step "In staging, a new DATABASE_URL is admitted with a warning that shows no value"
kubectl -n "$staging" create deployment api --image=registry.local/shop/api:v1 >/dev/null
kubectl -n "$staging" set env deployment/api DATABASE_URL=postgres://api:s3cret@db-a:5432/api >/dev/null
kubectl -n "$staging" set env deployment/api DATABASE_URL=postgres://api:s3cret@db-b:5432/api

step "Scaling to zero is denied by the risky-change rule"
kubectl -n "$staging" patch deployment api --type merge -p '{"spec":{"replicas":0}}' || true

step "Signed images only: Debian's docker-registry, images signed by the real cosign CLI"
work=$(mktemp -d)
rport=$((port + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null; do rport=$((rport + 1)); done
reg=127.0.0.1:$rport
printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp:\n  addr: %s\n' "$work/registry" "$reg" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.1; done
signed=$(go run ./hack/pushimage "$reg/shop/web:v4")
unsigned=$(go run ./hack/pushimage "$reg/shop/web:v4-unsigned")
sign_shop "$work" "$reg" "$signed"
echo "signed $signed with cosign v3 (Sigstore bundle format, offline); $unsigned is not signed"
bin/bollard verify "$reg/shop/web:v4" --key "$work/cosign.pub" || true
bin/bollard verify "$reg/shop/web:v4-unsigned" --key "$work/cosign.pub" || true
sleep 1
step "A signed image (by tag) is admitted; the unsigned one is refused with image, digest, policy and reason"
kubectl -n "$staging" create deployment web --image="$reg/shop/web:v4"
kubectl -n "$staging" create deployment web-unsigned --image="$reg/shop/web:v4-unsigned" || true
kubectl delete clusterimagepolicy shop-signed >/dev/null

step "bollard check: the same decision offline, for CI (testdata of cmd/bollard)"
bin/bollard check -f cmd/bollard/testdata/check --now 2026-11-30T03:47:00+01:00 || true

step "The daemon: a Release applied from a git repository through gitops-engine"
gitops=bollard-demo-gitops
kubectl delete namespace "$gitops" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$gitops" >/dev/null
# The daemon keeps each Release's snapshots (rollbacks without git) in its own namespace.
kubectl get namespace bollard-system >/dev/null 2>&1 || kubectl create namespace bollard-system >/dev/null
kubectl -n "$gitops" create secret generic receiver --from-literal=secret=demo-push-key >/dev/null
git init --quiet --bare --initial-branch=main "$work/shop.git"
git clone --quiet "$work/shop.git" "$work/shop" 2>/dev/null
gitc() { git -C "$work/shop" -c user.name="Dev" -c user.email=dev@shop.example "$@"; }
web_yaml() {
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: registry.local/shop/web:$1, env: [{name: LOG_LEVEL, value: info}]}
YAML
}
mkdir -p "$work/shop/deploy"
web_yaml v1 >"$work/shop/deploy/web.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello}\n' >"$work/shop/deploy/settings.yaml"
gitc add -A && gitc commit --quiet -m "web v1" && gitc push --quiet origin HEAD:main
dport=$((rport + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$dport") 2>/dev/null; do dport=$((dport + 1)); done
bin/bollard daemon --kubeconfig "$KUBECONFIG" --namespaces "$gitops" --leader-elect=false --metrics-addr 0 --health-addr 0 \
  --receiver-addr "127.0.0.1:$dport" --receiver-secret "$gitops/receiver" --git-dir "$work/git" --git-schemes https,ssh,file --verify-images=false \
  --allowed-hosts 127.0.0.1 \
  >/tmp/bollard-demo-daemon.log 2>&1 &
daemon=$!
kubectl apply -f - <<YAML
apiVersion: bollard.dev/v1alpha1
kind: Release
metadata: {name: shop, namespace: $gitops}
spec:
  source: {url: "file://$work/shop.git", ref: main, path: deploy}
  interval: 1h
YAML
kubectl -n "$gitops" wait release/shop --for=jsonpath='{.status.phase}'=Synced --timeout=60s >/dev/null
kubectl -n "$gitops" get release,deployments,configmaps -l bollard.dev/release=shop
echo "bollard daemon running (log: /tmp/bollard-demo-daemon.log)"

step "git push: web v2, announced by a signed push event, applied at once"
web_yaml v2 >"$work/shop/deploy/web.yaml"
gitc commit --quiet -am "web v2" && gitc push --quiet origin HEAD:main
go run ./hack/pushevent "http://127.0.0.1:$dport/hooks/git" demo-push-key "file://$work/shop.git" refs/heads/main "$(gitc rev-parse HEAD)"
kubectl -n "$gitops" rollout status deployment/web --timeout=30s
kubectl -n "$gitops" get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'

step "A forged push (wrong key) is refused with 401 and changes nothing"
go run ./hack/pushevent "http://127.0.0.1:$dport/hooks/git" guessed-key "file://$work/shop.git" refs/heads/main "$(gitc rev-parse HEAD)" || true

step "A manual edit (kubectl scale) is drift: reverted at once, with an Event"
kubectl -n "$gitops" scale deployment web --replicas=5
sleep 1
kubectl -n "$gitops" get deployment web -o jsonpath='replicas: {.spec.replicas}{"\n"}'
kubectl -n "$gitops" get events --field-selector reason=DriftReverted -o custom-columns=REASON:.reason,MESSAGE:.message

step "bollard log shop: the Deployment Logs"
bin/bollard log shop -n "$gitops" | head -30

step "Rollouts: health, then the SLO guard on Prometheus, canary 1 → 10 → 50 → 100, rollback on a breach"
# kwok's pods serve nothing: a stand-in serves the app's metrics per version (v4 fails 30 % of requests).
go build -o "$work/fakeapp" ./hack/fakeapp
aport=$((dport + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$aport") 2>/dev/null; do aport=$((aport + 1)); done
"$work/fakeapp" "127.0.0.1:$aport" v2=40:0 v3=40:0 v4=40:30 &
fakeapp=$!
pport=$((aport + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null; do pport=$((pport + 1)); done
printf 'global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: shop\n  static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$aport" >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" --web.listen-address="127.0.0.1:$pport" --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
prometheus=$!
sleep 6 # a few scrapes, so rates exist
kubectl -n "$gitops" patch release shop --type merge -p "$(cat <<JSON
{"spec": {"strategy": {"type": "canary", "steps": [1, 10, 50, 100]}, "healthTimeout": "30s",
  "analysis": {"prometheus": "http://127.0.0.1:$pport", "interval": "1s", "hold": "2s", "metrics": [
    {"name": "p95", "unit": " ms", "max": "300", "query": "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{version=\"{{version}}\"}[5s])) by (le)) * 1000"},
    {"name": "errors", "unit": "%", "max": "1", "query": "100 * (sum(rate(http_requests_total{version=\"{{version}}\",code=~\"5..\"}[5s])) or vector(0)) / sum(rate(http_requests_total{version=\"{{version}}\"}[5s]))"}]}}}
JSON
)" >/dev/null
web_yaml v3 | sed 's/replicas: 2/replicas: 10/' >"$work/shop/deploy/web.yaml"
gitc commit --quiet -am "web v3" && gitc push --quiet origin HEAD:main

step "bollard deploy shop: web v3 as a canary, every step verified, promoted"
bin/bollard deploy shop -n "$gitops"

step "bollard deploy shop: web v4 breaches the error-rate SLO at its first step: rolled back"
web_yaml v4 | sed 's/replicas: 2/replicas: 10/' >"$work/shop/deploy/web.yaml"
gitc commit --quiet -am "web v4" && gitc push --quiet origin HEAD:main
bin/bollard deploy shop -n "$gitops" || echo "(exit $?: rolled back)"
kubectl -n "$gitops" get deployments -o custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image,READY:.status.readyReplicas

cat <<TEXT

Done. The cluster keeps running (the webhook stopped and removed its registration):
  export KUBECONFIG=$KUBECONFIG
  $BOLLARD_CLUSTER_BIN/kubectl get all -n $ns
  make cluster-down            # stop it (PURGE=1 also deletes its data)
  make test                    # unit tests and the end-to-end suite
TEXT
