// Package alerts tests the chart's Prometheus alerts and Grafana dashboard against what bollard
// really serves: promtool unit-tests every alert, every metric, label and label value the alerts
// and the dashboard read is one the webhook or the daemon registers and sets, and the chart ships
// exactly these files.
package alerts

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"bollard.dev/bollard/internal/manifest"
	"bollard.dev/bollard/test/charttest"
)

const (
	chartDir      = "../../charts/bollard"
	alertsFile    = chartDir + "/files/alerts.yaml"
	dashboardFile = chartDir + "/files/dashboard.json"
	rulesTestFile = "testdata/alerts_test.yaml"
)

// TestAlertRules: the alerts the chart ships fire when they should and stay silent otherwise (a
// case of each for every alert, run by promtool), read only metrics, labels and label values the
// binaries really expose — an alert on a renamed metric would never fire, and no one would know —
// and are what the chart's PrometheusRule carries; the dashboard's queries are held to the same.
func TestAlertRules(t *testing.T) {
	promtool := promtoolBinary(t)
	rules := readRules(t, alertsFile)
	if len(rules) == 0 {
		t.Fatalf("%s holds no alerts", alertsFile)
	}

	t.Run("promtool", func(t *testing.T) {
		runPromtool(t, promtool, "check", "rules", alertsFile)
		runPromtool(t, promtool, "test", "rules", rulesTestFile)
		checkCoverage(t, rules)
	})

	t.Run("metrics", func(t *testing.T) {
		exposed := exposedMetrics(t)
		values := labelValues(t)
		for _, r := range rules {
			checkExpr(t, "alert "+r.Alert, r.Expr, exposed, values)
		}
		for _, q := range dashboardQueries(t) {
			checkExpr(t, "dashboard panel "+q.panel, q.expr, exposed, values)
		}
	})

	t.Run("dashboard queries", func(t *testing.T) {
		// promtool parses PromQL only in rule files: each query becomes a recording rule, with
		// Grafana's interval variable replaced by a duration.
		var rec []map[string]string
		for i, q := range dashboardQueries(t) {
			rec = append(rec, map[string]string{"record": fmt.Sprintf("dashboard:query_%d", i),
				"expr": strings.ReplaceAll(q.expr, "$__rate_interval", "5m")})
		}
		out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rec}}})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.Fatal(err)
		}
		runPromtool(t, promtool, "check", "rules", file)
	})

	t.Run("chart", func(t *testing.T) {
		for _, o := range charttest.Render(t, chartDir) {
			if o.GetKind() == "PrometheusRule" || o.GetLabels()["grafana_dashboard"] != "" {
				t.Errorf("with default values the chart renders %s %s: monitoring.rules and monitoring.dashboard are off by default", o.GetKind(), o.GetName())
			}
		}
		var rule, dashboard *manifest.Object
		for _, o := range charttest.Render(t, chartDir, "--set", "monitoring.rules.enabled=true,monitoring.dashboard.enabled=true",
			"--set", "monitoring.rules.labels.release=kube-prometheus-stack") {
			switch {
			case o.GetKind() == "PrometheusRule":
				rule = &o
			case o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard"):
				dashboard = &o
			}
		}
		if rule == nil || dashboard == nil {
			t.Fatalf("with monitoring.rules.enabled and monitoring.dashboard.enabled the chart renders PrometheusRule %v, dashboard ConfigMap %v", rule != nil, dashboard != nil)
		}
		if rule.GetAPIVersion() != "monitoring.coreos.com/v1" || rule.GetLabels()["release"] != "kube-prometheus-stack" {
			t.Errorf("PrometheusRule %s: apiVersion %s, labels %v; want monitoring.coreos.com/v1 and monitoring.rules.labels (release)", rule.Source, rule.GetAPIVersion(), rule.GetLabels())
		}
		var file map[string]any
		readYAML(t, alertsFile, &file)
		spec, _ := rule.Object["spec"].(map[string]any)
		if got, want := normalize(t, spec["groups"]), normalize(t, file["groups"]); !reflect.DeepEqual(got, want) {
			t.Errorf("the PrometheusRule's spec.groups are not %s's groups:\n got %v\nwant %v", alertsFile, got, want)
		}

		if v := dashboard.GetLabels()["grafana_dashboard"]; v != "1" {
			t.Errorf("dashboard ConfigMap %s: label grafana_dashboard=%q, want \"1\" (the Grafana sidecar's label)", dashboard.Source, v)
		}
		data, _ := dashboard.Object["data"].(map[string]any)
		if len(data) != 1 {
			t.Fatalf("dashboard ConfigMap %s holds %d keys, want one dashboard", dashboard.Source, len(data))
		}
		want, err := os.ReadFile(dashboardFile)
		if err != nil {
			t.Fatal(err)
		}
		for key, v := range data {
			s, _ := v.(string)
			var got, file any
			if err := json.Unmarshal([]byte(s), &got); err != nil || !strings.HasSuffix(key, ".json") {
				t.Fatalf("dashboard ConfigMap %s: key %s is not a JSON dashboard: %v", dashboard.Source, key, err)
			}
			if err := json.Unmarshal(want, &file); err != nil {
				t.Fatalf("%s: %v", dashboardFile, err)
			}
			if !reflect.DeepEqual(got, file) {
				t.Errorf("dashboard ConfigMap %s: %s is not %s", dashboard.Source, key, dashboardFile)
			}
		}
	})
}

// rule is one alerting rule of a rule file.
type rule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
}

func readRules(t *testing.T, file string) []rule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	readYAML(t, file, &f)
	var rules []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				rules = append(rules, r)
			}
		}
	}
	return rules
}

// checkCoverage: promtool's tests are on the file the chart ships, and hold for every alert a
// case where it fires and one where it stays silent.
func checkCoverage(t *testing.T, rules []rule) {
	var tests struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			Name  string `json:"name"`
			Cases []struct {
				Alert string `json:"alertname"`
				Exp   []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, rulesTestFile, &tests)
	shipped, _ := filepath.Abs(alertsFile)
	if len(tests.RuleFiles) != 1 {
		t.Errorf("%s: rule_files %v, want %s alone", rulesTestFile, tests.RuleFiles, alertsFile)
	}
	for _, f := range tests.RuleFiles {
		if abs, _ := filepath.Abs(filepath.Join(filepath.Dir(rulesTestFile), f)); abs != shipped {
			t.Errorf("%s tests %s, not the chart's %s", rulesTestFile, f, alertsFile)
		}
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, c := range tc.Cases {
			if len(c.Exp) > 0 {
				fires[c.Alert] = true
			} else {
				silent[c.Alert] = true
			}
		}
	}
	for _, r := range rules {
		if !fires[r.Alert] {
			t.Errorf("%s: no case where %s fires", rulesTestFile, r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no case where %s stays silent", rulesTestFile, r.Alert)
		}
	}
}

// query is one PromQL query of the dashboard.
type query struct{ panel, expr string }

// dashboardQueries are the "expr" of every target of every panel of the dashboard.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []query
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("%s: panel %q has a target without expr", dashboardFile, p.Title)
			}
			qs = append(qs, query{panel: fmt.Sprintf("%q", p.Title), expr: tg.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatalf("%s: no queries", dashboardFile)
	}
	return qs
}

// promtoolBinary is Debian's promtool (package prometheus), which .ci/run installs.
func promtoolBinary(t *testing.T) string {
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("no promtool on PATH: the alert tests need Debian's prometheus package (apt-get install prometheus)")
	}
	return p
}

func runPromtool(t *testing.T, promtool string, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// normalize is v as JSON would give it back, so that YAML read by two decoders compares equal.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
