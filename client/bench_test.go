package client_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wispfaas/wisp/client"
)

// BenchmarkInvokeResult measures the client's own cost of a blocking
// invoke with result=true over keep-alive loopback, against a handler that
// answers at once. Compare it with BenchmarkBareRoundTrip: the difference
// is what the client adds.
func BenchmarkInvokeResult(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(client.ActivationIDHeader, "0123456789abcdef0123456789abcdef")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"greeting":"hello"}`))
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "a:b")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	params := []byte(`{"name":"world"}`)
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Invoke(ctx, "echo", params, client.InvokeOptions{Result: true})
		if err != nil || r.Status != http.StatusOK {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkBareRoundTrip is the floor: a plain keep-alive POST of the same
// parameters with net/http.
func BenchmarkBareRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"greeting":"hello"}`))
	}))
	defer srv.Close()
	hc := srv.Client()
	params := []byte(`{"name":"world"}`)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := hc.Post(srv.URL+"/api/v1/namespaces/_/actions/echo?blocking=true&result=true", "application/json", bytes.NewReader(params))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 64)
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
	}
}
