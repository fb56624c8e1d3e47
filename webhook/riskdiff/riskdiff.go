// Package riskdiff classifies an UPDATE of a workload into the risky changes a platform team wants
// to see before they land: a new database URL, other secret references, large resource changes,
// removed probes, a scale to zero, an image by tag. Messages name fields, never their values.
package riskdiff

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"bollard.dev/bollard/api/v1alpha1"
	"bollard.dev/bollard/webhook/workload"
)

// Change is one risky change.
type Change struct {
	Class  v1alpha1.ChangeClass `json:"class"`
	Path   string               `json:"path"`
	Detail string               `json:"detail"`
}

// Options tune the classification.
type Options struct {
	// ResourceChangePercent is how far a request or limit may move before it is risky.
	ResourceChangePercent int
	// DatabaseEnvNames are extra patterns for env var names that hold a database URL.
	DatabaseEnvNames []*regexp.Regexp
}

// DefaultResourceChangePercent applies when a policy sets none.
const DefaultResourceChangePercent = 50

var (
	dbEnvName = regexp.MustCompile(`(?i)(DATABASE|DATASOURCE|(^|_)DB(_|$)|DSN|JDBC|POSTGRES|(^|_)PG|MYSQL|MARIADB|MONGO|REDIS|SQLSERVER|MSSQL|ORACLE|CASSANDRA|CLICKHOUSE)`)
	// dbValue recognises database URLs and DSNs by their shape.
	dbValue = regexp.MustCompile(`(?i)^(jdbc:[a-z0-9]+:|(postgres(ql)?|mysql|mariadb|mongodb(\+srv)?|rediss?|sqlserver|mssql|oracle|cockroachdb|clickhouse|cassandra)://)|^[^\s:@/]+(:[^\s@]*)?@(tcp|unix)\(|(^|\s)host=\S+.*\sdbname=|(^|\s)dbname=\S+.*\shost=`)
)

// Classify compares the old and new workload. Both must be of the same object.
func Classify(old, cur *workload.Workload, opts Options) []Change {
	if opts.ResourceChangePercent <= 0 {
		opts.ResourceChangePercent = DefaultResourceChangePercent
	}
	var out []Change
	add := func(class v1alpha1.ChangeClass, path, format string, args ...any) {
		out = append(out, Change{Class: class, Path: path, Detail: fmt.Sprintf(format, args...)})
	}

	wasZero := old.Replicas != nil && *old.Replicas == 0
	if !wasZero && cur.Replicas != nil && *cur.Replicas == 0 {
		add(v1alpha1.ChangeScaleToZero, "spec.replicas", "replicas set to 0 (was %s)", replicasText(old.Replicas))
	}

	oldContainers := map[string]workload.Container{}
	for _, c := range old.Containers() {
		oldContainers[c.Path] = c
	}
	for _, c := range cur.Containers() {
		prev, existed := oldContainers[c.Path]
		if !existed || prev.Image != c.Image {
			if !strings.Contains(c.Image, "@sha256:") {
				add(v1alpha1.ChangeImageTag, c.ImagePath(), "image %s is given by tag, not by digest", c.Image)
			}
		}
		if !existed {
			continue
		}
		classifyEnv(prev, c, opts, add)
		classifyEnvFrom(prev, c, add)
		classifyResources(prev, c, opts, add)
		if prev.LivenessProbe != nil && c.LivenessProbe == nil {
			add(v1alpha1.ChangeProbeRemoved, c.Path+".livenessProbe", "liveness probe removed")
		}
		if prev.ReadinessProbe != nil && c.ReadinessProbe == nil {
			add(v1alpha1.ChangeProbeRemoved, c.Path+".readinessProbe", "readiness probe removed")
		}
	}
	classifySecretVolumes(old, cur, add)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func replicasText(r *int64) string {
	if r == nil {
		return "unset, i.e. 1"
	}
	return fmt.Sprint(*r)
}

type addFunc func(class v1alpha1.ChangeClass, path, format string, args ...any)

func isDatabaseEnv(e corev1.EnvVar, opts Options) bool {
	if dbEnvName.MatchString(e.Name) || dbValue.MatchString(e.Value) {
		return true
	}
	for _, re := range opts.DatabaseEnvNames {
		if re.MatchString(e.Name) {
			return true
		}
	}
	return false
}

func classifyEnv(prev, cur workload.Container, opts Options, add addFunc) {
	before := map[string]corev1.EnvVar{}
	for _, e := range prev.Env {
		before[e.Name] = e
	}
	after := map[string]corev1.EnvVar{}
	for _, e := range cur.Env {
		after[e.Name] = e
	}
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	for name := range names {
		o, hadOld := before[name]
		n, hasNew := after[name]
		path := fmt.Sprintf("%s.env[%s]", cur.Path, name)
		if secretRef(o) != secretRef(n) {
			add(v1alpha1.ChangeSecretRef, path, "secret reference changed: %s → %s", orNone(secretRef(o)), orNone(secretRef(n)))
		}
		if !isDatabaseEnv(o, opts) && !isDatabaseEnv(n, opts) {
			continue
		}
		switch {
		case !hadOld:
			add(v1alpha1.ChangeDatabaseURL, path, "database URL added")
		case !hasNew:
			add(v1alpha1.ChangeDatabaseURL, path, "database URL removed")
		case o.Value != n.Value || !reflect.DeepEqual(o.ValueFrom, n.ValueFrom):
			add(v1alpha1.ChangeDatabaseURL, path, "database URL value changed")
		}
	}
}

// secretRef names the Secret key an env var reads ("secret/key"), or "".
func secretRef(e corev1.EnvVar) string {
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return ""
	}
	return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func classifyEnvFrom(prev, cur workload.Container, add addFunc) {
	secrets := func(c workload.Container) []string {
		var out []string
		for _, src := range c.EnvFrom {
			if src.SecretRef != nil {
				out = append(out, src.SecretRef.Name)
			}
		}
		sort.Strings(out)
		return out
	}
	if o, n := secrets(prev), secrets(cur); !reflect.DeepEqual(o, n) {
		add(v1alpha1.ChangeSecretRef, cur.Path+".envFrom", "secrets read as env changed: [%s] → [%s]", strings.Join(o, ", "), strings.Join(n, ", "))
	}
}

func classifySecretVolumes(old, cur *workload.Workload, add addFunc) {
	secretsOf := func(w *workload.Workload) map[string]string {
		out := map[string]string{}
		for _, v := range w.Spec.Volumes {
			var names []string
			if v.Secret != nil {
				names = append(names, v.Secret.SecretName)
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.Secret != nil {
						names = append(names, s.Secret.Name)
					}
				}
			}
			if len(names) > 0 {
				out[v.Name] = strings.Join(names, ", ")
			}
		}
		return out
	}
	o, n := secretsOf(old), secretsOf(cur)
	names := map[string]bool{}
	for k := range o {
		names[k] = true
	}
	for k := range n {
		names[k] = true
	}
	for name := range names {
		if o[name] != n[name] {
			add(v1alpha1.ChangeSecretRef, fmt.Sprintf("%s.volumes[%s]", cur.SpecPath, name),
				"secret volume changed: %s → %s", orNone(o[name]), orNone(n[name]))
		}
	}
}

func classifyResources(prev, cur workload.Container, opts Options, add addFunc) {
	for _, side := range []struct {
		name     string
		old, new corev1.ResourceList
	}{
		{"requests", prev.Resources.Requests, cur.Resources.Requests},
		{"limits", prev.Resources.Limits, cur.Resources.Limits},
	} {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			o, hadOld := side.old[res]
			n, hasNew := side.new[res]
			path := fmt.Sprintf("%s.resources.%s.%s", cur.Path, side.name, res)
			switch {
			case !hadOld && !hasNew:
			case !hadOld:
				add(v1alpha1.ChangeResources, path, "%s %s set to %s", res, singular(side.name), n.String())
			case !hasNew:
				add(v1alpha1.ChangeResources, path, "%s %s removed (was %s)", res, singular(side.name), o.String())
			default:
				if pct, big := moved(o, n, opts.ResourceChangePercent); big {
					add(v1alpha1.ChangeResources, path, "%s %s %s → %s (%+d%%)", res, singular(side.name), o.String(), n.String(), pct)
				}
			}
		}
	}
}

func singular(s string) string { return strings.TrimSuffix(s, "s") }

// moved returns the change in percent of the old value and whether it exceeds limit.
func moved(o, n resource.Quantity, limit int) (int, bool) {
	ov, nv := o.AsApproximateFloat64(), n.AsApproximateFloat64()
	if ov == 0 {
		return 0, nv != 0
	}
	pct := (nv - ov) / ov * 100
	abs := pct
	if abs < 0 {
		abs = -abs
	}
	return int(pct), abs > float64(limit)
}
