package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadConn is one load client's connection: HTTP/1.1 keep-alive over a TCP
// connection of its own, the request's bytes built once, the answer read
// by a parser that knows only what an answer to it needs (status, length
// or chunks, the id header, Connection: close).
//
// The load phases use it rather than net/http's client because the load
// generator shares the machine's two cores with the server it measures:
// net/http's Transport hands every request between three goroutines (the
// caller's, the connection's writer and its reader) and cost 36–45 µs of
// CPU per request here, against 19–22 µs for the floor server itself; this
// client costs 16–18 µs and wrk 9–14 µs. What the generator burns is taken from a server that uses both
// cores (wispd) but not from one that uses one (workerd), so a heavy
// generator skews the ratios between them (docs/rationale.md, "The
// benchmark's load generator"). One goroutine writing and reading its own
// connection is what wrk does too.
type loadConn struct {
	req  *request
	addr string // host:port to dial
	raw  []byte // the whole request, sent again and again

	conn net.Conn
	br   *bufio.Reader
	stop func() bool // of the context.AfterFunc watching ctx
}

// loadTimeout bounds one request, as newClient's Timeout does.
const loadTimeout = 30 * time.Second

// newLoadConn prepares a connection for req; it dials on first use.
func newLoadConn(req *request) (*loadConn, error) {
	u, err := url.Parse(req.url)
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("load client: %s: only http:// is supported", req.url)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.method, u.RequestURI(), u.Host)
	keys := make([]string, 0, len(req.header))
	for k := range req.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Host") {
			continue
		}
		for _, v := range req.header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(req.body) > 0 || req.method == "POST" || req.method == "PUT" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(req.body))
	}
	b.WriteString("\r\n")
	b.Write(req.body)
	return &loadConn{req: req, addr: addr, raw: b.Bytes()}, nil
}

// do sends the request once and reads the whole answer. Anything but 200
// is an error, as in request.do. After an error of the connection, or an
// answer that closes it, the next do dials a new one.
func (lc *loadConn) do(ctx context.Context) (id string, err error) {
	if lc.conn == nil {
		if err := lc.dial(ctx); err != nil {
			return "", err
		}
	}
	keep, id, err := lc.roundTrip()
	if !keep {
		lc.close()
	}
	return id, err
}

func (lc *loadConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", lc.addr)
	if err != nil {
		return err
	}
	lc.conn, lc.br = c, bufio.NewReaderSize(c, 16<<10)
	// An interrupted benchmark must not wait for an answer: the end of
	// ctx unblocks the read in progress.
	lc.stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// close closes the connection, if any.
func (lc *loadConn) close() {
	if lc.conn == nil {
		return
	}
	lc.stop()
	_ = lc.conn.Close()
	lc.conn, lc.br = nil, nil
}

// roundTrip writes the request and reads its answer; keep reports whether
// the connection may carry the next request.
func (lc *loadConn) roundTrip() (keep bool, id string, err error) {
	if err := lc.conn.SetDeadline(time.Now().Add(loadTimeout)); err != nil {
		return false, "", err
	}
	if _, err := lc.conn.Write(lc.raw); err != nil {
		return false, "", fmt.Errorf("write request: %w", err)
	}
	a, err := readAnswer(lc.br, lc.req.idHeader)
	if err != nil {
		return false, "", err
	}
	if a.status != 200 {
		return a.keep, "", fmt.Errorf("status %d", a.status)
	}
	if lc.req.idHeader != "" && a.id == "" {
		return a.keep, "", fmt.Errorf("no %s header", lc.req.idHeader)
	}
	return a.keep, a.id, nil
}

// answer is what loadConn needs of an HTTP answer.
type answer struct {
	status int
	id     string // the idHeader's value
	keep   bool   // the connection stays open
}

// readAnswer reads one HTTP/1.1 answer from br, its body discarded.
// idHeader, when not empty, names a header whose value is returned.
func readAnswer(br *bufio.Reader, idHeader string) (answer, error) {
	a := answer{keep: true}
	line, err := readLine(br)
	if err != nil {
		return a, fmt.Errorf("read status line: %w", err)
	}
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	code, _, _ := bytes.Cut(rest, []byte(" "))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(code) != 3 {
		return a, fmt.Errorf("not an HTTP/1.x status line: %q", line)
	}
	if a.status, err = strconv.Atoi(string(code)); err != nil {
		return a, fmt.Errorf("status line %q: %w", line, err)
	}
	a.keep = string(proto) == "HTTP/1.1"
	length, chunked := -1, false
	for {
		line, err := readLine(br)
		if err != nil {
			return a, fmt.Errorf("read headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return a, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return a, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				a.keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				a.keep = true
			}
		case idHeader != "" && bytes.EqualFold(name, []byte(idHeader)):
			a.id = string(value)
		}
	}
	switch {
	case chunked:
		err = discardChunks(br)
	case length >= 0:
		_, err = br.Discard(length)
	default: // the body ends with the connection
		a.keep = false
		_, err = io.Copy(io.Discard, br)
	}
	if err != nil {
		return a, fmt.Errorf("read answer: %w", err)
	}
	return a, nil
}

// discardChunks reads a chunked body and its trailer.
func discardChunks(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailer, up to its empty line
				line, err := readLine(br)
				if err != nil || len(line) == 0 {
					return err
				}
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		line, err = readLine(br)
		if err != nil {
			return err
		}
		if len(line) != 0 {
			return errors.New("chunk not followed by CRLF")
		}
	}
}

// readLine returns the next line without its CRLF (or LF), valid until the
// next read from br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("line longer than 16 KiB")
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
