package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wispfaas/wisp/internal/syncbuf"
)

// Deadlines of the suite. They bound waits on a loaded 2-core machine; no
// test asserts that anything is fast.
const (
	startDeadline = 90 * time.Second // wispd answering /ping
	stopDeadline  = 30 * time.Second // wispd exiting after SIGTERM
	pollDeadline  = 60 * time.Second // a record appearing
)

// wispd is one running wispd process.
type wispd struct {
	data, addr string // data directory, host:port
	url        string // http://host:port
	stdout     syncbuf.Buffer
	stderr     syncbuf.Buffer
	cmd        *exec.Cmd
	done       chan struct{} // closed when the process has exited
	waitErr    error         // its exit status, once done is closed

	stopOnce sync.Once
	stopErr  error
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// launch starts wispd on data and addr and waits until it answers /ping.
// On failure the process is stopped and its output is in the error.
func launch(data, addr string, extra ...string) (*wispd, error) {
	d := &wispd{data: data, addr: addr, url: "http://" + addr, done: make(chan struct{})}
	args := append([]string{"--data", data, "--listen", addr}, extra...)
	d.cmd = exec.Command(wispdBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	// If the test binary dies (a panic, a -timeout), wispd dies with it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// No WISP_* variable of the environment may change what is tested.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WISP_") {
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start wispd: %w", err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.done) }()

	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startDeadline)
	for {
		resp, err := hc.Get(d.url + "/ping")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("pong")) {
				return d, nil
			}
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("wispd exited before answering /ping (%v)\n%s", d.waitErr, d.output())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = d.stop()
			return nil, fmt.Errorf("wispd did not answer /ping on %s within %s\n%s", addr, startDeadline, d.output())
		}
	}
}

// startWispd starts a wispd on a new data directory and port for test t,
// stopped when the test ends; its output is logged if the test failed.
func startWispd(t *testing.T, extra ...string) *wispd {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return startWispdOn(t, filepath.Join(t.TempDir(), "data"), addr, extra...)
}

// startWispdOn is startWispd on a given data directory and address.
func startWispdOn(t *testing.T, data, addr string, extra ...string) *wispd {
	t.Helper()
	d, err := launch(data, addr, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.stop(); err != nil {
			t.Errorf("stop wispd: %v", err)
		}
		if t.Failed() {
			t.Logf("wispd (pid %d) on %s, data %s:\n%s", d.cmd.Process.Pid, d.addr, d.data, d.output())
		}
	})
	return d
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// stopDeadline. It returns an error unless wispd exited with status 0.
// Calling it again returns the first answer.
func (d *wispd) stop() error { return d.stopWith(syscall.SIGTERM) }

// stopWith is stop with another signal.
func (d *wispd) stopWith(sig os.Signal) error {
	d.stopOnce.Do(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Signal(sig)
			select {
			case <-d.done:
			case <-time.After(stopDeadline):
				_ = d.cmd.Process.Kill()
				<-d.done
				d.stopErr = fmt.Errorf("wispd did not exit within %s of SIGTERM: killed", stopDeadline)
				return
			}
		}
		if d.waitErr != nil {
			d.stopErr = fmt.Errorf("wispd exited with %v", d.waitErr)
		}
	})
	return d.stopErr
}

func (d *wispd) output() string {
	return "--- stdout ---\n" + d.stdout.String() + "--- stderr ---\n" + d.stderr.String()
}

// guestAuth returns the guest key kept in the data directory.
func (d *wispd) guestAuth(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.data, "guest.auth"))
	if err != nil {
		t.Fatalf("read the guest key: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// guest is an API client with the guest key.
func (d *wispd) guest(t testing.TB) *api {
	t.Helper()
	return &api{url: d.url, auth: d.guestAuth(t)}
}

// createNamespace runs `wispd namespace create name` on d's data directory
// (through the running daemon) and returns the new key.
func (d *wispd) createNamespace(t testing.TB, name string) string {
	t.Helper()
	out, err := runWispdAdmin(d.data, "namespace", "create", name)
	if err != nil {
		t.Fatalf("wispd namespace create %s: %v", name, err)
	}
	auth := strings.TrimSpace(out)
	if !authRE.MatchString(auth) {
		t.Fatalf("wispd namespace create %s printed %q, not a UUID:KEY", name, out)
	}
	return auth
}

var authRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:\S{8,128}$`)

func runWispdAdmin(data string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wispdBin, append(args, "--data", data)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

var nsSeq atomic.Int64

// namespace creates a namespace of its own for test t on d and returns a
// client with its key, so that tests sharing one wispd do not see each
// other's actions and activations.
func (d *wispd) namespace(t testing.TB) *api {
	t.Helper()
	name := fmt.Sprintf("%s-%d", nsNameRE.ReplaceAllString(t.Name(), "_"), nsSeq.Add(1))
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	a := &api{url: d.url, auth: d.createNamespace(t, name), ns: name}
	return a
}

var nsNameRE = regexp.MustCompile(`[^A-Za-z0-9_]`)

// The wispd most tests share; each test works in a namespace of its own.
var (
	sharedOnce sync.Once
	sharedD    *wispd
	sharedErr  error
)

// shared returns the shared wispd, starting it on first use.
func shared(t testing.TB) *wispd {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp(binDir, "shared-")
		if err != nil {
			sharedErr = err
			return
		}
		addr, err := freeAddr()
		if err != nil {
			sharedErr = err
			return
		}
		sharedD, sharedErr = launch(filepath.Join(dir, "data"), addr)
	})
	if sharedErr != nil {
		t.Fatalf("shared wispd: %v", sharedErr)
	}
	return sharedD
}

// stopShared stops the shared wispd after the tests; with dump its output
// goes to stderr.
func stopShared(dump bool) {
	if sharedD == nil {
		return
	}
	err := sharedD.stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: shared wispd:", err)
	}
	if dump || err != nil {
		fmt.Fprintf(os.Stderr, "e2e: output of the shared wispd on %s:\n%s\n", sharedD.addr, sharedD.output())
	}
}

// api sends requests to a wispd with one key ("" for none).
type api struct {
	url  string
	auth string
	ns   string // the namespace of auth, when known
}

var httpClient = &http.Client{Timeout: 3 * time.Minute}

// reply is a whole HTTP response.
type reply struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r *reply) String() string {
	body := string(r.Body)
	if len(body) > 2000 {
		body = body[:2000] + fmt.Sprintf("... (%d bytes)", len(r.Body))
	}
	return fmt.Sprintf("%s %s: %d %s", r.Method, r.Path, r.Status, body)
}

// do sends a request to path (from the root, e.g. "/api/v1/namespaces")
// with body: nil, []byte or string as is, anything else as JSON. It fails
// the test when no answer comes; call it from the test's goroutine.
func (a *api) do(t testing.TB, method, path string, body any) *reply {
	t.Helper()
	r, err := a.send(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do without a test, for other goroutines.
func (a *api) send(method, path string, body any) (*reply, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode the body of %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if a.auth != "" {
		user, key, _ := strings.Cut(a.auth, ":")
		req.SetBasicAuth(user, key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return &reply{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

func (a *api) get(t testing.TB, path string) *reply { t.Helper(); return a.do(t, "GET", path, nil) }

// Paths in the caller's namespace.
const (
	actionsPath     = "/api/v1/namespaces/_/actions"
	activationsPath = "/api/v1/namespaces/_/activations"
)

// want fails the test unless r has status.
func (r *reply) want(t testing.TB, status int) *reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want HTTP %d, got %s", status, r)
	}
	return r
}

// decode decodes r's JSON body into v.
func (r *reply) decode(t testing.TB, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", r.Method, r.Path, ct)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// object decodes r's body as a JSON object.
func (r *reply) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

var txidRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// wantError checks that r is an OpenWhisk error with status whose message
// contains each of parts (case-insensitively), and returns the message.
func (r *reply) wantError(t testing.TB, status int, parts ...string) string {
	t.Helper()
	r.want(t, status)
	var eb struct {
		Error *string `json:"error"`
		Code  *string `json:"code"`
	}
	r.decode(t, &eb)
	if eb.Error == nil || *eb.Error == "" || eb.Code == nil {
		t.Fatalf("want an OpenWhisk error body {error, code}, got %s", r)
	}
	if !txidRE.MatchString(*eb.Code) {
		t.Errorf("error code %q is not a transaction id", *eb.Code)
	}
	for _, p := range parts {
		if !strings.Contains(strings.ToLower(*eb.Error), strings.ToLower(p)) {
			t.Errorf("error %q does not mention %q", *eb.Error, p)
		}
	}
	return *eb.Error
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for delay := 5 * time.Millisecond; !cond(); delay = min(delay*2, 250*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", timeout, what)
		}
		time.Sleep(delay)
	}
}

// Wasm code and action bodies.

var (
	codeMu    sync.Mutex
	codeCache = map[string]string{}
)

// wasmBase64 is the base64 of a built test action.
func wasmBase64(t testing.TB, name string) string {
	t.Helper()
	codeMu.Lock()
	defer codeMu.Unlock()
	if s, ok := codeCache[name]; ok {
		return s
	}
	b, err := os.ReadFile(wasmPath(name))
	if err != nil {
		t.Fatal(err)
	}
	s := base64.StdEncoding.EncodeToString(b)
	codeCache[name] = s
	return s
}

// wasmExec is the exec of a wasm action with the test action's code.
func wasmExec(t testing.TB, module string) map[string]any {
	t.Helper()
	return map[string]any{"kind": "wasm", "binary": true, "code": wasmBase64(t, module)}
}

// kv renders OpenWhisk's key-value list from alternating keys and values.
func kv(pairs ...any) []map[string]any {
	var out []map[string]any
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"key": pairs[i], "value": pairs[i+1]})
	}
	return out
}

// createAction creates action name from the test action module, with
// further fields of the body in extra (limits, parameters, ...).
func (a *api) createAction(t testing.TB, name, module string, extra map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"exec": wasmExec(t, module)}
	for k, v := range extra {
		body[k] = v
	}
	return a.do(t, "PUT", actionsPath+"/"+name, body).want(t, http.StatusOK).object(t)
}

// activation is the part of a record the tests read, decoded strictly
// enough to check its wire shape.
type activation struct {
	Namespace    string          `json:"namespace"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Subject      string          `json:"subject"`
	ActivationID string          `json:"activationId"`
	Start        int64           `json:"start"`
	End          int64           `json:"end"`
	Duration     int64           `json:"duration"`
	StatusCode   int             `json:"statusCode"`
	Response     *response       `json:"response"`
	Logs         []string        `json:"logs"`
	Annotations  []keyValue      `json:"annotations"`
	Publish      *bool           `json:"publish"`
	Raw          json.RawMessage `json:"-"`
}

type response struct {
	Status     string         `json:"status"`
	StatusCode int            `json:"statusCode"`
	Success    bool           `json:"success"`
	Result     map[string]any `json:"result"`
}

type keyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// annotation returns the value of annotation key decoded into v; false
// when it is missing.
func (a *activation) annotation(t testing.TB, key string, v any) bool {
	t.Helper()
	for _, kv := range a.Annotations {
		if kv.Key == key {
			if err := json.Unmarshal(kv.Value, v); err != nil {
				t.Fatalf("annotation %s=%s: %v", key, kv.Value, err)
			}
			return true
		}
	}
	return false
}

func (r *reply) activation(t testing.TB) *activation {
	t.Helper()
	var a activation
	r.decode(t, &a)
	a.Raw = r.Body
	if a.ActivationID == "" {
		t.Fatalf("not an activation record: %s", r)
	}
	return &a
}

// invoke POSTs params to action name with the query q (e.g.
// "blocking=true").
func (a *api) invoke(t testing.TB, name, q string, params any) *reply {
	t.Helper()
	p := actionsPath + "/" + name
	if q != "" {
		p += "?" + q
	}
	return a.do(t, "POST", p, params)
}

// record polls until the record of activation id is stored and returns it.
func (a *api) record(t testing.TB, id string) *activation {
	t.Helper()
	var r *reply
	waitFor(t, pollDeadline, "the record of activation "+id, func() bool {
		r = a.get(t, activationsPath+"/"+id)
		if r.Status != http.StatusNotFound {
			r.want(t, http.StatusOK)
			return true
		}
		return false
	})
	return r.activation(t)
}

var logLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z stderr: `)

// checkLogs checks the format of every log line and that some line
// contains each of want.
func checkLogs(t testing.TB, logs []string, want ...string) {
	t.Helper()
	for _, l := range logs {
		if !logLineRE.MatchString(l) {
			t.Errorf("log line %q is not \"<RFC3339 µs>Z stderr: ...\"", l)
		}
	}
	for _, w := range want {
		found := false
		for _, l := range logs {
			found = found || strings.Contains(l, w)
		}
		if !found {
			t.Errorf("no log line contains %q; logs: %q", w, logs)
		}
	}
}

var errNotJSON = errors.New("not JSON")

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b []byte) (bool, error) {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false, errNotJSON
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb), nil
}
