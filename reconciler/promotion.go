package reconciler

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// PromotionPins are the artifact pins (repository@sha256:…, sorted, one per image) of the digests
// a Deployment Log verified — what `bollard promote` pins in the next environment — or why the
// log is no evidence to promote: a change that did not end SUCCESS, an image whose signature was
// not verified, or one without a digest.
func PromotionPins(l v1alpha1.DeploymentLog) ([]string, error) {
	if l.Status != v1alpha1.LogSuccess {
		return nil, fmt.Errorf("Deployment Log #%d (revision %s) ended %s, not SUCCESS", l.ID, short(l.Revision), orNone(string(l.Status)))
	}
	if len(l.Evidence) == 0 {
		return nil, fmt.Errorf("Deployment Log #%d (revision %s) holds no verified digest: signatures were not checked for it", l.ID, short(l.Revision))
	}
	seen := map[string]bool{}
	repos := map[string]string{}
	var pins []string
	for _, e := range l.Evidence {
		if !e.Verified || e.Digest == "" {
			why := e.Reason
			if why == "" {
				why = "no digest"
			}
			return nil, fmt.Errorf("image %s of Deployment Log #%d was never verified there: %s", e.Image, l.ID, why)
		}
		repo := imageRepository(e.Image)
		pin := repo + "@" + e.Digest
		if d, ok := repos[repo]; ok && d != e.Digest {
			// A pin names a repository: both digests cannot be pinned as they ran.
			return nil, fmt.Errorf("Deployment Log #%d ran two digests of %s (%s and %s): a promotion pins one digest per repository", l.ID, repo, d, e.Digest)
		}
		repos[repo] = e.Digest
		if !seen[pin] {
			seen[pin] = true
			pins = append(pins, pin)
		}
	}
	sort.Strings(pins)
	return pins, nil
}

// splitPins is the list of pins an artifact annotation holds.
func splitPins(artifact string) []string {
	var pins []string
	for _, p := range strings.Split(artifact, ",") {
		if p = strings.TrimSpace(p); p != "" {
			pins = append(pins, p)
		}
	}
	return pins
}

// checkPromotion reads the record a promotion rests on (bollard.dev/promoted-from) and checks it
// is evidence for the artifact pin: it ended SUCCESS, and verified every pinned digest. It
// returns the link for the Deployment Log and its gate line, or why the change is refused.
func (r *Reconciler) checkPromotion(ctx context.Context, rel *v1alpha1.Release, from, artifact string) (*v1alpha1.RecordRef, v1alpha1.LogStep, string) {
	step := v1alpha1.LogStep{Name: "promotion", Result: v1alpha1.ResultFail}
	refuse := func(format string, args ...any) (*v1alpha1.RecordRef, v1alpha1.LogStep, string) {
		why := fmt.Sprintf("%s %s: ", v1alpha1.AnnotationPromotedFrom, from) + fmt.Sprintf(format, args...)
		step.Detail = why
		return nil, step, why
	}
	ns, name, ok := strings.Cut(from, "/")
	if !ok || ns == "" || name == "" {
		return refuse("want NAMESPACE/DEPLOYMENT-RECORD")
	}
	var rec v1alpha1.DeploymentRecord
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rec); err != nil {
		if apierrors.IsNotFound(err) {
			return refuse("no such DeploymentRecord (pruned, or never written): promote again from a record that exists")
		}
		return refuse("%v", err)
	}
	verified, err := PromotionPins(rec.Log)
	if err != nil {
		return refuse("%v", err)
	}
	pins := splitPins(artifact)
	if len(pins) == 0 {
		return refuse("no %s pin goes with it", v1alpha1.AnnotationArtifact)
	}
	have := map[string]bool{}
	for _, p := range verified {
		have[p] = true
	}
	for _, p := range pins {
		if !have[p] {
			return refuse("%s was not verified by Release %s's Deployment Log #%d", p, rec.Release, rec.Log.ID)
		}
	}
	ref := &v1alpha1.RecordRef{Namespace: ns, Name: name, Release: rec.Release, ID: rec.Log.ID, Environment: rec.Log.Environment, Revision: rec.Log.Revision}
	step.Result = v1alpha1.ResultOK
	step.Detail = fmt.Sprintf("from %s: %d digest(s) verified there and deployed with SUCCESS", describeRecord(ref), len(pins))
	return ref, step, ""
}

// describeRecord names a record for a person: environment, Release, log and revision.
func describeRecord(ref *v1alpha1.RecordRef) string {
	where := "namespace " + ref.Namespace
	if ref.Environment != "" {
		where = ref.Environment + " (" + where + ")"
	}
	return fmt.Sprintf("%s, Release %s, Deployment Log #%d (revision %s, DeploymentRecord %s)", where, ref.Release, ref.ID, short(ref.Revision), ref.Name)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
