package reconciler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"bollard.dev/bollard/api/v1alpha1"
)

// Labels of a DeploymentRecord: its Release, and the Release's UID (a Release deleted and made
// again starts its logs at #1; its records never overwrite the earlier one's).
const (
	LabelRecordRelease    = "bollard.dev/release"
	LabelRecordReleaseUID = "bollard.dev/release-uid"
)

// defaultRecordRetention is how many DeploymentRecords a Release keeps without
// spec.recordRetention.
const defaultRecordRetention = 100

// finished tells whether a Deployment Log has ended (no step will be added).
func finished(l v1alpha1.DeploymentLog) bool {
	return l.Status != "" && l.Status != v1alpha1.LogVerifying
}

// logsByID indexes Deployment Logs by their ID: what a status write changes is found by
// comparing the logs before and after it.
func logsByID(h []v1alpha1.DeploymentLog) map[int64]v1alpha1.DeploymentLog {
	m := make(map[int64]v1alpha1.DeploymentLog, len(h))
	for _, l := range h {
		m[l.ID] = l
	}
	return m
}

// RecordName names the DeploymentRecord of rel's log id: RELEASE-UID8-ID.
func RecordName(rel *v1alpha1.Release, id int64) string {
	return recordPrefix(rel) + strconv.FormatInt(id, 10)
}

func recordPrefix(rel *v1alpha1.Release) string {
	uid := string(rel.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	name := rel.Name
	if room := 253 - len(uid) - 22; len(name) > room {
		name = name[:room]
	}
	return name + "-" + uid + "-"
}

// record keeps every finished log of status that has no DeploymentRecord yet (ID above
// status.lastRecordID) as one, and advances lastRecordID past those written — in the status
// about to be written, so the pointer costs no request of its own — then drops from status the
// logs their records now hold: status keeps only the pointer, the log under way, the
// ROLLBACK_FAILED log of the rollback still being retried (its record follows each change), and
// any whose record could not be written (retried at the next status write). A log leaves status
// only once its record holds it as it is.
func (r *Reconciler) record(ctx context.Context, rel *v1alpha1.Release, before, s *v1alpha1.ReleaseStatus) {
	old := logsByID(before.History)
	unwritten := map[int64]bool{}
	for i := len(s.History) - 1; i >= 0; i-- { // oldest first: lastRecordID only moves past written ones
		l := s.History[i]
		if l.ID <= s.LastRecordID {
			// Recorded while it could still change (ROLLBACK_FAILED): its record is written again
			// when it changed, and when it leaves status.
			if prev, ok := old[l.ID]; !ok || !equality.Semantic.DeepEqual(prev, l) || !retrying(s, l) {
				if err := r.writeRecord(ctx, rel, l); err != nil {
					r.Log.Error(err, "DeploymentRecord not updated (retried at the next status write)", "release", rel.Namespace+"/"+rel.Name, "id", l.ID)
					unwritten[l.ID] = true
				}
			}
			continue
		}
		if !finished(l) {
			break
		}
		if err := r.writeRecord(ctx, rel, l); err != nil {
			r.Log.Error(err, "Deployment Log not kept as a DeploymentRecord (retried at the next status write)", "release", rel.Namespace+"/"+rel.Name, "id", l.ID)
			break
		}
		s.LastRecordID = l.ID
		r.prune(ctx, rel, l.ID)
	}
	var kept []v1alpha1.DeploymentLog
	for _, l := range s.History {
		if l.ID > s.LastRecordID || unwritten[l.ID] || retrying(s, l) {
			kept = append(kept, l)
		}
	}
	s.History = kept
}

// retrying tells whether l is the ROLLBACK_FAILED log of the rollback status says is still
// being retried (a later change may end it).
func retrying(s *v1alpha1.ReleaseStatus, l v1alpha1.DeploymentLog) bool {
	return l.Status == v1alpha1.LogRollbackFailed && s.Rollout != nil && s.Rollout.LogID == l.ID && s.Rollout.Phase == PhaseRollbackFailed
}

func (r *Reconciler) writeRecord(ctx context.Context, rel *v1alpha1.Release, l v1alpha1.DeploymentLog) error {
	return r.writeRecordOf(ctx, rel, "", l)
}

// writeRecordOf keeps l as a DeploymentRecord of rel (a Release, or the name and UID of a
// ChannelRelease when kind says so).
func (r *Reconciler) writeRecordOf(ctx context.Context, rel *v1alpha1.Release, kind string, l v1alpha1.DeploymentLog) error {
	rec := &v1alpha1.DeploymentRecord{ObjectMeta: metav1.ObjectMeta{Namespace: rel.Namespace, Name: RecordName(rel, l.ID),
		Labels: map[string]string{LabelRecordRelease: rel.Name, LabelRecordReleaseUID: string(rel.UID)}},
		Release: rel.Name, ReleaseKind: kind, ReleaseUID: string(rel.UID), Log: l}
	err := r.Client.Create(ctx, rec)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	var cur v1alpha1.DeploymentRecord // written before a status write that then failed
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(rec), &cur); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(cur.Log, l) {
		return nil
	}
	cur.Log = l
	return r.Client.Update(ctx, &cur)
}

// prune deletes rel's record that falls out of its retention as record id is written, and every
// 20th record any older ones left behind (a retention lowered, a delete that failed).
func (r *Reconciler) prune(ctx context.Context, rel *v1alpha1.Release, id int64) {
	keep := int64(defaultRecordRetention)
	if rel.Spec.RecordRetention != nil {
		keep = int64(*rel.Spec.RecordRetention)
	}
	if id <= keep {
		return
	}
	old := &v1alpha1.DeploymentRecord{ObjectMeta: metav1.ObjectMeta{Namespace: rel.Namespace, Name: RecordName(rel, id-keep)}}
	if err := r.Client.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
		r.Log.Error(err, "DeploymentRecord beyond the retention not deleted", "record", old.Name)
	}
	if id%20 != 0 {
		return
	}
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("DeploymentRecordList"))
	if err := r.Reader.List(ctx, &list, client.InNamespace(rel.Namespace), client.MatchingLabels{LabelRecordReleaseUID: string(rel.UID)}); err != nil {
		return
	}
	for _, it := range list.Items {
		n, err := strconv.ParseInt(strings.TrimPrefix(it.Name, recordPrefix(rel)), 10, 64)
		if err == nil && n <= id-keep {
			_ = r.Client.Delete(ctx, &v1alpha1.DeploymentRecord{ObjectMeta: metav1.ObjectMeta{Namespace: it.Namespace, Name: it.Name}})
		}
	}
}

// logs are rel's Deployment Logs, newest first: its DeploymentRecords and what its status holds
// that no record does yet.
func (r *Reconciler) logs(ctx context.Context, rel *v1alpha1.Release) ([]v1alpha1.DeploymentLog, error) {
	var list v1alpha1.DeploymentRecordList
	if err := r.reader().List(ctx, &list, client.InNamespace(rel.Namespace), client.MatchingLabels{LabelRecordReleaseUID: string(rel.UID)}); err != nil {
		return nil, fmt.Errorf("the Release's DeploymentRecords: %w", err)
	}
	return MergeLogs(list.Items, rel.Status.History), nil
}

// MergeLogs is one list of Deployment Logs, newest first, from a Release's records and its
// status (which holds the log under way, and any whose record is not written yet).
func MergeLogs(records []v1alpha1.DeploymentRecord, history []v1alpha1.DeploymentLog) []v1alpha1.DeploymentLog {
	byID := make(map[int64]v1alpha1.DeploymentLog, len(records)+len(history))
	for _, l := range history {
		byID[l.ID] = l
	}
	for _, rec := range records {
		byID[rec.Log.ID] = rec.Log // written before the status write that records it: never older
	}
	logs := make([]v1alpha1.DeploymentLog, 0, len(byID))
	for _, l := range byID {
		logs = append(logs, l)
	}
	slices.SortFunc(logs, func(a, b v1alpha1.DeploymentLog) int { return cmp.Compare(b.ID, a.ID) })
	return logs
}

// LatestID is the ID of rel's newest Deployment Log, in its status or kept as a record.
func LatestID(rel *v1alpha1.Release) int64 {
	id := rel.Status.LastRecordID
	if len(rel.Status.History) > 0 && rel.Status.History[0].ID > id {
		id = rel.Status.History[0].ID
	}
	return id
}

// LatestLog is rel's newest Deployment Log: from its status while it is under way (or its record
// is not written yet), else its DeploymentRecord, which status points at. ok is false when rel
// has none.
func LatestLog(ctx context.Context, c client.Reader, rel *v1alpha1.Release) (l v1alpha1.DeploymentLog, ok bool, err error) {
	id := LatestID(rel)
	if id == 0 {
		return l, false, nil
	}
	for _, h := range rel.Status.History {
		if h.ID == id {
			return h, true, nil
		}
	}
	var rec v1alpha1.DeploymentRecord
	if err := c.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: RecordName(rel, id)}, &rec); err != nil {
		return l, false, fmt.Errorf("Deployment Log #%d of Release %s/%s: %w", id, rel.Namespace, rel.Name, err)
	}
	return rec.Log, true, nil
}
