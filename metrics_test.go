package ermine_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/stoattest"
)

// TestMetricsOfARunningBot scrapes /metrics of a bot connected to the fake server and parses it
// as Prometheus does; /healthz says it is connected.
func TestMetricsOfARunningBot(t *testing.T) {
	srv := stoattest.NewServer(t)
	addr := freeAddr(t)
	b, err := ermine.New(ermine.Config{Token: srv.Token(), APIURL: srv.URL, MetricsAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 1)
	ermine.Handle(b, func(ctx *ermine.Context, ev *ermine.ReadyEvent) error {
		ready <- struct{}{}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no Ready")
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	events := families["ermine_events_total"]
	if events == nil {
		t.Fatalf("no ermine_events_total in %d families", len(families))
	}
	var readies float64
	for _, m := range events.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "type" && l.GetValue() == (&ermine.ReadyEvent{}).EventType().String() {
				readies = m.GetCounter().GetValue()
			}
		}
	}
	if readies != 1 {
		t.Fatalf("ermine_events_total{type=Ready} = %v", readies)
	}
	for _, name := range []string{"ermine_backfilled_messages_total", "ermine_cache_writes_total", "ermine_rest_requests_total", "ermine_connected", "ermine_frames_total", "ermine_owners", "ermine_cache_entries", "ermine_cache_bytes", "ermine_event_latency_seconds", "ermine_inflight_events"} {
		if families[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if v := families["ermine_connected"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("ermine_connected = %v", v)
	}

	hr, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	var health struct {
		Connected bool `json:"connected"`
	}
	if err := json.NewDecoder(hr.Body).Decode(&health); err != nil || hr.StatusCode != http.StatusOK || !health.Connected {
		t.Fatalf("/healthz: status %d, %+v, %v", hr.StatusCode, health, err)
	}
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
