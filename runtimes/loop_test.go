package runtimes

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests drive the launchers on the host, as the invoker drives them in
// a container: messages on stdin, replies on fd 3, logs on stdout and
// stderr closed by the sentinel.

const testSentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// logs is one activation's output on one stream: its start (up to keep
// bytes) and how many bytes there were.
type logs struct {
	text string
	n    int64
}

const keep = 1 << 20

// loop is a launcher process under test.
type loop struct {
	t        testing.TB
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	replies  chan string
	out, err chan logs
	exited   chan error
}

// startLoop starts args with fd 3 as the reply pipe.
func startLoop(t testing.TB, args []string, env []string, opts ...func(*exec.Cmd)) *loop {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	for _, o := range opts {
		o(cmd)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	rr, rw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{rw}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	l := &loop{t: t, cmd: cmd, stdin: stdin, replies: make(chan string, 16), out: make(chan logs, 16), err: make(chan logs, 16), exited: make(chan error, 1)}
	go collect(stdout, l.out)
	go collect(stderr, l.err)
	go func() {
		defer close(l.replies)
		defer rr.Close()
		r := bufio.NewReaderSize(rr, 1<<20)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				if line != "" {
					l.replies <- "PARTIAL:" + line
				}
				return
			}
			l.replies <- strings.TrimSuffix(line, "\n")
		}
	}()
	go func() { l.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-l.exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	return l
}

// collect splits a stream into activations at sentinel lines.
func collect(r io.Reader, ch chan<- logs) {
	defer close(ch)
	br := bufio.NewReaderSize(r, 64<<10)
	var cur logs
	var buf bytes.Buffer
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > 1<<16 { // a long line: count it, keep its start
				add(&cur, &buf, line)
				line = line[:0]
			}
			continue
		}
		if err != nil {
			return
		}
		if string(line) == testSentinel+"\n" {
			cur.text = buf.String()
			ch <- cur
			cur, line = logs{}, line[:0]
			buf.Reset()
			continue
		}
		add(&cur, &buf, line)
		line = line[:0]
	}
}

func add(cur *logs, buf *bytes.Buffer, b []byte) {
	cur.n += int64(len(b))
	if room := keep - buf.Len(); room > 0 {
		buf.Write(b[:min(room, len(b))])
	}
}

// wait is how long a test waits for the launcher before it calls it hung:
// a safety net, not a measurement.
const wait = 2 * time.Minute

// send writes one message and returns the reply and the activation's logs.
func (l *loop) send(msg string) (reply string, out, errs logs) {
	l.t.Helper()
	if _, err := io.WriteString(l.stdin, msg+"\n"); err != nil {
		l.t.Fatalf("write %s: %v", msg, err)
	}
	return l.receive(msg)
}

// receive waits for the reply to msg, already written, and the
// activation's logs.
func (l *loop) receive(msg string) (reply string, out, errs logs) {
	l.t.Helper()
	select {
	case r, ok := <-l.replies:
		if !ok {
			l.t.Fatalf("after %s: the launcher closed fd 3 (exit: %v)", msg, l.wait())
		}
		reply = r
	case <-time.After(wait):
		l.t.Fatalf("no reply to %s", msg)
	}
	for _, c := range []struct {
		ch  chan logs
		dst *logs
	}{{l.out, &out}, {l.err, &errs}} {
		select {
		case lg, ok := <-c.ch:
			if !ok {
				l.t.Fatalf("after %s: a log stream ended without its sentinel", msg)
			}
			*c.dst = lg
		case <-time.After(wait):
			l.t.Fatalf("no sentinel after %s", msg)
		}
	}
	return reply, out, errs
}

// wait waits for the process to end and returns its exit error.
func (l *loop) wait() error {
	select {
	case err := <-l.exited:
		l.exited <- err
		return err
	case <-time.After(wait):
		l.t.Fatal("the launcher did not exit")
		return nil
	}
}

// step is one message to a launcher and what must come back.
type step struct {
	msg string
	// reply is the exact reply (compared as JSON); replyHas, a part of it.
	reply, replyHas string
	// out and errs must be in the activation's stdout and stderr logs.
	out, errs string
	// exit: the launcher must exit after msg, with this status.
	exit int
}

// loopCase is a launcher started on files, then driven by steps.
type loopCase struct {
	name  string
	files map[string]string
	init  map[string]any // the init message's fields; entry is filled in for plain code
	steps []step
	env   []string
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// runLoopCases runs cases against the launcher started by args (the
// action directory is given in WISP_ACTION_DIR); entry is the file plain
// code is in.
func runLoopCases(t *testing.T, args []string, entry string, cases []loopCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			init := map[string]any{"main": "main", "binary": false, "entry": "", "env": map[string]string{}}
			for k, v := range tc.init {
				init[k] = v
			}
			if init["binary"] == false && init["entry"] == "" {
				init["entry"] = filepath.Join(dir, entry)
			}
			env := append([]string{"PATH=/usr/bin:/bin", "WISP_ACTION_DIR=" + dir, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}, tc.env...)
			l := startLoop(t, args, env)
			b, _ := json.Marshal(map[string]any{"init": init})
			steps := append([]step{}, tc.steps...)
			manual := false // a case with an "INIT" step sends init itself
			for _, s := range steps {
				manual = manual || s.msg == "INIT"
			}
			if !manual {
				steps = append([]step{{msg: string(b), reply: `{"ok":true}`}}, steps...)
			}
			for _, s := range steps {
				if s.msg == "INIT" {
					s.msg = string(b)
				}
				if s.exit != 0 {
					io.WriteString(l.stdin, s.msg+"\n")
					err := l.wait()
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.ExitCode() != s.exit {
						t.Errorf("after %s: exit %v, want status %d", s.msg, err, s.exit)
					}
					continue
				}
				reply, out, errs := l.send(s.msg)
				checkReply(t, s, reply)
				if !strings.Contains(out.text, s.out) {
					t.Errorf("after %s: stdout %q, want it to hold %q", s.msg, out.text, s.out)
				}
				if !strings.Contains(errs.text, s.errs) {
					t.Errorf("after %s: stderr %q, want it to hold %q", s.msg, errs.text, s.errs)
				}
			}
		})
	}
}

func checkReply(t *testing.T, s step, reply string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(reply), &v); err != nil {
		t.Errorf("after %s: the reply %q is not JSON: %v", s.msg, reply, err)
		return
	}
	if _, ok := v.(map[string]any); !ok {
		t.Errorf("after %s: the reply %q is not an object", s.msg, reply)
	}
	if s.reply != "" {
		var w any
		if err := json.Unmarshal([]byte(s.reply), &w); err != nil {
			t.Fatalf("bad test: %s: %v", s.reply, err)
		}
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(v)
		if !bytes.Equal(wb, gb) {
			t.Errorf("after %s:\nreply %s\nwant  %s", s.msg, gb, wb)
		}
	}
	if s.replyHas != "" && !strings.Contains(reply, s.replyHas) {
		t.Errorf("after %s: reply %s, want it to hold %q", s.msg, reply, s.replyHas)
	}
}

// run is a run message for value, with the activation's other fields.
func run(value string) string {
	return `{"value":` + value + `,"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1","activation_id":"0123abc","deadline":"4102444800000","api_host":"http://127.0.0.1:3233","api_key":"k:v"}`
}
