package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// titles head a Slack message per kind.
var titles = map[string]string{
	Refused:        "Refused",
	RolledBack:     "Rolled back",
	RollbackFailed: "Rollback failed",
	DriftReverted:  "Drift reverted",
	DriftReported:  "Drift found",
	BreakGlass:     "Break-glass used",
	Succeeded:      "Rolled out",
}

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks): longer text is cut rather
// than have Slack refuse the whole message.
const (
	slackHeaderMax = 150
	slackTextMax   = 3000
	slackFieldMax  = 2000
	slackFieldsMax = 10
)

// encodeSlack is a Slack incoming-webhook message built with slack-go's types: text (what a
// notification or an old client shows) and blocks — a header, the summary with the revision and
// details as fields, the source and time, and a button to the Deployment Log when there is one.
func encodeSlack(source string, q queued) ([]byte, string, error) {
	title := titles[q.Kind]
	if title == "" {
		title = q.Kind
	}
	heading := title
	if q.Release != "" {
		heading += ": " + q.Release
	}
	summary := escapeMrkdwn(q.Summary)
	if summary == "" {
		summary = "(no summary)"
	}

	var fields []*slack.TextBlockObject
	if q.Revision != "" {
		fields = append(fields, mrkdwn(fmt.Sprintf("*revision*\n`%s`", escapeMrkdwn(q.Revision)), slackFieldMax))
	}
	keys := slices.Sorted(maps.Keys(q.Details))
	for i, k := range keys {
		if len(fields) == slackFieldsMax-1 && i < len(keys)-1 {
			fields = append(fields, mrkdwn(fmt.Sprintf("*…*\n%d more", len(keys)-i), slackFieldMax))
			break
		}
		fields = append(fields, mrkdwn(fmt.Sprintf("*%s*\n%s", escapeMrkdwn(k), escapeMrkdwn(q.Details[k])), slackFieldMax))
	}

	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, cut(heading, slackHeaderMax), false, false)),
		slack.NewSectionBlock(mrkdwn(summary, slackTextMax), nil, nil),
	}
	if len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("",
		mrkdwn(fmt.Sprintf("%s · %s", escapeMrkdwn(source), q.Time.UTC().Format(time.RFC3339)), slackTextMax)))
	if q.LogURL != "" {
		button := slack.NewButtonBlockElement("", "", slack.NewTextBlockObject(slack.PlainTextType, "Deployment Log", false, false))
		blocks = append(blocks, slack.NewActionBlock("", button.WithURL(q.LogURL)))
	}

	msg := slack.WebhookMessage{
		Text:   cut(fmt.Sprintf("%s — %s", escapeMrkdwn(heading), summary), slackTextMax),
		Blocks: &slack.Blocks{BlockSet: blocks},
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, "", fmt.Errorf("slack message: %w", err)
	}
	return body, "application/json", nil
}

func mrkdwn(text string, limit int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, cut(text, limit), false, false)
}

// escapeMrkdwn escapes the three characters Slack gives meaning to in message text
// (https://api.slack.com/reference/surfaces/formatting#escaping): "errors 4.2% > 1%" must not
// become a link or a mention.
func escapeMrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cut shortens s to at most limit characters, ending in "…" when it did.
func cut(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}
