// Package tracing sends bollard's OpenTelemetry traces to an OTLP gRPC collector: a span per
// admission decision in the webhook, a trace per rollout in the daemon. Off unless an endpoint
// is given (--otlp-endpoint, or OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
// without one every span is a no-op.
package tracing

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Options of the exporter, as flags.
type Options struct {
	// Endpoint is the collector's host:port ("" and no OTEL_EXPORTER_OTLP_*ENDPOINT: off).
	Endpoint string
	// Insecure sends without TLS (a collector on the node or in the pod).
	Insecure bool
}

// BindFlags adds --otlp-endpoint and --otlp-insecure.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Endpoint, "otlp-endpoint", "", "send OpenTelemetry traces to this OTLP gRPC collector (host:port; also OTEL_EXPORTER_OTLP_ENDPOINT); off when empty")
	fs.BoolVar(&o.Insecure, "otlp-insecure", false, "send the traces without TLS")
}

// enabled tells whether traces are to be sent.
func (o Options) enabled() bool {
	return o.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the global tracer provider for service (bollard-webhook, bollard-daemon) at
// version; the returned function flushes and stops it. Off: a no-op.
func Setup(ctx context.Context, o Options, service, version string) (func(context.Context) error, error) {
	tp, err := New(ctx, o, service, version)
	if err != nil || tp == nil {
		return func(context.Context) error { return nil }, err
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return tp.Shutdown, nil
}

// New is a tracer provider exporting to the OTLP gRPC collector o names, in batches (nil when
// tracing is off), with service.name and service.version set.
func New(ctx context.Context, o Options, service, version string) (*sdktrace.TracerProvider, error) {
	if !o.enabled() {
		return nil, nil
	}
	var opts []otlptracegrpc.Option
	if o.Endpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpoint(o.Endpoint))
	}
	if o.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, errors.Join(errors.New("OTLP trace exporter"), err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)), sdktrace.WithResource(res)), nil
}
