package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/wispfaas/wisp/internal/jsonvalid"
)

// Spec describes one container. Zero MemoryMB, PidsLimit and TmpMB take
// the defaults; an empty Cwd is "/".
type Spec struct {
	// ID is unique per Manager: lower-case letters, digits and '-', at
	// most 64 characters, starting with a letter or digit.
	ID string
	// Rootfs is the runtime's root filesystem, absolute; mounted read-only.
	Rootfs string
	// Args is the action loop's command line (runtime.json "args").
	Args []string
	// Env is the action loop's environment, "KEY=value".
	Env []string
	// Cwd is the working directory inside the container.
	Cwd string
	// ActionDir is a host directory bound read-only at /action (the invoker
	// writes the code into it before Init). It must be readable by uid
	// 65534. Empty: no /action mount (blackbox images).
	ActionDir string
	// MemoryMB is the memory cgroup limit, /tmp included; swap is not
	// allowed where the kernel accounts it.
	MemoryMB int
	// PidsLimit caps the tasks (processes and threads) of the container.
	PidsLimit int
	// TmpMB is the size of the /tmp tmpfs (and of /dev/shm).
	TmpMB int
	// Network grants egress: the container's network namespace gets a veth
	// to the host's wisp0 bridge (see docs/rationale.md). Without it the
	// namespace holds only the loopback interface.
	Network bool
	// Cgroups mounts the container's own cgroups read-only at
	// /sys/fs/cgroup (for runtimes that read their limits there).
	Cgroups bool
}

// validID reports whether id is 1 to 64 of a-z, 0-9 and '-', not
// starting with '-'. (Checked by hand, as the cgroup parent's name: a
// regexp with a counted repetition costs a millisecond to compile at the
// init of every process of the binary, a container's init included.)
func validID(id string) bool {
	return len(id) >= 1 && len(id) <= 64 && id[0] != '-' &&
		strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// validate checks s and applies the defaults.
func (s *Spec) validate() error {
	if !validID(s.ID) {
		return fmt.Errorf("container id %q: use 1 to 64 of a-z, 0-9 and '-', not starting with '-'", s.ID)
	}
	if s.Rootfs == "" || !filepath.IsAbs(s.Rootfs) {
		return fmt.Errorf("container %s: rootfs %q must be an absolute path", s.ID, s.Rootfs)
	}
	if fi, err := os.Stat(s.Rootfs); err != nil {
		return fmt.Errorf("container %s: rootfs: %w", s.ID, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("container %s: rootfs %s is not a directory", s.ID, s.Rootfs)
	}
	if s.ActionDir != "" {
		if !filepath.IsAbs(s.ActionDir) {
			return fmt.Errorf("container %s: action directory %q must be an absolute path", s.ID, s.ActionDir)
		}
		if fi, err := os.Stat(s.ActionDir); err != nil {
			return fmt.Errorf("container %s: action directory: %w", s.ID, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("container %s: action directory %s is not a directory", s.ID, s.ActionDir)
		}
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return fmt.Errorf("container %s: no action loop command (args)", s.ID)
	}
	for _, a := range s.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("container %s: argument %q holds a NUL byte", s.ID, a)
		}
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("container %s: environment entry %q is not KEY=value", s.ID, e)
		}
	}
	if s.Cwd == "" {
		s.Cwd = "/"
	}
	if !filepath.IsAbs(s.Cwd) {
		return fmt.Errorf("container %s: cwd %q must be absolute", s.ID, s.Cwd)
	}
	switch {
	case s.MemoryMB == 0:
		s.MemoryMB = DefaultMemoryMB
	case s.MemoryMB < 4:
		return fmt.Errorf("container %s: memory limit %d MB: at least 4 MB", s.ID, s.MemoryMB)
	}
	switch {
	case s.PidsLimit == 0:
		s.PidsLimit = DefaultPidsLimit
	case s.PidsLimit < 1:
		return fmt.Errorf("container %s: pids limit %d: at least 1", s.ID, s.PidsLimit)
	}
	switch {
	case s.TmpMB == 0:
		s.TmpMB = DefaultTmpMB
	case s.TmpMB < 1:
		return fmt.Errorf("container %s: /tmp size %d MB: at least 1", s.ID, s.TmpMB)
	}
	return nil
}

// State is a container's state as the kernel reports it.
type State int

// The states State reports.
const (
	// Running: the action loop's process exists and is not frozen.
	Running State = iota
	// Paused: its cgroup is frozen.
	Paused
	// Stopped: the action loop has exited, or the container was destroyed.
	Stopped
)

func (s State) String() string {
	switch s {
	case Running:
		return "running"
	case Paused:
		return "paused"
	case Stopped:
		return "stopped"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Container is one started container with its action loop. Init and Run
// calls are serialised (one at a time); Pause, Resume, State, MemoryUsage
// and Destroy may be called from any goroutine. After Destroy every other
// method fails with ErrDestroyed.
type Container struct {
	id       string
	memoryMB int
	m        *Manager
	lc       *libcontainer.Container
	process  *libcontainer.Process
	cg       cgroupFiles
	net      *netLink // nil without Network

	stdin   *os.File // write end of the action loop's stdin
	replies chan reply
	stdout  *stream
	stderr  *stream
	files   []*os.File // our ends of the pipes, closed by Destroy

	calls chan struct{} // a one-slot semaphore for Init and Run
	quit  chan struct{} // closed by Destroy: stops the readers

	done    chan struct{} // closed when the action loop has exited
	exitErr *ExitError    // set before done is closed

	pid   int // the action loop's pid, on the host
	pidMu sync.Mutex
	pidfd int // the action loop's pidfd (readable once it exits), -1 if none

	destroyMu sync.Mutex
	destroyed bool
}

// initLogLevel is the level of what the container's init (libcontainer's
// nsexec and Go init) sends back over its log pipe: logrus's warning level
// (3), so warnings and errors. Left unset, nsexec sends its debug lines,
// some twenty a start, each written by the init and read and decoded by
// this process while the container starts.
const initLogLevel = "3"

// Start creates and starts a container running spec.Args, with its
// stdin, stdout, stderr and fd 3 wired to this Container. The action loop
// is running when Start returns; send Init next. On error nothing is left
// behind.
func (m *Manager) Start(ctx context.Context, spec Spec) (_ *Container, retErr error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	c := &Container{
		id: spec.ID, memoryMB: spec.MemoryMB, m: m, pidfd: -1,
		calls: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		replies: make(chan reply, 1),
	}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, ErrClosed
	case m.containers[spec.ID] != nil:
		m.mu.Unlock()
		return nil, fmt.Errorf("start %s: %w", spec.ID, ErrExists)
	}
	m.containers[spec.ID] = c
	m.mu.Unlock()
	defer func() {
		if retErr != nil {
			m.forget(c)
		}
	}()

	cfg, err := libcontainerConfig(&spec, "/"+m.parent+"/"+spec.ID, m.host)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	if spec.Network {
		if c.net, err = m.network(ctx, spec.ID, cfg); err != nil {
			return nil, fmt.Errorf("start %s: network: %w", spec.ID, err)
		}
		defer func() {
			if retErr != nil {
				c.net.release()
			}
		}()
	}
	lc, err := libcontainer.Create(m.stateDir, spec.ID, cfg)
	if err != nil {
		if errors.Is(err, libcontainer.ErrExist) {
			return nil, fmt.Errorf("start %s: a container with this id is in the state directory (run CleanupLeftovers): %w", spec.ID, ErrExists)
		}
		return nil, fmt.Errorf("start %s: create: %w", spec.ID, err)
	}
	c.lc = lc

	// Four pipes: stdin, stdout, stderr and the reply pipe on fd 3. The
	// child's ends are closed here once it has them, so that EOF on ours
	// means the container's processes are gone.
	var child []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	pipe := func() (r, w *os.File) {
		if err != nil {
			return nil, nil
		}
		r, w, err = os.Pipe()
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	repR, repW := pipe()
	child = []*os.File{inR, outW, errW, repW}
	c.files = []*os.File{inW, outR, errR, repR}
	if err != nil {
		closeAll(child)
		closeAll(c.files)
		_ = lc.Destroy()
		return nil, fmt.Errorf("start %s: pipes: %w", spec.ID, err)
	}
	c.stdin = inW
	c.process = &libcontainer.Process{
		Args:       spec.Args,
		Env:        spec.Env,
		Cwd:        spec.Cwd,
		UID:        unprivilegedID,
		GID:        unprivilegedID,
		Stdin:      inR,
		Stdout:     outW,
		Stderr:     errW,
		ExtraFiles: []*os.File{repW},
		Init:       true,
		LogLevel:   initLogLevel,
	}
	if m.initHelper != nil {
		// Last, so that it lands just below libcontainer's init pipe,
		// where initexec.go looks for it.
		c.process.ExtraFiles = append(c.process.ExtraFiles, m.initHelper)
	}
	// With network, the container is created, its namespace gets its
	// interface, and only then does the action loop start (Exec), so that
	// it never sees the network missing.
	var runErr error
	if c.net != nil {
		runErr = lc.Start(c.process)
	} else {
		runErr = lc.Run(c.process)
	}
	closeAll(child)
	if runErr != nil {
		closeAll(c.files)
		_ = lc.Signal(unix.SIGKILL)
		_, _ = c.process.Wait()
		if err := lc.Destroy(); err != nil {
			m.log.Warn("destroy a container that failed to start", "id", spec.ID, "err", err)
		}
		return nil, fmt.Errorf("start %s: run %q: %w", spec.ID, spec.Args[0], runErr)
	}
	st, err := lc.State()
	if err != nil {
		c.kill()
		return nil, fmt.Errorf("start %s: state: %w", spec.ID, err)
	}
	c.cg = newCgroupFiles(st.CgroupPaths)
	// Not reaped before wait starts, so the pid is still this process.
	c.pid = st.InitProcessPid
	if fd, err := unix.PidfdOpen(st.InitProcessPid, 0); err == nil {
		c.pidfd = fd
	}
	if c.net != nil {
		if err := c.net.attach(st.InitProcessPid); err != nil {
			c.kill()
			return nil, fmt.Errorf("start %s: network: %w", spec.ID, err)
		}
		if err := lc.Exec(); err != nil {
			c.kill()
			return nil, fmt.Errorf("start %s: run %q: %w", spec.ID, spec.Args[0], err)
		}
	}

	c.stdout = newStream("stdout", c.quit)
	c.stderr = newStream("stderr", c.quit)
	go c.stdout.run(outR)
	go c.stderr.run(errR)
	go readReplies(repR, c.replies, c.quit)
	go c.wait()
	m.log.Debug("container started", "id", spec.ID, "pid", st.InitProcessPid, "network", spec.Network)
	return c, nil
}

// kill undoes a Start that failed after the process started.
func (c *Container) kill() {
	_ = c.lc.Signal(unix.SIGKILL)
	_, _ = c.process.Wait()
	if c.pidfd >= 0 {
		_ = unix.Close(c.pidfd)
		c.pidfd = -1
	}
	for _, f := range c.files {
		_ = f.Close()
	}
	c.cg.close()
	if err := c.lc.Destroy(); err != nil {
		c.m.log.Warn("destroy a container that failed to start", "id", c.id, "err", err)
	}
}

// wait reaps the action loop and records how it ended.
func (c *Container) wait() {
	ps, err := c.process.Wait()
	e := &ExitError{ExitCode: -1, MemoryMB: c.memoryMB}
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				e.Signal = ws.Signal()
			case ws.Exited():
				e.ExitCode = ws.ExitStatus()
			}
		}
	} else if err != nil {
		c.m.log.Warn("wait for the action loop", "id", c.id, "err", err)
	}
	// The cgroup still exists here (Destroy waits for done before it
	// removes it), so the OOM counter is readable. Any OOM kill in the
	// container counts: the loop may have died of a killed child.
	if n, err := c.cg.oomKills(); err == nil && n > 0 {
		e.OOMKilled = true
	} else if err != nil {
		c.m.log.Warn("read the OOM counter", "id", c.id, "err", err)
	}
	c.exitErr = e
	close(c.done)
	c.m.log.Debug("action loop exited", "id", c.id, "err", e)
}

// ID is the container's id.
func (c *Container) ID() string { return c.id }

// Done is closed when the action loop has exited (or was killed).
func (c *Container) Done() <-chan struct{} { return c.done }

// Exited returns how the action loop ended, or nil while it runs.
func (c *Container) Exited() *ExitError {
	select {
	case <-c.done:
		return c.exitErr
	default:
		return nil
	}
}

// InitMessage is the init line's content (docs/container-protocol.md).
type InitMessage struct {
	Main   string            `json:"main"`
	Binary bool              `json:"binary"`
	Entry  string            `json:"entry"`
	Env    map[string]string `json:"env"`
}

// RunMessage is one activation's run line.
type RunMessage struct {
	// Value is the activation's parameters, a JSON object.
	Value         json.RawMessage
	Namespace     string
	ActionName    string
	ActionVersion string
	ActivationID  string
	APIHost       string
	APIKey        string
	// Deadline is when the activation's time runs out; zero takes ctx's.
	Deadline time.Time
}

// runLine is RunMessage on the wire.
type runLine struct {
	Value         json.RawMessage `json:"value"`
	Namespace     string          `json:"namespace"`
	ActionName    string          `json:"action_name"`
	ActionVersion string          `json:"action_version"`
	ActivationID  string          `json:"activation_id"`
	Deadline      string          `json:"deadline"`
	APIHost       string          `json:"api_host"`
	APIKey        string          `json:"api_key"`
}

// Init sends the init line and waits for the action loop's reply on fd 3
// and the sentinels on stdout and stderr. It returns the logs written
// meanwhile (they belong to the first activation), cut at logLimit bytes
// (≤ 0: DefaultLogLimit). Errors: *InitError for an {"error": ...} reply;
// ErrTimeout when ctx's deadline passes; *ExitError, *ProtocolError. After
// any error the container should be destroyed.
func (c *Container) Init(ctx context.Context, msg InitMessage, logLimit int) ([]string, error) {
	if msg.Env == nil {
		msg.Env = map[string]string{}
	}
	line, err := json.Marshal(struct {
		Init InitMessage `json:"init"`
	}{msg})
	if err != nil {
		return nil, fmt.Errorf("init %s: encode: %w", c.id, err)
	}
	rep, logs, err := c.call(ctx, line, logLimit)
	if err != nil {
		return logs, err
	}
	var r struct {
		OK    *bool   `json:"ok"`
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(rep, &r); err != nil {
		return logs, &ProtocolError{Reason: "init reply: " + err.Error()}
	}
	switch {
	case r.Error != nil:
		return logs, &InitError{Message: *r.Error}
	case r.OK != nil && *r.OK:
		return logs, nil
	}
	return logs, &ProtocolError{Reason: `init reply is neither {"ok": true} nor {"error": ...}: ` + truncate(rep, 200)}
}

// Run sends one activation's run line and returns the reply (a JSON
// object, possibly with a top-level "error": that is the action's own
// application error) and its logs, cut at logLimit bytes (≤ 0:
// DefaultLogLimit) with a final note line. ctx's deadline is the action's
// time limit. Errors: ErrTimeout (the deadline passed), ctx.Err() when
// cancelled, *ExitError (the action loop exited or was killed, OOM
// included), *ProtocolError (a reply that is not one JSON object or is
// longer than MaxReply), an error for a Value that is not a JSON object.
// With ErrTimeout and *ExitError the logs read so far are returned too.
// After any error but a bad Value the container must be destroyed.
func (c *Container) Run(ctx context.Context, msg RunMessage, logLimit int) (json.RawMessage, []string, error) {
	ctxDeadline, _ := ctx.Deadline()
	line, err := encodeRun(msg, ctxDeadline)
	if err != nil {
		return nil, nil, fmt.Errorf("run %s: %w", c.id, err)
	}
	rep, logs, err := c.call(ctx, line, logLimit)
	if err != nil {
		return nil, logs, err
	}
	if !isJSONObject(rep) {
		return nil, logs, &ProtocolError{Reason: "the result is not a JSON object: " + truncate(rep, 200)}
	}
	return json.RawMessage(rep), logs, nil
}

// encodeRun makes the run line: the value (an empty one is {}), the
// activation's fields, and the deadline in milliseconds since the epoch as
// a string (msg.Deadline, else ctxDeadline, else empty).
func encodeRun(msg RunMessage, ctxDeadline time.Time) ([]byte, error) {
	value := msg.Value
	if len(bytes.TrimSpace(value)) == 0 {
		value = json.RawMessage("{}")
	}
	if !isJSONObject(value) {
		return nil, errors.New("the parameters are not a JSON object")
	}
	deadline := msg.Deadline
	if deadline.IsZero() {
		deadline = ctxDeadline
	}
	rl := runLine{
		Value: value, Namespace: msg.Namespace, ActionName: msg.ActionName,
		ActionVersion: msg.ActionVersion, ActivationID: msg.ActivationID,
		APIHost: msg.APIHost, APIKey: msg.APIKey,
	}
	if !deadline.IsZero() {
		rl.Deadline = strconv.FormatInt(deadline.UnixMilli(), 10)
	}
	line, err := json.Marshal(rl)
	if err != nil {
		return nil, fmt.Errorf("encode the run line: %w", err)
	}
	return line, nil
}

// call writes one line to the action loop and waits for its reply and
// both sentinels.
func (c *Container) call(ctx context.Context, line []byte, logLimit int) ([]byte, []string, error) {
	select {
	case c.calls <- struct{}{}:
		defer func() { <-c.calls }()
	case <-ctx.Done():
		return nil, nil, c.ctxErr(ctx)
	}
	if c.isDestroyed() {
		return nil, nil, ErrDestroyed
	}
	if e := c.Exited(); e != nil {
		return nil, nil, e
	}
	limit := int64(logLimit)
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	// Anything already waiting broke the protocol: a reply nobody asked
	// for. Extra segments come from an action that printed the sentinel
	// itself; they belong to no activation and are dropped, so that the
	// next activation's logs line up again. Only those already cut are: a
	// reader still behind hands its extra segment to this activation,
	// whose own then waits for the next (the protocol's fixed sentinel
	// cannot be told from a printed one).
	select {
	case r := <-c.replies:
		if r.err != nil {
			return nil, nil, c.replyErr(r.err)
		}
		return nil, nil, &ProtocolError{Reason: "a reply nobody asked for: " + truncate(r.line, 200)}
	default:
	}
	for _, s := range []*stream{c.stdout, c.stderr} {
		s.limit.Store(limit)
	drain:
		for {
			select {
			case seg, ok := <-s.segs:
				if !ok || seg.eof {
					break drain
				}
				c.m.log.Debug("dropped output after a sentinel the action printed itself", "id", c.id, "stream", s.name, "lines", len(seg.lines))
			default:
				break drain
			}
		}
	}

	if err := c.writeLine(ctx, line); err != nil {
		if e := c.Exited(); e != nil {
			return nil, c.partialLogs(limit), e
		}
		if ctx.Err() != nil {
			return nil, c.partialLogs(limit), c.ctxErr(ctx)
		}
		return nil, nil, fmt.Errorf("write to the action loop of %s: %w", c.id, err)
	}

	var rep []byte
	select {
	case r, ok := <-c.replies:
		if !ok || r.err != nil {
			// fd 3 closed: most likely the process died; say so if it did.
			if e := c.awaitExit(ctx); e != nil {
				return nil, c.partialLogs(limit), e
			}
			if !ok {
				return nil, nil, ErrDestroyed
			}
			return nil, c.partialLogs(limit), c.replyErr(r.err)
		}
		rep = r.line
	case <-c.done:
		r, ok := c.replyAfterExit(ctx)
		if !ok {
			return nil, c.partialLogs(limit), c.exitErr
		}
		rep = r
	case <-ctx.Done():
		return nil, c.partialLogs(limit), c.ctxErr(ctx)
	}

	segs := make([]segment, 0, 2)
	for _, s := range []*stream{c.stdout, c.stderr} {
		select {
		case seg, ok := <-s.segs:
			if !ok {
				return nil, nil, ErrDestroyed
			}
			segs = append(segs, seg)
			if seg.eof {
				// The stream ended before its sentinel: the process is
				// gone (or closed its stdout), either way a broken loop.
				if e := c.awaitExit(ctx); e != nil {
					return nil, c.partialLogs(limit, segs...), e
				}
				return nil, mergeLogs(limit, segs...), &ProtocolError{Reason: s.name + " closed"}
			}
		case <-ctx.Done():
			return nil, c.partialLogs(limit, segs...), c.ctxErr(ctx)
		}
	}
	return rep, mergeLogs(limit, segs...), nil
}

// replyAfterExit takes, once the action loop has exited, what is left on
// its reply pipe: a reply written before the exit, still on its way
// through readReplies (true), or the pipe's end (false). A reply written
// just before exiting is the answer (a launcher refusing an init replies,
// then exits); a select between the two, both ready, picks either, and
// under load an init error was reported as the exit. Once the loop has
// exited, the pipe ends with it: no process in its PID namespace outlives
// it.
func (c *Container) replyAfterExit(ctx context.Context) ([]byte, bool) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case r, ok := <-c.replies:
		return r.line, ok && r.err == nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// awaitExit waits a little for the process's end after its pipes closed,
// so that the error says how it ended; nil if it is still alive.
func (c *Container) awaitExit(ctx context.Context) *ExitError {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.done:
		return c.exitErr
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

// partialLogs merges what the streams hold after an interrupted call.
func (c *Container) partialLogs(limit int64, done ...segment) []string {
	segs := append([]segment(nil), done...)
	have := map[string]bool{}
	for _, s := range done {
		have[s.stream] = true
	}
	for _, s := range []*stream{c.stdout, c.stderr} {
		if !have[s.name] {
			segs = append(segs, s.snapshot())
		}
	}
	return mergeLogs(limit, segs...)
}

func (c *Container) ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ctx.Err()
}

func (c *Container) replyErr(err error) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, io.EOF) {
		return &ProtocolError{Reason: "fd 3 closed"}
	}
	return fmt.Errorf("read the reply of %s: %w", c.id, err)
}

// writeLine writes line and a newline to stdin, giving up when ctx ends
// (an action loop that does not read its stdin cannot block the caller).
func (c *Container) writeLine(ctx context.Context, line []byte) error {
	if d, ok := ctx.Deadline(); ok {
		_ = c.stdin.SetWriteDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.stdin.SetWriteDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		_ = c.stdin.SetWriteDeadline(time.Time{})
	}()
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	_, err := c.stdin.Write(buf)
	return err
}

// Pause freezes every process of the container (the freezer cgroup) and
// returns once the kernel reports them all frozen. Pausing a paused
// container does nothing; a stopped one is a *StateError. If ctx ends
// before the freeze completes, the container is thawed and the error says
// so.
func (c *Container) Pause(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.isDestroyed() {
		return ErrDestroyed
	}
	// The state is read from the kernel; libcontainer reads it again on
	// its next call, so freezing the cgroup directly keeps it consistent.
	switch st, err := c.State(ctx); {
	case err != nil:
		return fmt.Errorf("pause %s: %w", c.id, err)
	case st == Paused:
		return nil
	case st == Stopped:
		return &StateError{Op: "pause", State: Stopped}
	}
	c.m.keepFrozen.Do(func() { c.m.keepFreezerActive(c.cg) })
	if err := c.cg.freeze(ctx); err != nil {
		return fmt.Errorf("pause %s: %w", c.id, err)
	}
	return nil
}

// Resume thaws a paused container. Resuming a running or stopped one is
// a *StateError.
func (c *Container) Resume(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.isDestroyed() {
		return ErrDestroyed
	}
	switch st, err := c.pausedState(ctx); {
	case err != nil:
		return fmt.Errorf("resume %s: %w", c.id, err)
	case st != Paused:
		return &StateError{Op: "resume", State: st}
	}
	if err := c.cg.thaw(); err != nil {
		return fmt.Errorf("resume %s: %w", c.id, err)
	}
	return nil
}

// State reads the container's state from the kernel each time: stopped
// once the action loop has been reaped (or the container destroyed),
// paused while the freezer cgroup reports it frozen, running otherwise.
// It reads one cgroup file (libcontainer's Status reads several, and /proc).
func (c *Container) State(ctx context.Context) (State, error) {
	return c.readState(ctx, c.alive)
}

// pausedState is State for Resume, on the path of an activation: it asks
// the pidfd whether the action loop has exited and the freezer whether it
// is frozen, but does not read /proc/<pid>/stat for a zombie main thread.
// After a container had been frozen for a second, that read cost 0.3–0.6
// ms here; the freezer's own state, which stays, costs about as much, so
// what a resume saves is one of the two. A loop dying as it is thawed
// fails the activation's call on the pipes anyway, where it is handled as
// a crash.
func (c *Container) pausedState(ctx context.Context) (State, error) {
	if c.pidfd < 0 {
		return c.State(ctx)
	}
	return c.readState(ctx, func() (bool, error) {
		exited, err := c.pidfdExited()
		return !exited, err
	})
}

// readState is State with alive telling whether the action loop runs.
func (c *Container) readState(ctx context.Context, alive func() (bool, error)) (State, error) {
	if err := ctx.Err(); err != nil {
		return Stopped, err
	}
	if c.isDestroyed() || c.Exited() != nil {
		return Stopped, nil
	}
	if alive, err := alive(); err != nil {
		return Stopped, fmt.Errorf("state of %s: %w", c.id, err)
	} else if !alive {
		return Stopped, nil // dead, not yet reaped
	}
	frozen, err := c.cg.frozen()
	if err != nil {
		if c.Exited() != nil {
			return Stopped, nil
		}
		return Stopped, fmt.Errorf("state of %s: %w", c.id, err)
	}
	if frozen {
		return Paused, nil
	}
	return Running, nil
}

// pidfdExited polls the action loop's pidfd, which turns readable once
// the whole process has exited. The caller holds no lock; c.pidfd >= 0.
func (c *Container) pidfdExited() (bool, error) {
	c.pidMu.Lock()
	defer c.pidMu.Unlock()
	return c.pidfdExitedLocked()
}

func (c *Container) pidfdExitedLocked() (bool, error) {
	fds := []unix.PollFd{{Fd: int32(c.pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll the action loop's pidfd: %w", err)
		}
		return n > 0, nil
	}
}

// alive asks the kernel whether the action loop still runs: its pidfd
// turns readable once the whole process has exited; before that, a
// process whose main thread is already a zombie (its other threads still
// dying after a SIGKILL) counts as exited too, as libcontainer counts it.
// Without a pidfd (kernels before 5.3), libcontainer reads /proc.
func (c *Container) alive() (bool, error) {
	c.pidMu.Lock()
	defer c.pidMu.Unlock()
	if c.pidfd < 0 {
		st, err := c.lc.Status()
		if err != nil {
			return false, err
		}
		return st != libcontainer.Stopped, nil
	}
	if exited, err := c.pidfdExitedLocked(); err != nil || exited {
		return false, err
	}
	// Not reaped (the pidfd is not readable), so the pid is still ours.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid) + "/stat")
	if err != nil {
		return false, nil // gone
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		switch b[i+2] {
		case 'Z', 'X', 'x':
			return false, nil
		}
	}
	return true, nil
}

// MemoryUsage is the memory charged to the container's cgroup, in bytes
// (its processes, page cache, /tmp and /dev/shm).
func (c *Container) MemoryUsage() (int64, error) {
	if c.isDestroyed() {
		return 0, ErrDestroyed
	}
	n, err := c.cg.memoryUsage()
	if err != nil {
		return 0, fmt.Errorf("memory usage of %s: %w", c.id, err)
	}
	return n, nil
}

func (c *Container) isDestroyed() bool {
	c.destroyMu.Lock()
	defer c.destroyMu.Unlock()
	return c.destroyed
}

// Destroy kills every process of the container (paused or not), waits for
// the action loop, and removes the container: its cgroups, its state and
// its network. It is idempotent; a call that failed (ctx ended before the
// processes died) may be repeated.
func (c *Container) Destroy(ctx context.Context) error {
	c.destroyMu.Lock()
	defer c.destroyMu.Unlock()
	if c.destroyed {
		return nil
	}
	// With a private pid namespace, SIGKILL to init kills every process in
	// it; libcontainer thaws a frozen cgroup so the signal is delivered.
	if err := c.lc.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		c.m.log.Debug("kill", "id", c.id, "err", err)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("destroy %s: wait for the action loop: %w", c.id, ctx.Err())
	}
	if err := c.lc.Destroy(); err != nil {
		return fmt.Errorf("destroy %s: %w", c.id, err)
	}
	c.destroyed = true
	close(c.quit)
	c.pidMu.Lock()
	if c.pidfd >= 0 {
		_ = unix.Close(c.pidfd)
		c.pidfd = -1
	}
	c.pidMu.Unlock()
	for _, f := range c.files {
		_ = f.Close()
	}
	c.cg.close()
	if c.net != nil {
		c.net.release()
	}
	c.m.forget(c)
	c.m.log.Debug("container destroyed", "id", c.id)
	return nil
}

// waitStopped polls a loaded container until its init is gone.
func waitStopped(ctx context.Context, lc *libcontainer.Container) error {
	for {
		st, err := lc.Status()
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if st == libcontainer.Stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the container to stop: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && jsonvalid.Valid(b)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}
