package policies

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestRego runs every *_test.rego beside the policies with OPA's test runner.
func TestRego(t *testing.T) {
	results, err := tester.Run(context.Background(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no Rego tests found")
	}
	for _, r := range results {
		if !r.Pass() {
			t.Errorf("%s.%s: %s (%v)", r.Package, r.Name, r.String(), r.Error)
		} else {
			t.Logf("%s.%s: PASS", r.Package, r.Name)
		}
	}
}

func TestModulesExcludeTests(t *testing.T) {
	mods := Modules()
	for _, want := range []string{"policies/freeze/freeze.rego", "policies/flags/flags.rego", "policies/riskdiff/riskdiff.rego", "policies/schema/schema.rego", "policies/errors/errors.rego", "policies/images/images.rego"} {
		if _, ok := mods[want]; !ok {
			t.Errorf("Modules lacks %s", want)
		}
	}
	for name := range mods {
		if len(name) > 10 && name[len(name)-10:] == "_test.rego" {
			t.Errorf("Modules includes test %s", name)
		}
	}
}
