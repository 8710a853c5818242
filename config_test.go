package ermine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/rest"
)

// countingTransport counts the requests it passes on.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestRESTSettingsReachTheClient: Config.REST's HTTP client, retry policy and token kind are
// the REST client's.
func TestRESTSettingsReachTheClient(t *testing.T) {
	var session, bot atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.Store(r.Header.Get("X-Session-Token") != "")
		bot.Store(r.Header.Get("X-Bot-Token") != "")
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer api.Close()
	transport := &countingTransport{}
	b, _ := newBot(t, ermine.Config{Token: "t", APIURL: api.URL, REST: ermine.REST{
		HTTPClient:   &http.Client{Transport: transport},
		Retry:        &rest.RetryPolicy{MaxRetries: 0},
		SessionToken: true,
	}})
	if _, err := b.REST().FetchSelf(context.Background()); err == nil {
		t.Fatal("a 502 was not an error")
	}
	if n := transport.n.Load(); n != 1 {
		t.Errorf("%d requests through the configured client, want 1 (no retries)", n)
	}
	if !session.Load() || bot.Load() {
		t.Errorf("session token sent: %v, bot token sent: %v; want a session token only", session.Load(), bot.Load())
	}
}
