package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// slackMessage parses a body as a Slack incoming-webhook message, failing on what Slack would
// refuse: no text, no blocks, a block of unknown type, or text over Block Kit's limits.
func slackMessage(t *testing.T, r received) slack.WebhookMessage {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var msg slack.WebhookMessage
	if err := json.Unmarshal(r.body, &msg); err != nil {
		t.Fatalf("not a Slack webhook message: %v\n%s", err, r.body)
	}
	if msg.Text == "" || msg.Blocks == nil || len(msg.Blocks.BlockSet) == 0 {
		t.Fatalf("want text and blocks, got %s", r.body)
	}
	for _, b := range msg.Blocks.BlockSet {
		if _, unknown := b.(*slack.UnknownBlock); unknown {
			t.Errorf("block of unknown type %q in %s", b.BlockType(), r.body)
		}
		if s, ok := b.(*slack.SectionBlock); ok {
			if len(s.Fields) > 10 {
				t.Errorf("section with %d fields; Slack allows 10", len(s.Fields))
			}
			for _, f := range append([]*slack.TextBlockObject{s.Text}, s.Fields...) {
				if f != nil {
					if err := f.Validate(); err != nil {
						t.Errorf("text %q: %v", f.Text, err)
					}
				}
			}
		}
	}
	return msg
}

func TestSlackMessage(t *testing.T) {
	r := newReceiver(t, nil)
	n, _ := start(t, []Target{{Name: t.Name(), URL: r.URL, Format: FormatSlack}}, Options{Source: "prod-eu"})
	n.Notify(Event{Kind: RolledBack, Release: "shop/web", Revision: "3f9c2e1",
		Summary: "revision 3f9c2e1 rolled back: errors 4.2% > 1%", Details: map[string]string{"logID": "web-00042"},
		LogURL: "https://bollard.example/logs/web-00042"})
	many := map[string]string{}
	for i := range 15 {
		many[fmt.Sprintf("object%02d", i)] = "changed"
	}
	n.Notify(Event{Kind: DriftReported, Release: "shop/web", Summary: "15 objects changed out of band", Details: many})

	reqs := r.wait(t, 2)
	msg := slackMessage(t, reqs[0])
	// Slack gives "<", ">" and "&" meaning in text: they must arrive escaped.
	wantSummary := "revision 3f9c2e1 rolled back: errors 4.2% &gt; 1%"
	if !strings.Contains(msg.Text, wantSummary) || !strings.Contains(msg.Text, "shop/web") {
		t.Errorf("text = %q, want the release and the summary %q", msg.Text, wantSummary)
	}
	var header, summary, logID, button bool
	for _, b := range msg.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			header = b.Text.Text == "Rolled back: shop/web"
		case *slack.SectionBlock:
			summary = summary || b.Text != nil && b.Text.Text == wantSummary
			for _, f := range b.Fields {
				logID = logID || strings.Contains(f.Text, "logID") && strings.Contains(f.Text, "web-00042")
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					button = btn.URL == "https://bollard.example/logs/web-00042"
				}
			}
		}
	}
	if !header || !summary || !logID || !button {
		t.Errorf("blocks: header %v, summary %v, logID field %v, Deployment Log button %v; want all in %s",
			header, summary, logID, button, reqs[0].body)
	}

	msg = slackMessage(t, reqs[1]) // also checks the 15 details fit in 10 fields
	if !strings.Contains(string(reqs[1].body), "more") {
		t.Errorf("15 details: want the overflow said (\"… more\"), got %s", reqs[1].body)
	}
}
