package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/cosign/v3/cmd/cosign/cli/options"
	"github.com/sigstore/cosign/v3/cmd/cosign/cli/signcommon"
	"github.com/sigstore/cosign/v3/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
)

// PredicateDeploymentLog is the in-toto predicate type of a Deployment Log attached to an image
// digest: where and when the digest ran and what it passed.
const PredicateDeploymentLog = "https://bollard.dev/deployment-log/v1"

// Attester signs Deployment Logs with the daemon's cosign key and attaches them to the digests
// they deployed, as cosign attestations (a Sigstore bundle with the DSSE envelope, an OCI referrer
// of the digest) that `cosign
// verify-attestation --type https://bollard.dev/deployment-log/v1` checks.
type Attester struct {
	keyPath  string
	password []byte
	cluster  string
	timeout  time.Duration
}

// NewAttester loads a cosign private key (cosign generate-key-pair's format) with its password.
func NewAttester(keyPath string, password []byte, cluster string) (*Attester, error) {
	pem, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("attestation key: %w", err)
	}
	if _, err := cosign.LoadPrivateKey(pem, password, nil); err != nil { // fail at start, not at the first success
		return nil, fmt.Errorf("attestation key %s: %w", keyPath, err)
	}
	return &Attester{keyPath: keyPath, password: password, cluster: cluster, timeout: 20 * time.Second}, nil
}

// DeploymentPredicate is the predicate of a Deployment Log attestation.
type DeploymentPredicate struct {
	Release string                 `json:"release"`
	Cluster string                 `json:"cluster,omitempty"`
	Log     v1alpha1.DeploymentLog `json:"log"`
}

// Attest attaches l to every digest it deployed; it returns the references attested. A registry
// that refuses or cannot be reached is an error for the caller to log: it never fails a deploy.
func (a *Attester) Attest(ctx context.Context, rel *v1alpha1.Release, l v1alpha1.DeploymentLog) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	pred, err := json.Marshal(DeploymentPredicate{Release: rel.Namespace + "/" + rel.Name, Cluster: a.cluster, Log: l})
	if err != nil {
		return nil, err
	}
	var predicate structpb.Struct
	if err := protojson.Unmarshal(pred, &predicate); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var done []string
	var errs []error
	for _, e := range l.Evidence {
		if e.Digest == "" {
			continue
		}
		repo, _, _ := strings.Cut(e.Image, "@")
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i] // the tag
		}
		ref := repo + "@" + e.Digest
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if err := a.attach(ctx, ref, &predicate); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ref, err))
			continue
		}
		done = append(done, ref)
	}
	return done, errors.Join(errs...)
}

func (a *Attester) attach(ctx context.Context, ref string, predicate *structpb.Struct) error {
	digest, err := name.NewDigest(ref)
	if err != nil {
		return err
	}
	hex := strings.TrimPrefix(digest.DigestStr(), "sha256:")
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: PredicateDeploymentLog, Predicate: predicate,
		Subject: []*intoto.ResourceDescriptor{{Name: digest.Repository.Name(), Digest: map[string]string{"sha256": hex}}}}
	payload, err := protojson.Marshal(st)
	if err != nil {
		return err
	}
	// A Sigstore bundle holding the DSSE envelope, attached as an OCI referrer of the digest —
	// what `cosign attest` writes, so `cosign verify-attestation` finds it beside the others.
	ko := options.KeyOpts{KeyRef: a.keyPath, PassFunc: func(bool) ([]byte, error) { return a.password, nil }, SkipConfirmation: true}
	sc, err := signcommon.NewSigningConfigFromKeyOpts(ko, false)
	if err != nil {
		return err
	}
	opts := []ociremote.Option{ociremote.WithRemoteOptions(remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))}
	bundle, _, _, _, err := signcommon.NewAttestationBundle(ctx, ko, "", "", signcommon.CommonBundleOpts{Payload: payload, Digest: digest,
		PredicateType: PredicateDeploymentLog, OCIRemoteOpts: opts}, sc, nil)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return ociremote.WriteAttestationNewBundleFormat(digest, bundle, PredicateDeploymentLog, opts...)
}

// attest is the attest step of a revision that succeeds, for a Release with spec.attest: its log
// as it ends (the steps before this one, SUCCESS) attached to its digests — or a warning saying
// why not (no --attest-key, a registry error).
func (r *Reconciler) attest(ctx context.Context, rel *v1alpha1.Release, id int64, steps []v1alpha1.LogStep) (v1alpha1.LogStep, bool) {
	if !rel.Spec.Attest {
		return v1alpha1.LogStep{}, false
	}
	step := v1alpha1.LogStep{Name: "attest", Result: v1alpha1.ResultOK}
	if r.Attester == nil {
		step.Result, step.Detail = v1alpha1.ResultWarn, "spec.attest is set but the daemon has no --attest-key: nothing attached"
		return step, true
	}
	var l v1alpha1.DeploymentLog
	for _, h := range rel.Status.History {
		if h.ID == id {
			l = h
		}
	}
	l.Steps = append(l.Steps, steps...)
	l.Status, l.Finished = v1alpha1.LogSuccess, metav1.Now()
	t0 := time.Now()
	refs, err := r.Attester.Attest(ctx, rel, l)
	step.DurationMillis = time.Since(t0).Milliseconds()
	switch {
	case len(refs) > 0:
		step.Detail = "Deployment Log signed and attached (" + PredicateDeploymentLog + ") to " + strings.Join(refs, ", ")
	default:
		step.Detail = "no digest to attach to"
	}
	if err != nil {
		step.Result = v1alpha1.ResultWarn
		step.Detail += "; not attached: " + err.Error()
		r.Log.Error(err, "Deployment Log not attested", "release", rel.Namespace+"/"+rel.Name, "id", id)
	}
	return step, true
}
