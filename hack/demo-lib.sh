# Sourced by hack/demo.sh and hack/demo-realnode.sh (make demo-kwok, make demo).
kubectl() { "$BOLLARD_CLUSTER_BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# sign_shop DIR REGISTRY IMAGE…: a key pair of the shop in DIR (cosign.key and cosign.pub,
# password "demo"), each IMAGE signed with it by the real cosign CLI (offline: no transparency
# log), and the ClusterImagePolicy shop-signed that asks REGISTRY/shop/** for that key.
sign_shop() {
  local dir=$1 reg=$2
  shift 2
  (cd "$dir" && COSIGN_PASSWORD=demo "$BOLLARD_COSIGN" generate-key-pair >/dev/null 2>&1 &&
    "$BOLLARD_COSIGN" signing-config create --out sc.json >/dev/null 2>&1 &&
    for image in "$@"; do
      COSIGN_PASSWORD=demo "$BOLLARD_COSIGN" sign --key cosign.key --signing-config sc.json --yes "$image" >/dev/null 2>&1
    done)
  kubectl apply -f - >/dev/null <<YAML
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: shop-signed}
spec:
  images: [{glob: "$reg/shop/**"}]
  authorities:
  - name: shop-release
    key:
      data: |
$(sed 's/^/        /' "$dir/cosign.pub")
YAML
}
