# bollard — build, test and demo. Every target runs with Go 1.27.3 (machines here default to an
# older local Go and ignore go.mod's toolchain line).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
export GOTOOLCHAIN := go1.27.3
export GOFLAGS := -buildvcs=false

GO          ?= go
CACHE       ?= $(HOME)/.cache/bollard
CLUSTER_DIR ?= $(CACHE)/cluster
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_DATE  ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS  ?= -count=1 -timeout 30m

CONTROLLER_GEN := sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
HELM_VERSION := v3.22.0
HELM        := $(CACHE)/tools/helm-$(HELM_VERSION)/helm
COSIGN_VERSION := v3.1.1
COSIGN      := $(CACHE)/tools/cosign-$(COSIGN_VERSION)/cosign
CYCLONEDX_VERSION := v1.10.0
CYCLONEDX   := $(CACHE)/tools/cyclonedx-gomod-$(CYCLONEDX_VERSION)/cyclonedx-gomod
TEST_ENV    = BOLLARD_HELM=$(HELM) BOLLARD_COSIGN=$(COSIGN) BOLLARD_CYCLONEDX=$(CYCLONEDX) BOLLARD_BIN=$(abspath bin/bollard)
FUZZTIME    ?= 30s

.PHONY: build cross image chart test unit e2e e2e-tools lint fmt-check vet generate helm-lint bench fuzz cluster-bins cluster-up cluster-down demo demo-kwok clean

build: ## the bollard binary in bin/
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/bollard ./cmd/bollard

image: $(COSIGN) $(CYCLONEDX) ## bollard's OCI image for linux/amd64 and linux/arm64, signed, with SBOM and SLSA provenance attested, pushed to REGISTRY=host[/path] (COSIGN_KEY= signs, else a development key)
	@test -n "$(REGISTRY)" || { echo "make image needs REGISTRY=host[:port][/path]"; exit 1; }
	REGISTRY=$(REGISTRY) COSIGN=$(COSIGN) CYCLONEDX=$(CYCLONEDX) CACHE=$(CACHE) VERSION=$(VERSION) COMMIT=$(COMMIT) LDFLAGS="$(LDFLAGS)" GO=$(GO) hack/image.sh

cross: ## static linux/amd64 and linux/arm64 binaries in bin/linux-*/ (what make image puts in its image)
	for arch in amd64 arm64; do CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/linux-$$arch/bollard ./cmd/bollard; done

chart: $(HELM) $(COSIGN) ## charts/bollard with make image's image pinned by digest, pushed to REGISTRY=…/charts with helm push and signed
	@test -n "$(REGISTRY)" || { echo "make chart needs REGISTRY=host[:port][/path] (and make image first)"; exit 1; }
	REGISTRY=$(REGISTRY) COSIGN=$(COSIGN) HELM=$(HELM) CACHE=$(CACHE) VERSION=$(VERSION) hack/chart.sh

test: fmt-check vet helm-lint build cross cluster-bins e2e-tools ## everything: unit, Rego and e2e tests on the local control plane
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) ./...

unit: ## tests that need no cluster
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v '/test/')

e2e: build cluster-bins e2e-tools ## end-to-end tests on the local control plane
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) ./test/...

e2e-tools: $(HELM) $(COSIGN) $(CYCLONEDX) ## the CLIs e2e tests drive (built once per machine) and Debian's registry
	@command -v docker-registry >/dev/null || { echo "e2e needs Debian's docker-registry: apt-get install docker-registry"; exit 1; }
	@command -v prometheus >/dev/null || { echo "e2e needs Debian's prometheus: apt-get install prometheus"; exit 1; }
	@command -v promtool >/dev/null || { echo "test/alerts needs promtool, from Debian's prometheus: apt-get install prometheus"; exit 1; }

lint: fmt-check vet ## gofmt, go vet and staticcheck
	$(GO) run $(STATICCHECK) ./...

generate: ## deepcopy for api/ and the CRDs in charts/bollard/crds
	$(GO) run $(CONTROLLER_GEN) object paths=./api/... crd paths=./api/... output:crd:artifacts:config=charts/bollard/crds

helm-lint: $(HELM) ## lint the chart in both certificate modes
	$(HELM) lint --strict charts/bollard
	$(HELM) lint --strict charts/bollard --set certs.mode=cert-manager

$(HELM): ## the helm CLI, built once per machine from the module proxy
	GOBIN=$(dir $(HELM)) $(GO) install -ldflags "-s -w" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(CYCLONEDX): ## CycloneDX's SBOM generator for Go binaries (make image)
	GOBIN=$(dir $(CYCLONEDX)) $(GO) install -ldflags "-s -w" github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_VERSION)

$(COSIGN): ## the real cosign CLI, to sign test images the way users do
	GOBIN=$(dir $(COSIGN)) $(GO) install -ldflags "-s -w" github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN_VERSION)

bench: build cluster-bins ## benchmarks (figures go to docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchtime 3s ./webhook/... ./policies/...
	# The peer, sigstore policy-controller v0.15.1, through the same harness (tagged: its webhook
	# package brings the cloud KMS SDKs).
	$(GO) test -tags peer -run '^$$' -bench . -benchtime 3s ./webhook/peerbench/
	# The 1,000-Release run and its floor each on a fresh control plane (a process each): a
	# cluster that served a run before is ~10 % slower for the next.
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'ApplyFloor' -benchtime 1x -timeout 30m ./test/e2e/
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'Daemon1000Releases' -benchtime 1x -timeout 30m ./test/e2e/
	$(TEST_ENV) $(GO) test -run '^$$' -bench 'DaemonDriftRevert|DaemonPushToApplied|DaemonSync1000|Rollback' -benchtime 1x -timeout 30m ./test/e2e/
	# The real-node lane (root): admissions through the webhook's Service from a real pod.
	$(TEST_ENV) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./test/realnode/

fuzz: ## every fuzz target (found by hack/fuzz.sh) for FUZZTIME each
	FUZZTIME=$(FUZZTIME) GO="$(GO)" hack/fuzz.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

cluster-bins: ## build the control-plane binaries once per machine (cached in $(CACHE)/bin)
	test/cluster/build.sh >/dev/null

cluster-up: cluster-bins ## start the local control plane (harmless when it runs already); REAL_NODE=1 adds the real node
	$(GO) run ./test/cluster/cmd/bollard-cluster up --dir $(CLUSTER_DIR) $(if $(filter 1,$(REAL_NODE)),--real-node)

cluster-down: ## stop it; PURGE=1 also deletes its data
	$(GO) run ./test/cluster/cmd/bollard-cluster down --dir $(CLUSTER_DIR) $(if $(PURGE),--purge)

demo: build e2e-tools ## on the real node (root): install from the OCI registry, signed/unsigned, canaries under real traffic; else demo-kwok
	@if out=$$($(GO) run ./test/cluster/cmd/bollard-cluster up --dir $(CLUSTER_DIR) --real-node 2>&1); then \
	  echo "$$out"; \
	  BOLLARD_CLUSTER_BIN=$$(REAL_NODE=1 test/cluster/build.sh) BOLLARD_COSIGN=$(COSIGN) HELM=$(HELM) KUBECONFIG=$(CLUSTER_DIR)/admin.kubeconfig \
	    REGISTRY_HOST=$$(echo "$$out" | awk '/^registry / && $$3 ~ /^\(pods/ {print $$2; exit}') hack/demo-realnode.sh; \
	else \
	  echo "$$out" | tail -5; \
	  echo "The real node cannot start here (above: it needs root, containerd, runc and the CNI plugins; see README). The kwok-only demo instead:"; \
	  $(MAKE) --no-print-directory demo-kwok; \
	fi

demo-kwok: build cluster-up e2e-tools ## the gate on the local control plane alone (kwok): freeze, break-glass, risky changes, signed images, the daemon
	BOLLARD_CLUSTER_BIN=$$(test/cluster/build.sh) BOLLARD_COSIGN=$(COSIGN) KUBECONFIG=$(CLUSTER_DIR)/admin.kubeconfig hack/demo.sh

clean:
	rm -rf bin
