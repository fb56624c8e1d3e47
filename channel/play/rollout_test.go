package play_test

import (
	"strings"
	"testing"

	"bollard.dev/bollard/channel"
)

func TestStagedRolloutOneTenFiftyHundred(t *testing.T) {
	r := newRig(t)
	ref, err := r.p.Submit(ctx(), r.artifact(42, nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	if ref.VersionCode != 42 || ref.Version != "1.0.42" {
		t.Fatalf("ref %+v", ref)
	}
	assertStaged := func(step string, status string, fraction float64) {
		t.Helper()
		rel := r.release(42)
		if rel.Status != status {
			t.Fatalf("%s: status %q, want %q", step, rel.Status, status)
		}
		switch {
		case fraction == 0 && rel.UserFraction != nil:
			t.Fatalf("%s: userFraction %v on a %s release", step, *rel.UserFraction, status)
		case fraction != 0 && (rel.UserFraction == nil || *rel.UserFraction != fraction):
			t.Fatalf("%s: userFraction %v, want %v", step, rel.UserFraction, fraction)
		}
	}
	assertStaged("submit at 1%", "inProgress", 0.01)

	for _, step := range []struct {
		percent  int
		status   string
		fraction float64
		said     string
	}{
		{10, "inProgress", 0.1, "userFraction 0.1"},
		{50, "inProgress", 0.5, "userFraction 0.5"},
		{100, "completed", 0, "completed (userFraction unset: all users)"},
	} {
		commits := r.count(commit)
		said, err := r.p.SetPercent(ctx(), ref, step.percent)
		if err != nil {
			t.Fatalf("SetPercent %d: %v", step.percent, err)
		}
		if said != step.said {
			t.Errorf("SetPercent %d said %q, want %q", step.percent, said, step.said)
		}
		if r.count(commit) != commits+1 {
			t.Errorf("SetPercent %d committed %d edits, want 1", step.percent, r.count(commit)-commits)
		}
		assertStaged("SetPercent", step.status, step.fraction)
	}
	if got := r.committed(); len(got) != 1 {
		t.Errorf("completed track holds %d releases: %+v", len(got), got)
	}
	// Every change went through validate before commit, one edit each.
	if r.count(insert) != 4 || r.count("androidpublisher.edits.validate") != 4 || r.count(commit) != 4 {
		t.Errorf("inserts %d, validates %d, commits %d; want 4 each",
			r.count(insert), r.count("androidpublisher.edits.validate"), r.count(commit))
	}
}

func TestHaltResumeComplete(t *testing.T) {
	r := newRig(t)
	ref, err := r.p.Submit(ctx(), r.artifact(42, nil), 10)
	if err != nil {
		t.Fatal(err)
	}

	inserts, commits := r.count(insert), r.count(commit)
	said, err := r.p.Halt(ctx(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if r.count(insert) != inserts+1 || r.count(commit) != commits+1 {
		t.Errorf("halt: %d inserts and %d commits, want one new edit committed", r.count(insert)-inserts, r.count(commit)-commits)
	}
	if rel := r.release(42); rel.Status != "halted" || rel.UserFraction == nil || *rel.UserFraction != 0.1 {
		t.Fatalf("after halt: %+v", rel)
	}
	for _, honest := range []string{"halted", "keep the build", "does not uninstall", "roll them back"} {
		if !strings.Contains(said, honest) {
			t.Errorf("halt said %q, missing %q", said, honest)
		}
	}

	// The red button stays pressed: a step must not lift it.
	commits = r.count(commit)
	if _, err := r.p.SetPercent(ctx(), ref, 50); err == nil || !strings.Contains(err.Error(), "Resume") {
		t.Fatalf("SetPercent on a halted release: %v", err)
	}
	if r.count(commit) != commits {
		t.Fatal("SetPercent on a halted release committed")
	}

	if err := r.p.Resume(ctx(), ref, 5); err != nil {
		t.Fatal(err)
	}
	if rel := r.release(42); rel.Status != "inProgress" || rel.UserFraction == nil || *rel.UserFraction != 0.05 {
		t.Fatalf("after resume at 5%%: %+v", rel)
	}
	if err := r.p.Complete(ctx(), ref); err != nil {
		t.Fatal(err)
	}
	if rel := r.release(42); rel.Status != "completed" || rel.UserFraction != nil {
		t.Fatalf("after complete: %+v", rel)
	}
}

// The engine repeats a call whose outcome it lost; a repeat that changes nothing must not
// commit — a commit sends the app to review again — and must delete its edit.
func TestRepeatedVerbsCommitNothing(t *testing.T) {
	r := newRig(t)
	ref, err := r.p.Submit(ctx(), r.artifact(42, nil), 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name   string
		do     func() error
		commit bool
	}{
		{"SetPercent at the current fraction", func() error { _, err := r.p.SetPercent(ctx(), ref, 10); return err }, false},
		{"Halt", func() error { _, err := r.p.Halt(ctx(), ref); return err }, true},
		{"Halt again", func() error { _, err := r.p.Halt(ctx(), ref); return err }, false},
		{"Resume at 20", func() error { return r.p.Resume(ctx(), ref, 20) }, true},
		{"Resume at 20 again", func() error { return r.p.Resume(ctx(), ref, 20) }, false},
		{"Complete", func() error { return r.p.Complete(ctx(), ref) }, true},
		{"Complete again", func() error { return r.p.Complete(ctx(), ref) }, false},
		{"SetPercent 100 on the completed release", func() error { _, err := r.p.SetPercent(ctx(), ref, 100); return err }, false},
	} {
		commits, deletes := r.count(commit), r.count(del)
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		wantCommits, wantDeletes := 0, 1
		if step.commit {
			wantCommits, wantDeletes = 1, 0
		}
		if got := r.count(commit) - commits; got != wantCommits {
			t.Errorf("%s: %d commits, want %d", step.name, got, wantCommits)
		}
		if got := r.count(del) - deletes; got != wantDeletes {
			t.Errorf("%s: %d edits deleted, want %d", step.name, got, wantDeletes)
		}
	}
	if rel := r.release(42); rel.Status != "completed" {
		t.Fatalf("final state %+v", rel)
	}
}

func TestVerbsOnAVersionTheTrackLacks(t *testing.T) {
	r := newRig(t)
	if _, err := r.p.Submit(ctx(), r.artifact(42, nil), 10); err != nil {
		t.Fatal(err)
	}
	commits := r.count(commit)
	_, err := r.p.Halt(ctx(), channel.Ref{Version: "1.0.99", VersionCode: 99})
	if err == nil || !strings.Contains(err.Error(), "no release on track production holds versionCode 99") {
		t.Fatalf("halt of a version not on the track: %v", err)
	}
	if r.count(commit) != commits || r.count(del) != 1 {
		t.Errorf("commits %d (want none), deletes %d (want 1)", r.count(commit)-commits, r.count(del))
	}
}
