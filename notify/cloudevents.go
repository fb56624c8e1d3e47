package notify

import (
	"fmt"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
)

// TypePrefix starts every CloudEvents type bollard sends: "dev.bollard.rolled-back".
const TypePrefix = "dev.bollard."

// Data is the CloudEvents data of a notification (content type application/json); receivers can
// unmarshal into it.
type Data struct {
	Kind     string            `json:"kind"`
	Release  string            `json:"release,omitempty"`
	Revision string            `json:"revision,omitempty"`
	Summary  string            `json:"summary"`
	Details  map[string]string `json:"details,omitempty"`
	LogURL   string            `json:"logURL,omitempty"`
}

// encodeCloudEvent is a CloudEvents 1.0 event in structured mode: the envelope and the data in one
// JSON body, built and encoded by the CloudEvents SDK. The subject is the Release.
func encodeCloudEvent(source string, q queued) ([]byte, string, error) {
	ev := event.New(event.CloudEventsVersionV1)
	ev.SetID(q.id)
	ev.SetSource(source)
	ev.SetType(TypePrefix + q.Kind)
	ev.SetTime(q.Time.UTC())
	if q.Release != "" {
		ev.SetSubject(q.Release)
	}
	data := Data{Kind: q.Kind, Release: q.Release, Revision: q.Revision, Summary: q.Summary, Details: q.Details, LogURL: q.LogURL}
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		return nil, "", fmt.Errorf("cloudevent data: %w", err)
	}
	if err := ev.Validate(); err != nil {
		return nil, "", fmt.Errorf("cloudevent %s: %w", ev.Type(), err)
	}
	body, err := format.JSON.Marshal(&ev)
	if err != nil {
		return nil, "", fmt.Errorf("cloudevent %s: %w", ev.Type(), err)
	}
	return body, format.JSON.MediaType() + "; charset=utf-8", nil
}
