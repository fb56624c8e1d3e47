package alerts

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"bollard.dev/bollard/api/v1alpha1"
	// The daemon's metrics register themselves in controller-runtime's registry on import.
	_ "bollard.dev/bollard/reconciler"
)

// Where the binaries' metrics are declared: the webhook serves its own registry, the daemon
// controller-runtime's.
const (
	webhookDir    = "../../webhook"
	reconcilerDir = "../../reconciler"
)

// metric is one metric a binary registers.
type metric struct {
	name, help string
	kind       string // Counter, Gauge, Histogram or Summary
	labels     []string
	where      string // file:line of its declaration
}

// exposedMetrics are bollard's metrics by name: every prometheus.New… of the webhook's and the
// daemon's packages, read from their source. The daemon's are then looked up in
// controller-runtime's registry — what its /metrics serves — and their labels are the ones the
// collector found there describes. The webhook's registry is its own, unexported (webhook.New
// builds it): for those, the declaration is what is checked.
func exposedMetrics(t *testing.T) map[string]metric {
	t.Helper()
	exposed := map[string]metric{}
	for _, dir := range []string{webhookDir, reconcilerDir} {
		declared := declaredMetrics(t, dir)
		if len(declared) == 0 {
			t.Fatalf("no prometheus.New… found in %s: where did its metrics go?", dir)
		}
		for _, m := range declared {
			if prev, ok := exposed[m.name]; ok {
				t.Errorf("%s is declared twice: %s and %s", m.name, prev.where, m.where)
			}
			if dir == reconcilerDir {
				labels, err := registeredLabels(m)
				if err != nil {
					t.Errorf("the daemon's %s (%s): %v", m.name, m.where, err)
					continue
				}
				m.labels = labels
			}
			exposed[m.name] = m
		}
	}
	return exposed
}

var newMetric = regexp.MustCompile(`^New(Counter|Gauge|Histogram|Summary)(Vec|Func)?$`)

// declaredMetrics are the prometheus.NewCounter/Gauge/Histogram/Summary(Vec) calls of the Go
// files under dir that are part of a default build (tests and build-tagged files left out).
func declaredMetrics(t *testing.T, dir string) []metric {
	t.Helper()
	var found []metric
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "testdata":
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		if ok, err := build.Default.MatchFile(filepath.Dir(path), d.Name()); !ok || err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "prometheus" {
				return true
			}
			kind := newMetric.FindStringSubmatch(sel.Sel.Name)
			if kind == nil {
				return true
			}
			m, err := declaration(call, kind[2] == "Vec")
			if err != nil {
				t.Errorf("%s: prometheus.%s: %v", fset.Position(call.Pos()), sel.Sel.Name, err)
				return true
			}
			m.kind, m.where = kind[1], fset.Position(call.Pos()).String()
			found = append(found, m)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// declaration reads a metric's name, help and labels from the literal options (and label
// names) of its constructor.
func declaration(call *ast.CallExpr, vec bool) (metric, error) {
	if len(call.Args) == 0 {
		return metric{}, errors.New("no options")
	}
	arg := call.Args[0]
	if u, ok := arg.(*ast.UnaryExpr); ok && u.Op == token.AND {
		arg = u.X
	}
	opts, ok := arg.(*ast.CompositeLit)
	if !ok {
		return metric{}, errors.New("the options are not a literal: the test cannot read the metric's name")
	}
	fields := map[string]string{}
	for _, el := range opts.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, _ := kv.Key.(*ast.Ident)
		if key == nil || !slices.Contains([]string{"Namespace", "Subsystem", "Name", "Help"}, key.Name) {
			continue
		}
		s, err := stringOf(kv.Value)
		if err != nil {
			return metric{}, fmt.Errorf("%s: %w", key.Name, err)
		}
		fields[key.Name] = s
	}
	m := metric{name: prometheus.BuildFQName(fields["Namespace"], fields["Subsystem"], fields["Name"]), help: fields["Help"]}
	if m.name == "" {
		return metric{}, errors.New("no Name")
	}
	if vec {
		if len(call.Args) < 2 {
			return metric{}, errors.New("no label names")
		}
		names, ok := call.Args[1].(*ast.CompositeLit)
		if !ok {
			return metric{}, errors.New("the label names are not a []string literal")
		}
		for _, el := range names.Elts {
			s, err := stringOf(el)
			if err != nil {
				return metric{}, fmt.Errorf("label names: %w", err)
			}
			m.labels = append(m.labels, s)
		}
	}
	return m, nil
}

// stringOf is the value of a string literal, or of a sum of them.
func stringOf(e ast.Expr) (string, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			return strconv.Unquote(e.Value)
		}
	case *ast.ParenExpr:
		return stringOf(e.X)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			x, err := stringOf(e.X)
			if err != nil {
				return "", err
			}
			y, err := stringOf(e.Y)
			return x + y, err
		}
	}
	return "", fmt.Errorf("not a string literal: %T", e)
}

// registeredLabels are the label names of m as controller-runtime's registry holds it: a
// collector with the same descriptor is refused with the one already registered
// (prometheus.AlreadyRegisteredError), which then describes itself.
func registeredLabels(m metric) ([]string, error) {
	probe := describer{prometheus.NewDesc(m.name, m.help, m.labels, nil)}
	err := crmetrics.Registry.Register(probe)
	var already prometheus.AlreadyRegisteredError
	switch {
	case err == nil:
		crmetrics.Registry.Unregister(probe)
		return nil, errors.New("not registered in controller-runtime's registry, which the daemon's /metrics serves")
	case !errors.As(err, &already):
		return nil, err // e.g. registered with other labels
	}
	descs := make(chan *prometheus.Desc)
	go func() {
		already.ExistingCollector.Describe(descs)
		close(descs)
	}()
	var labels []string
	found := false
	for d := range descs {
		name, l, err := parseDesc(d)
		if err != nil {
			return nil, err
		}
		if name == m.name {
			labels, found = l, true
		}
	}
	if !found {
		return nil, errors.New("the registered collector does not describe it")
	}
	return labels, nil
}

// describer is a collector that only describes.
type describer struct{ desc *prometheus.Desc }

func (d describer) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }
func (d describer) Collect(chan<- prometheus.Metric)    {}

// descString is what prometheus.Desc.String says: Desc{fqName: "…", help: "…", …,
// variableLabels: {a,b}} (a constrained label as c(a)).
var descString = regexp.MustCompile(`^Desc\{fqName: "([^"]*)", .*variableLabels: \{([^}]*)\}\}$`)

func parseDesc(d *prometheus.Desc) (string, []string, error) {
	m := descString.FindStringSubmatch(d.String())
	if m == nil {
		return "", nil, fmt.Errorf("cannot read descriptor %s", d)
	}
	var labels []string
	for _, l := range strings.Split(m[2], ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
			labels = append(labels, l)
		}
	}
	return m[1], labels, nil
}

// labelValues are, by metric/label, the values the code gives the labels an alert may match on
// (an alert on a value nothing sets never fires): a Release sync's result is the status of its
// Deployment Log as it ends (never VERIFYING: a sync is counted when its verification ends), a
// verdict what the webhook's decide returns.
func labelValues(t *testing.T) map[string]map[string]bool {
	t.Helper()
	results := map[string]bool{}
	for _, s := range []v1alpha1.LogStatus{v1alpha1.LogSuccess, v1alpha1.LogFailed, v1alpha1.LogRefused,
		v1alpha1.LogRolledBack, v1alpha1.LogRollbackFailed, v1alpha1.LogHalted} {
		results[string(s)] = true
	}
	verdicts := webhookVerdicts(t, webhookDir)
	return map[string]map[string]bool{
		"bollard_release_syncs_total/result":         results,
		"bollard_admission_decisions_total/verdict":  verdicts,
		"bollard_admission_duration_seconds/verdict": verdicts,
	}
}

// webhookVerdicts are the string literals the webhook's functions with a named result verdict
// assign to it or return as it.
func webhookVerdicts(t *testing.T, dir string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Type.Results == nil || fn.Body == nil {
				continue
			}
			at, n := -1, 0
			for _, field := range fn.Type.Results.List {
				for _, name := range field.Names {
					if name.Name == "verdict" {
						at = n
					}
					n++
				}
			}
			if at < 0 {
				continue
			}
			literal := func(e ast.Expr) {
				if s, err := stringOf(e); err == nil {
					found[s] = true
				}
			}
			ast.Inspect(fn.Body, func(node ast.Node) bool {
				switch node := node.(type) {
				case *ast.AssignStmt:
					for i, lhs := range node.Lhs {
						if id, ok := lhs.(*ast.Ident); ok && id.Name == "verdict" && len(node.Rhs) == len(node.Lhs) {
							literal(node.Rhs[i])
						}
					}
				case *ast.ReturnStmt:
					if len(node.Results) == n {
						literal(node.Results[at])
					}
				}
				return true
			})
		}
	}
	if len(found) == 0 {
		t.Fatalf("no verdict found in %s: how does the webhook name its verdicts now?", dir)
	}
	return found
}

var (
	selector = regexp.MustCompile(`\b(bollard_[a-zA-Z0-9_]+)(\s*\{([^}]*)\})?`)
	matcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	grouping = regexp.MustCompile(`\b(?:by|without|on|ignoring)\s*\(([^)]*)\)`)
	// alternatives is a regexp matcher that is a list of values, a|b|c.
	alternatives = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)
)

// checkExpr reports what in the PromQL expr (of where) is not exposed: a bollard metric no binary
// serves, a label matched or grouped by that its series do not have, a value no code sets.
func checkExpr(t *testing.T, where, expr string, exposed map[string]metric, values map[string]map[string]bool) {
	t.Helper()
	for _, p := range problems(expr, exposed, values) {
		t.Errorf("%s: %s\n%s", where, p, expr)
	}
}

func problems(expr string, exposed map[string]metric, values map[string]map[string]bool) []string {
	var out []string
	sels := selector.FindAllStringSubmatch(expr, -1)
	if len(sels) == 0 {
		return []string{"reads no bollard metric"}
	}
	labelsOf := map[string][]string{}
	for _, s := range sels {
		name := s[1]
		m, labels, ok := series(name, exposed)
		if !ok {
			out = append(out, fmt.Sprintf("reads %s, which neither the webhook nor the daemon exposes", name))
			continue
		}
		labelsOf[name] = labels
		for _, mt := range matcher.FindAllStringSubmatch(s[3], -1) {
			label, op, value := mt[1], mt[2], mt[3]
			if !slices.Contains(labels, label) {
				out = append(out, fmt.Sprintf("matches on %s, which %s does not have (its labels: %v)", label, name, labels))
				continue
			}
			known, ok := values[m.name+"/"+label]
			if !ok {
				out = append(out, fmt.Sprintf("matches %s{%s%s%q}: which values the code sets on %s is not known here (add them to labelValues)", name, label, op, value, label))
				continue
			}
			vals := []string{value}
			if op == "=~" || op == "!~" {
				if !alternatives.MatchString(value) {
					out = append(out, fmt.Sprintf("matches %s{%s%s%q}: only a|b|c regexps can be checked", name, label, op, value))
					continue
				}
				vals = strings.Split(value, "|")
			}
			for _, v := range vals {
				if !known[v] {
					out = append(out, fmt.Sprintf("matches %s{%s%s%q}: nothing sets %s to %q (the code sets %v)", name, label, op, value, label, v, keys(known)))
				}
			}
		}
	}
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, label := range strings.Split(g[1], ",") {
			label = strings.TrimSpace(label)
			for name, labels := range labelsOf {
				if label != "" && !slices.Contains(labels, label) {
					out = append(out, fmt.Sprintf("groups by %s, which %s does not have (its labels: %v)", label, name, labels))
				}
			}
		}
	}
	slices.Sort(out) // a selector repeated (x unless x offset 15m) says it once
	return slices.Compact(out)
}

// series are the labels of the series called name: a counter's or gauge's own, a histogram's
// _bucket (with le), _sum and _count, a summary's (with quantile), _sum and _count.
func series(name string, exposed map[string]metric) (metric, []string, bool) {
	if m, ok := exposed[name]; ok {
		switch m.kind {
		case "Counter", "Gauge":
			return m, m.labels, true
		case "Summary":
			return m, append(slices.Clone(m.labels), "quantile"), true
		}
		return metric{}, nil, false // a histogram has no series of its own name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		m, ok := exposed[strings.TrimSuffix(name, suffix)]
		if !ok || !strings.HasSuffix(name, suffix) || (m.kind != "Histogram" && (m.kind != "Summary" || suffix == "_bucket")) {
			continue
		}
		if suffix == "_bucket" {
			return m, append(slices.Clone(m.labels), "le"), true
		}
		return m, m.labels, true
	}
	return metric{}, nil, false
}

func keys(set map[string]bool) []string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestExprChecksCatchMistakes: the check the alerts and the dashboard pass reports each way an
// expression can read nothing — a misspelt metric, a histogram's own name, a label the metric
// lacks (matched or grouped by), a result no sync ends with.
func TestExprChecksCatchMistakes(t *testing.T) {
	exposed, values := exposedMetrics(t), labelValues(t)
	for _, tc := range []struct{ expr, want string }{
		{`rate(bollard_release_sync_total[5m])`, "reads bollard_release_sync_total, which neither"},
		{`rate(bollard_sync_duration_seconds[5m])`, "reads bollard_sync_duration_seconds, which neither"},
		{`bollard_drift_total{namespace="shop"}`, "matches on namespace, which bollard_drift_total does not have"},
		{`sum by (release) (rate(bollard_admission_decisions_total[5m]))`, "groups by release, which bollard_admission_decisions_total does not have"},
		{`bollard_release_syncs_total{result=~"ROLLED_BACK|ROLLEDBACK"}`, `nothing sets result to "ROLLEDBACK"`},
		{`bollard_release_syncs_total{result="VERIFYING"}`, `nothing sets result to "VERIFYING"`},
		{`bollard_admission_decisions_total{verdict="failed"}`, `nothing sets verdict to "failed"`},
		{`bollard_release_syncs_total{result=~"ROLL.*"}`, "only a|b|c regexps"},
		{`up == 0`, "reads no bollard metric"},
	} {
		got := problems(tc.expr, exposed, values)
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("%s: reported %q, want %q", tc.expr, got, tc.want)
		}
	}
	// And what is right passes: le on a bucket, a value the daemon sets.
	for _, expr := range []string{
		`histogram_quantile(0.9, sum by (le) (rate(bollard_sync_duration_seconds_bucket[5m])))`,
		`sum by (release) (bollard_release_syncs_total{result=~"ROLLED_BACK|ROLLBACK_FAILED"})`,
	} {
		if got := problems(expr, exposed, values); len(got) > 0 {
			t.Errorf("%s: reported %q, want nothing", expr, got)
		}
	}
}
