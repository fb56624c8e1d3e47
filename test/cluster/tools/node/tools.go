//go:build tools

// Package tools pins the node commands the real-node lane of the local test cluster builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
