package regosafe

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

func prepare(module string) error {
	opts := append([]func(*rego.Rego){rego.Query("x = data.p.x"), rego.Module("p.rego", module)}, Options()...)
	_, err := rego.New(opts...).PrepareForEval(context.Background())
	return err
}

func TestNetworkBuiltinsRefused(t *testing.T) {
	for _, call := range []string{
		`http.send({"method": "get", "url": "http://169.254.169.254/latest/meta-data"})`,
		`net.lookup_ip_addr("example.com")`,
		`opa.runtime()`,
	} {
		err := prepare("package p\nx := " + call)
		if err == nil || !strings.Contains(err.Error(), "undefined function") {
			t.Errorf("%s: err = %v, want undefined function", call, err)
		}
	}
	if err := prepare("package p\nx := net.cidr_contains(\"10.0.0.0/8\", \"10.1.2.3\")"); err != nil {
		t.Errorf("a pure net builtin: %v", err)
	}
}

func TestStrictBuiltinErrors(t *testing.T) {
	opts := append([]func(*rego.Rego){rego.Query("x = data.p.x"), rego.Module("p.rego", "package p\nx := to_number(\"not a number\")")}, Options()...)
	q, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Eval(context.Background()); err == nil || !strings.Contains(err.Error(), "to_number") {
		t.Errorf("err = %v, want the builtin's error", err)
	}
}
