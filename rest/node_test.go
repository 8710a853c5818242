package rest_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ermine-rt/ermine/rest"
)

// TestQueryNode reads the fake server's root: its events URL, with no token sent.
func TestQueryNode(t *testing.T) {
	srv, c := fakeServer(t, nil)
	n, err := c.QueryNode(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if n.WS != srv.EventsURL() || n.Revolt == "" || n.App != srv.URL {
		t.Errorf("node = %+v, want ws %s", n, srv.EventsURL())
	}
}

// TestQueryNodeIsNotRetriedAndSendsNoToken: a 500 from the root is returned at once (the caller
// backs off), and no request carries the token.
func TestQueryNodeIsNotRetriedAndSendsNoToken(t *testing.T) {
	var hits atomic.Int64
	var sawToken atomic.Bool
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Bot-Token") != "" || r.Header.Get("X-Session-Token") != "" {
			sawToken.Store(true)
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(api.Close)
	c := rest.New("tok-en", rest.WithBaseURL(api.URL))
	_, err := c.QueryNode(testContext(t))
	if !errors.Is(err, rest.ErrServer) {
		t.Fatalf("err = %v, want a server error", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if sawToken.Load() {
		t.Error("the root was sent the token")
	}
}
