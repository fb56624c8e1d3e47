// Package analysis is the SLO guard's data source: Prometheus queries (HTTP API, client_golang)
// evaluated for one version of a workload.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"bollard.dev/bollard/api/v1alpha1"
)

// ErrNoData is a query that returned nothing (no series, NaN), or a Prometheus that could not be
// asked: the guard cannot tell whether the SLO holds.
var ErrNoData = errors.New("no data")

// Result is one SLO metric's evaluation.
type Result struct {
	Name  string
	Query string
	Value float64
	Max   float64
	Unit  string
	// Err is set when there was no value (wrapping ErrNoData).
	Err error
}

// Breached reports a value above its threshold.
func (r Result) Breached() bool { return r.Err == nil && r.Value > r.Max }

func (r Result) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: %v", r.Name, r.Err)
	}
	op := "≤"
	if r.Breached() {
		op = ">"
	}
	return fmt.Sprintf("%s %s%s %s %s%s", r.Name, format(r.Value), r.Unit, op, format(r.Max), r.Unit)
}

// format shows a value to one decimal (212.4, 34.6, 0): what a person reads in a log.
func format(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// Prometheus evaluates SLO metrics against one server.
type Prometheus struct {
	api promv1.API
}

// New returns a client for the server at address, through rt (nil: Go's default transport).
func New(address string, rt http.RoundTripper) (*Prometheus, error) {
	if rt == nil {
		rt = api.DefaultRoundTripper
	}
	c, err := api.NewClient(api.Config{Address: address, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", address, err)
	}
	return &Prometheus{api: promv1.NewAPI(c)}, nil
}

// Evaluate runs every metric's query for version at now.
func (p *Prometheus) Evaluate(ctx context.Context, metrics []v1alpha1.SLOMetric, version string, now time.Time) []Result {
	out := make([]Result, len(metrics))
	for i, m := range metrics {
		r := Result{Name: m.Name, Unit: m.Unit, Query: strings.ReplaceAll(m.Query, "{{version}}", version)}
		max, err := strconv.ParseFloat(m.Max, 64)
		if err != nil {
			r.Err = fmt.Errorf("max %q is not a number", m.Max)
			out[i] = r
			continue
		}
		r.Max = max
		r.Value, r.Err = p.query(ctx, r.Query, now)
		out[i] = r
	}
	return out
}

func (p *Prometheus) query(ctx context.Context, q string, now time.Time) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _, _, err := p.api.Query(ctx, q, now)
	if err != nil {
		return 0, fmt.Errorf("%w: prometheus unreachable or query failed: %v", ErrNoData, err)
	}
	var samples []float64
	switch val := v.(type) {
	case model.Vector:
		for _, s := range val {
			samples = append(samples, float64(s.Value))
		}
	case *model.Scalar:
		samples = append(samples, float64(val.Value))
	default:
		return 0, fmt.Errorf("query returns %s, want a vector or scalar", v.Type())
	}
	if len(samples) == 0 {
		return 0, fmt.Errorf("%w: the query returned no series", ErrNoData)
	}
	worst := math.Inf(-1)
	for _, s := range samples {
		if math.IsNaN(s) {
			return 0, fmt.Errorf("%w: the query returned NaN (no traffic yet?)", ErrNoData)
		}
		worst = math.Max(worst, s)
	}
	return worst, nil
}
