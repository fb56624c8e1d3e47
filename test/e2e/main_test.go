// Package e2e holds bollard's end-to-end tests. They run against the real local control plane
// (test/cluster), shared by every test in the process; each test works in its own namespace.
package e2e

import (
	"testing"

	"bollard.dev/bollard/test/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m)
}
