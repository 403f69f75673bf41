package main

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestReadAnswer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    answer
		wantErr string
		rest    string // what must be left unread: the next answer
	}{
		{
			name: "content length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nx-openwhisk-activation-id: abc\r\n\r\nhelloNEXT",
			want: answer{status: 200, id: "abc", keep: true},
			rest: "NEXT",
		},
		{
			name: "chunked, with an extension and a trailer",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\nNEXT",
			want: answer{status: 200, keep: true},
			rest: "NEXT",
		},
		{
			name: "connection close",
			in:   "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			want: answer{status: 503, keep: false},
		},
		{
			name: "HTTP/1.0 without a length: the body ends with the connection",
			in:   "HTTP/1.0 200 OK\r\n\r\nall of it",
			want: answer{status: 200, keep: false},
		},
		{
			name: "LF line ends",
			in:   "HTTP/1.1 200 OK\nContent-Length: 2\n\nokNEXT",
			want: answer{status: 200, keep: true},
			rest: "NEXT",
		},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: "not an HTTP/1.x status line"},
		{name: "bad status code", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "status line"},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: "bad Content-Length"},
		{name: "header without a colon", in: "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", wantErr: "malformed header line"},
		{name: "short body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: "read answer"},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", wantErr: "bad chunk size"},
		{name: "chunk without its CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n", wantErr: "not followed by CRLF"},
		{name: "cut in the headers", in: "HTTP/1.1 200 OK\r\nContent-Len", wantErr: "read headers"},
		{name: "nothing", in: "", wantErr: "read status line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			got, err := readAnswer(br, "X-Openwhisk-Activation-Id")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("answer = %+v, want %+v", got, tt.want)
			}
			if rest, _ := br.Peek(br.Buffered()); string(rest) != tt.rest {
				t.Errorf("left %q unread, want %q", rest, tt.rest)
			}
		})
	}
}

// TestLoadConn drives a real net/http server: keep-alive answers, a
// chunked one, an error status, and a server that closes the connection,
// after which the next request dials again.
func TestLoadConn(t *testing.T) {
	var conns atomic.Int32
	var calls atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Authorization") != "Basic x" || r.ContentLength != int64(len(invokeBody)) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Openwhisk-Activation-Id", "id"+string(rune('0'+n)))
		switch n {
		case 2: // chunked: flushed before the end
			_, _ = w.Write([]byte(`{"greeting":`))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(`"Hello"}`))
		case 3:
			http.Error(w, "boom", http.StatusInternalServerError)
		case 4:
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte(`{}`))
		default:
			_, _ = w.Write([]byte(`{"greeting":"Hello"}`))
		}
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)

	req := &request{method: http.MethodPost, url: s.URL + "/x?blocking=true", body: []byte(invokeBody),
		header: http.Header{"Authorization": {"Basic x"}}, idHeader: "X-Openwhisk-Activation-Id"}
	lc, err := newLoadConn(req)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	for i, want := range []struct {
		id, err string
	}{{id: "id1"}, {id: "id2"}, {err: "status 500"}, {id: "id4"}, {id: "id5"}} {
		id, err := lc.do(t.Context())
		if want.err != "" {
			if err == nil || err.Error() != want.err {
				t.Errorf("request %d: err = %v, want %q", i+1, err, want.err)
			}
			continue
		}
		if err != nil || id != want.id {
			t.Errorf("request %d: id %q, err %v; want %q", i+1, id, err, want.id)
		}
	}
	// One connection for the first four (the 500 keeps it open), a new
	// one after the server closed it.
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestNewLoadConnRefusesHTTPS(t *testing.T) {
	if _, err := newLoadConn(&request{method: http.MethodGet, url: "https://example.com/"}); err == nil {
		t.Error("an https URL was accepted")
	}
}
