package feed

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bollard.dev/bollard/channel"
)

// TestProviderHaltStays: the red button through the provider holds — a step never lifts a halt
// (only a resume does), a halt or rollback of one version never touches another the channel
// offers, a second submit of a halted version is refused, and a halt after the rollback is done.
func TestProviderHaltStays(t *testing.T) {
	repo, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file := func(version string) map[string]string {
		path := filepath.Join(t.TempDir(), "shop")
		if err := os.WriteFile(path, []byte("shop "+version+strings.Repeat(".", 512)), 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"shop": path}
	}
	ctx := context.Background()
	p := &Provider{Repo: repo, Channel: "stable", Platform: "linux-amd64"}
	if _, err := p.Submit(ctx, channel.Artifact{Version: "1.0.0", Files: file("1.0.0")}, 100); err != nil {
		t.Fatal(err)
	}
	v11 := channel.Ref{Version: "1.1.0"}
	if _, err := p.Submit(ctx, channel.Artifact{Version: "1.1.0", Files: file("1.1.0")}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Halt(ctx, channel.Ref{Version: "0.9.0"}); err == nil || !strings.Contains(err.Error(), "nothing of 0.9.0 to halt") {
		t.Errorf("a halt of a version the channel does not offer: %v", err)
	}
	if _, err := p.Halt(ctx, v11); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetPercent(ctx, v11, 50); err == nil || !strings.Contains(err.Error(), "only a resume lifts it") {
		t.Errorf("a step on a halted channel: %v", err)
	}
	if _, err := p.Submit(ctx, channel.Artifact{Version: "1.1.0", Files: file("1.1.0")}, 10); err == nil || !strings.Contains(err.Error(), "is halted at 10%") {
		t.Errorf("a second submit of the halted version: %v", err)
	}
	if ptr, _ := repo.Pointer("stable", "linux-amd64"); !ptr.Halted || ptr.Percent != 10 {
		t.Errorf("after the refused step and submit: %+v", ptr)
	}
	if err := p.Resume(ctx, v11, 5); err != nil {
		t.Fatal(err)
	}
	if ptr, _ := repo.Pointer("stable", "linux-amd64"); ptr.Halted || ptr.Percent != 5 {
		t.Errorf("after the resume: %+v", ptr)
	}
	if _, err := p.Rollback(ctx, channel.Ref{Version: "1.0.0"}); err == nil {
		t.Error("a rollback of a version the channel does not offer went through")
	}
	if _, err := p.Rollback(ctx, v11); err != nil {
		t.Fatal(err)
	}
	if said, err := p.Halt(ctx, v11); err != nil || !strings.Contains(said, "rolled back already") {
		t.Errorf("a halt after the rollback: %q, %v", said, err)
	}
	if ptr, _ := repo.Pointer("stable", "linux-amd64"); ptr.Version != "1.0.0" || ptr.Withdrawn != "1.1.0" || ptr.Halted {
		t.Errorf("after the rollback and halt: %+v", ptr)
	}
}
