// Package regosafe holds the options every user-supplied Rego module is compiled with: the policy
// language without the builtins that reach the network or the process (http.send,
// net.lookup_ip_addr, opa.runtime), and with strict builtin errors, so a builtin that fails
// (a bad regexp, a malformed number) stops the evaluation with an error — the gate then fails
// closed — instead of silently leaving a rule undefined.
package regosafe

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Denied are the builtins user policies may not call.
var Denied = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

// capabilities is this OPA's capabilities without Denied.
var capabilities = func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool { return slices.Contains(Denied, b.Name) })
	caps.AllowNet = []string{} // no host, should a builtin that honours it ever be added
	return caps
}()

// Options are the rego options for user-supplied modules.
func Options() []func(*rego.Rego) {
	return []func(*rego.Rego){rego.Capabilities(capabilities), rego.StrictBuiltinErrors(true)}
}
