package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// verifySignature checks the X-Bollard-Signature of a request as a receiver would: recompute the
// HMAC over the exact body and compare in constant time.
func verifySignature(t *testing.T, key []byte, r received) {
	t.Helper()
	got, ok := strings.CutPrefix(r.header.Get("X-Bollard-Signature"), "sha256=")
	if !ok {
		t.Fatalf("X-Bollard-Signature = %q, want sha256=<hex>", r.header.Get("X-Bollard-Signature"))
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		t.Fatalf("X-Bollard-Signature is not hex: %v", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(r.body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("X-Bollard-Signature does not verify with the target's key over body %s", r.body)
	}
}

func TestCloudEventSignedAndParsedBySDK(t *testing.T) {
	key := []byte("a-webhook-key")
	signed, unsigned := newReceiver(t, nil), newReceiver(t, nil)
	n, _ := start(t, []Target{
		{Name: t.Name() + "/signed", URL: signed.URL, Secret: key},
		{Name: t.Name() + "/unsigned", URL: unsigned.URL, Format: FormatCloudEvents},
	}, Options{Source: "prod-eu/daemon"})
	sentCount := counter(t.Name()+"/signed", RolledBack, "sent")

	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	sent := []Event{
		{Kind: RolledBack, Release: "shop/web", Revision: "3f9c2e1", Summary: "revision 3f9c2e1 rolled back: errors 4.2% > 1%",
			Details: map[string]string{"logID": "web-00042", "reason": "SLO"}, Time: at, LogURL: "https://bollard.example/logs/web-00042"},
		{Kind: RolledBack, Release: "shop/api", Revision: "9a1b2c3", Summary: "revision 9a1b2c3 rolled back: p99 2.1s > 1s", Time: at.Add(time.Minute)},
	}
	for _, e := range sent {
		n.Notify(e)
	}

	reqs := signed.wait(t, 2)
	ids := map[string]bool{}
	for i, r := range reqs {
		verifySignature(t, key, r)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
			t.Errorf("Content-Type = %q, want application/cloudevents+json (structured mode)", ct)
		}
		var ev event.Event
		if err := ev.UnmarshalJSON(r.body); err != nil {
			t.Fatalf("the CloudEvents SDK cannot parse the body: %v\n%s", err, r.body)
		}
		if err := ev.Validate(); err != nil {
			t.Errorf("event does not validate: %v", err)
		}
		want := sent[i]
		if ev.SpecVersion() != "1.0" || ev.Type() != "dev.bollard.rolled-back" || ev.Source() != "bollard/prod-eu/daemon" {
			t.Errorf("specversion, type, source = %q, %q, %q; want 1.0, dev.bollard.rolled-back, bollard/prod-eu/daemon",
				ev.SpecVersion(), ev.Type(), ev.Source())
		}
		if !ev.Time().Equal(want.Time) {
			t.Errorf("time = %v, want %v", ev.Time(), want.Time)
		}
		if ev.Subject() != want.Release {
			t.Errorf("subject = %q, want the release %q", ev.Subject(), want.Release)
		}
		if ev.ID() == "" || ids[ev.ID()] {
			t.Errorf("id %q is empty or repeats an earlier event's", ev.ID())
		}
		ids[ev.ID()] = true

		var data struct {
			Kind, Release, Revision, Summary, LogURL string
			Details                                  map[string]string
		}
		if ev.DataContentType() != "application/json" {
			t.Errorf("datacontenttype = %q, want application/json", ev.DataContentType())
		}
		if err := json.Unmarshal(ev.Data(), &data); err != nil {
			t.Fatalf("data is not JSON: %v", err)
		}
		if data.Kind != want.Kind || data.Release != want.Release || data.Revision != want.Revision ||
			data.Summary != want.Summary || data.LogURL != want.LogURL || !maps.Equal(data.Details, want.Details) {
			t.Errorf("data = %+v, want the event's %+v", data, want)
		}
	}

	for _, r := range unsigned.wait(t, 2) {
		if sig := r.header.Get("X-Bollard-Signature"); sig != "" {
			t.Errorf("a target without a secret sent X-Bollard-Signature %q", sig)
		}
	}
	eventually(t, "the sent counter", func() bool { return sentCount() == 2 })
}

func TestDetailsCopiedAtNotify(t *testing.T) {
	r := newReceiver(t, nil)
	n, _ := start(t, []Target{{Name: t.Name(), URL: r.URL}}, Options{})
	details := map[string]string{"user": "alice"}
	n.Notify(Event{Kind: BreakGlass, Summary: "break-glass used", Details: details})
	details["user"] = "mallory" // the caller reuses its map right away

	var ev event.Event
	if err := ev.UnmarshalJSON(r.wait(t, 1)[0].body); err != nil {
		t.Fatal(err)
	}
	var data Data
	if err := ev.DataAs(&data); err != nil {
		t.Fatal(err)
	}
	if data.Details["user"] != "alice" || ev.Source() != "bollard" || ev.Subject() != "" || ev.Time().IsZero() {
		t.Errorf("got details %v, source %q, subject %q, time %v; want the details as notified, source bollard, no subject, the time of Notify",
			data.Details, ev.Source(), ev.Subject(), ev.Time())
	}
}
