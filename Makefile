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

.PHONY: build test unit e2e lint fmt-check vet cluster-bins cluster-up cluster-down demo clean

build: ## the bollard binary in bin/
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/bollard ./cmd/bollard

test: fmt-check vet cluster-bins ## everything: unit tests and e2e on the local control plane
	$(GO) test $(TEST_FLAGS) ./...

unit: ## tests that need no cluster
	$(GO) test $(TEST_FLAGS) $$($(GO) list ./... | grep -v '/test/')

e2e: cluster-bins ## end-to-end tests on the local control plane
	$(GO) test $(TEST_FLAGS) ./test/...

lint: fmt-check vet ## gofmt, go vet and staticcheck
	$(GO) run $(STATICCHECK) ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

cluster-bins: ## build the control-plane binaries once per machine (cached in $(CACHE)/bin)
	test/cluster/build.sh >/dev/null

cluster-up: cluster-bins ## start the local control plane (harmless when it runs already)
	$(GO) run ./test/cluster/cmd/bollard-cluster up --dir $(CLUSTER_DIR)

cluster-down: ## stop it; PURGE=1 also deletes its data
	$(GO) run ./test/cluster/cmd/bollard-cluster down --dir $(CLUSTER_DIR) $(if $(PURGE),--purge)

demo: build cluster-up ## a Deployment rolling out on the local control plane
	BOLLARD_CLUSTER_BIN=$$(test/cluster/build.sh) KUBECONFIG=$(CLUSTER_DIR)/admin.kubeconfig hack/demo.sh

clean:
	rm -rf bin
