package admission

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"bollard.dev/bollard/api/v1alpha1"
)

// TestDocumentMatchesJSON keeps the hand-built input document equal to the JSON form of Input,
// which is what the Rego policies and their tests are written against.
func TestDocumentMatchesJSON(t *testing.T) {
	gate := NewGate(testCluster(), nil)
	for _, req := range []Request{
		{Operation: "UPDATE", User: User{Username: "ann", Groups: []string{"sre"}}, Now: insideFreeze, OldObject: deployment("shop"),
			Object: deployment("shop", newImage, annotate(v1alpha1.AnnotationBreakGlass, "INC-1"), annotate(v1alpha1.AnnotationRequiresFlags, "new-checkout=off"),
				annotate(v1alpha1.AnnotationSchemaVersion, "43"), annotate(v1alpha1.AnnotationApprovedChange, "CHG-1"))},
		{Operation: "CREATE", Now: time.Date(2026, 12, 1, 0, 0, 0, 0, berlin), Object: deployment("dev")},
	} {
		in, _, err := gate.buildInput(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		viaJSON := roundTrip(t, in)
		direct := roundTrip(t, in.document())
		if !reflect.DeepEqual(viaJSON, direct) {
			t.Errorf("document() differs from JSON:\n json %v\n  doc %v", viaJSON, direct)
		}
	}
}

func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
