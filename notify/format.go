package notify

import (
	"maps"
	"slices"
)

// encoder turns an event into a request body and its content type; source is the CloudEvents
// source of this sender.
type encoder func(source string, q queued) (body []byte, contentType string, err error)

// encoders are the target formats, one file each.
var encoders = map[string]encoder{
	FormatCloudEvents: encodeCloudEvent,
	FormatSlack:       encodeSlack,
}

// formats are the known format names, sorted.
func formats() []string { return slices.Sorted(maps.Keys(encoders)) }
