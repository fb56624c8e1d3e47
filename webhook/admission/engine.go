package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"bollard.dev/bollard/internal/regosafe"
	"bollard.dev/bollard/policies"
)

// query collects the deny and warn messages of every package under data.bollard.
const query = `deny := {m | some p; m := data.bollard[p].deny[_]}; warn := {m | some p; m := data.bollard[p].warn[_]}`

// Engine is one compiled policy set: the built-in policies plus the user's modules.
type Engine struct {
	query   rego.PreparedEvalQuery
	modules []string
}

// NewEngine compiles the built-in policies with extra user modules (file name → Rego source).
// A module that does not parse or compile, or whose package is not under bollard (its rules would
// never be read), is an error naming the module; the caller keeps its previous Engine.
func NewEngine(ctx context.Context, extra map[string]string) (*Engine, error) {
	builtin := policies.Modules()
	opts := append([]func(*rego.Rego){rego.Query(query)}, regosafe.Options()...)
	var names []string
	for name, src := range builtin {
		opts = append(opts, rego.Module(name, src))
		names = append(names, name)
	}
	for name, src := range extra {
		if _, clash := builtin[name]; clash {
			return nil, fmt.Errorf("policy module %s: the name of a built-in module", name)
		}
		mod, err := ast.ParseModule(name, src)
		if err != nil {
			return nil, fmt.Errorf("policy module %s: %w", name, err)
		}
		if mod == nil {
			return nil, fmt.Errorf("policy module %s: empty", name)
		}
		if pkg := mod.Package.Path.String(); !strings.HasPrefix(pkg, "data.bollard.") {
			return nil, fmt.Errorf("policy module %s: package %s is not under bollard (write `package bollard.<name>`); its deny and warn rules would never be read",
				name, strings.TrimPrefix(pkg, "data."))
		}
		opts = append(opts, rego.Module(name, src))
		names = append(names, name)
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile policies: %w", err)
	}
	sort.Strings(names)
	return &Engine{query: pq, modules: names}, nil
}

// Modules lists the compiled modules' names.
func (e *Engine) Modules() []string { return e.modules }

// Eval runs the policies over one input document.
func (e *Engine) Eval(ctx context.Context, input *Input) (deny, warn []string, err error) {
	value, err := ast.InterfaceToValue(input.document())
	if err != nil {
		return nil, nil, fmt.Errorf("input document: %w", err)
	}
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(value))
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate policies: %w", err)
	}
	if len(rs) != 1 {
		return nil, nil, fmt.Errorf("evaluate policies: %d results, want 1", len(rs))
	}
	return messages(rs[0].Bindings["deny"]), messages(rs[0].Bindings["warn"]), nil
}

func messages(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, m := range list {
		if s, ok := m.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(m))
		}
	}
	sort.Strings(out)
	return out
}
