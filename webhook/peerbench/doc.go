// Package peerbench measures the peer bollard's gate is compared with, sigstore policy-controller
// v0.15.1, with the same load harness (internal/admissionload) as bollard's BenchmarkAdmissionHTTPS:
// the same reviews, registry, HTTPS client and measurements, in the same `make bench` run.
//
// What runs is policy-controller's own validation code — pkg/webhook's Validator with its
// ClusterImagePolicy compiled by its own conversion and config parsing, NoMatchPolicy deny, no
// verdict cache (its default) — behind an HTTPS handler of the same shape as bollard's /validate.
// Not included: knative's webhook framework around it (its own decoding and TLS server). Images
// by tag are resolved to digests first in the same request (policy-controller resolves them in
// its mutating webhook, one more call in a real cluster). Built only with -tags peer (make bench):
// policy-controller's webhook package pulls the cloud KMS SDKs into the test binary.
package peerbench
