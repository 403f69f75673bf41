package wisp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Activation describes the activation a handler serves. Fields Wisp did not
// give are empty (Deadline is then the zero time).
type Activation struct {
	// ID is the activation id (__OW_ACTIVATION_ID), the id of its record.
	ID string
	// Namespace is the namespace of the invoker of the action (__OW_NAMESPACE).
	Namespace string
	// ActionName is the fully qualified name of the action,
	// "/namespace/package/name" or "/namespace/name" (__OW_ACTION_NAME).
	ActionName string
	// ActionVersion is the action's version, e.g. "0.0.1" (__OW_ACTION_VERSION).
	ActionVersion string
	// Deadline is when the activation's time limit ends (__OW_DEADLINE);
	// the handler's ctx has it as its deadline too.
	Deadline time.Time
	// APIHost is the URL of the Wisp API, for actions that call it (__OW_API_HOST).
	APIHost string
}

type activationKey struct{}

// FromContext returns the activation a handler's ctx (or a context derived
// from it) belongs to. It reports false for any other context.
func FromContext(ctx context.Context) (Activation, bool) {
	if c, ok := ctx.(*activationContext); ok {
		return c.a, true // the handler's own context: no boxing through Value
	}
	a, ok := ctx.Value(activationKey{}).(Activation)
	return a, ok
}

// context returns a handler's context: it carries a, ends at a's
// deadline, if any, and by its cancel method.
func (a Activation) context() *activationContext {
	return &activationContext{a: a}
}

// cancel ends the context, as its CancelFunc would (a method, not a
// closure to return: one allocation less per activation).
func (c *activationContext) cancel() { c.end(context.Canceled) }

// activationContext is a handler's context, as context.WithDeadline on a
// context.WithValue would make it, except that the channel Done returns,
// and the timer that closes it at the deadline, are made only when Done is
// first called (a context derived from it calls Done). Most handlers never
// wait on their context; in a Wasm guest the timer of every activation
// cost a quarter of a warm call (29 µs against 22 µs, measured in process).
type activationContext struct {
	a Activation

	mu    sync.Mutex
	done  chan struct{} // made by Done
	timer *time.Timer   // closes done at the deadline
	err   error         // why the context ended; nil while it lives
}

// Deadline is the activation's.
func (c *activationContext) Deadline() (time.Time, bool) {
	return c.a.Deadline, !c.a.Deadline.IsZero()
}

// Done makes the channel when first called, closed at once if the context
// has ended, else at the deadline or on cancel.
func (c *activationContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.expireLocked() // before the channel is made, which it would close
	c.done = make(chan struct{})
	switch {
	case c.err != nil:
		close(c.done)
	case !c.a.Deadline.IsZero():
		c.timer = time.AfterFunc(time.Until(c.a.Deadline), func() { c.end(context.DeadlineExceeded) })
	}
	return c.done
}

// Err is nil until the deadline passes or the context is canceled.
func (c *activationContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	return c.err
}

// Value holds the Activation (FromContext); nothing else.
func (c *activationContext) Value(key any) any {
	if key == (activationKey{}) {
		return c.a
	}
	return nil
}

func (c *activationContext) String() string { return "wisp.activationContext(" + c.a.ID + ")" }

// end ends the context with err, unless it has ended already.
func (c *activationContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(err)
}

func (c *activationContext) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
}

// expireLocked ends the context if its deadline has passed, which no
// timer says while Done has not been called.
func (c *activationContext) expireLocked() {
	if c.err == nil && !c.a.Deadline.IsZero() && !time.Now().Before(c.a.Deadline) {
		c.endLocked(context.DeadlineExceeded)
	}
}

// The activation's fields, by environment variable and by key of the
// reactor form's context object; Activation.fieldAt has them in this order.
var activationFields = [...]struct{ env, key string }{
	{"__OW_ACTIVATION_ID", "activationId"},
	{"__OW_NAMESPACE", "namespace"},
	{"__OW_ACTION_NAME", "actionName"},
	{"__OW_ACTION_VERSION", "actionVersion"},
	{"__OW_API_HOST", "apiHost"},
}

// fieldAt returns a's field number i of activationFields. A switch, not a
// function value per field: a call through a function value makes a escape
// to the heap, and each allocation costs microseconds in a Wasm guest.
func (a *Activation) fieldAt(i int) *string {
	switch i {
	case 0:
		return &a.ID
	case 1:
		return &a.Namespace
	case 2:
		return &a.ActionName
	case 3:
		return &a.ActionVersion
	default:
		return &a.APIHost
	}
}

// fieldIndex is the index in activationFields of the context object's
// key, -1 for any other key (the deadline among them).
func fieldIndex(key []byte) int {
	for i := range activationFields {
		if activationFields[i].key == string(key) {
			return i
		}
	}
	return -1
}

const (
	deadlineEnv = "__OW_DEADLINE"
	deadlineKey = "deadline"
)

// activationFromEnv reads the activation from the __OW_* environment
// variables (the command form).
func activationFromEnv(getenv func(string) string) Activation {
	var a Activation
	for i, f := range activationFields {
		*a.fieldAt(i) = getenv(f.env)
	}
	a.Deadline = parseDeadline(getenv(deadlineEnv))
	return a
}

// contextObject reads the activation from the reactor form's context
// object. Wisp sends strings; a number is accepted too (for the deadline
// above all). What cannot be read is left empty: the object is the host's,
// not the action's, to get right.
//
// prev is the instance's previous activation: a value equal to prev's is
// taken from it rather than allocated again. An instance serves one action,
// so only the id and the deadline change from one activation to the next,
// and in a Wasm guest each allocation saved is a few microseconds under
// load, where the guest's code and heap are out of the caches. prevPlain
// says whether prev's values are all printable ASCII without backslashes
// (as the reactor form keeps it); contextObject reports the same of the
// activation it returns.
func contextObject(b []byte, prev *Activation, prevPlain bool) (Activation, bool) {
	if a, ok := hostContext(b, prev, prevPlain); ok {
		return a, true
	}
	var a Activation
	if scanFlatObject(b, func(key, value []byte) { a.setFrom(key, value, prev) }) {
		return a, false
	}
	return decodeActivation(b), false // escapes, nesting, or not JSON
}

// hostContext reads the context object in the form wasmrt writes it: no
// white space, every value a string of printable ASCII without
// backslashes. It reports false for anything else, which scanFlatObject
// then reads; where it reports true, the activation is the one
// scanFlatObject would read.
//
// It takes fewer steps per byte: closing quotes are found by
// bytes.IndexByte, and only what is new is checked byte by byte. A key
// Wisp knows is plain by being equal to it; a value equal to prev's is
// plain when prevPlain says prev's are. From one activation to the next
// only the id and the deadline change. In a Go Wasm guest, where each
// step costs several times what it costs natively, the byte-by-byte scan
// of the whole object was ~6 µs per activation, half of the SDK's share
// of a warm call (docs/rationale.md).
func hostContext(b []byte, prev *Activation, prevPlain bool) (Activation, bool) {
	var a Activation
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return a, false
	}
	rest := b[1 : len(b)-1]
	for len(rest) > 0 {
		key, r, ok := quoted(rest)
		if !ok || len(r) == 0 || r[0] != ':' {
			return a, false
		}
		value, r, ok := quoted(r[1:])
		if !ok {
			return a, false
		}
		if len(r) > 0 {
			// A comma, then another member: a comma before the closing
			// brace is not JSON.
			if r[0] != ',' || len(r) == 1 {
				return a, false
			}
			r = r[1:]
		}
		rest = r
		if !a.setPlain(key, value, prev, prevPlain) {
			return a, false
		}
	}
	return a, true
}

// quoted returns the bytes between the quote b starts with and the next
// one, and what follows; whether they make a JSON string is the caller's
// to check (plainASCII).
func quoted(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	n := bytes.IndexByte(b[1:], '"')
	if n < 0 {
		return nil, nil, false
	}
	return b[1 : 1+n], b[2+n:], true
}

// plainASCII reports whether s is printable ASCII without a backslash:
// quoted, it is a JSON string whose value is s itself.
func plainASCII(s []byte) bool { return plainWithout(s, '\\') }

// plainUnquoted is plainASCII without a quote either: s is what a JSON
// string of plain bytes holds between its quotes.
func plainUnquoted(s []byte) bool { return plainWithout(s, '"') }

// plainWithout reports whether s is printable ASCII with neither a
// backslash nor the byte also. It tests eight bytes at a time (a Go Wasm
// guest steps through a byte loop ten times slower): x has a byte below b
// when (x - b…b) & ^x has a high bit set, a byte equal to b when x ^ b…b
// has a zero byte.
func plainWithout(s []byte, also byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		backslash := x ^ (ones * '\\')
		other := x ^ (ones * uint64(also))
		del := x ^ (ones * 0x7f)
		if (x|(x-ones*' ')&^x|(backslash-ones)&^backslash|(other-ones)&^other|(del-ones)&^del)&highs != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < ' ' || c == '\\' || c == also || c > '~' {
			return false
		}
	}
	return true
}

// equal is bytes.Equal eight bytes at a time: Go's Wasm port compares
// byte by byte (its memequal is a byte loop).
func equal(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for len(a) >= 8 && len(b) >= 8 {
		if binary.LittleEndian.Uint64(a) != binary.LittleEndian.Uint64(b) {
			return false
		}
		a, b = a[8:], b[8:]
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// setPlain is setFrom for hostContext: it reports false, having set
// nothing, when key or value is not plain (see hostContext).
func (a *Activation) setPlain(key, value []byte, prev *Activation, prevPlain bool) bool {
	if i := fieldIndex(key); i >= 0 {
		p, old := a.fieldAt(i), *prev.fieldAt(i)
		switch {
		case old == string(value) && prevPlain:
			*p = old
		case !plainASCII(value):
			return false
		case old == string(value):
			*p = old
		default:
			*p = string(value)
		}
		return true
	}
	if string(key) == deadlineKey {
		if ms, ok := parseMillis(value); ok {
			a.Deadline = time.UnixMilli(ms)
			return true
		}
		if !plainASCII(value) {
			return false
		}
		a.Deadline = parseDeadline(string(value))
		return true
	}
	// A member Wisp does not send: skipped, once known to be JSON.
	return plainASCII(key) && plainASCII(value)
}

// decodeActivation is contextObject with encoding/json.
func decodeActivation(b []byte) Activation {
	var a Activation
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if !json.Valid(b) || d.Decode(&m) != nil {
		return a
	}
	for k, v := range m {
		switch v := v.(type) {
		case string:
			a.set(k, v)
		case json.Number:
			a.set(k, v.String())
		default:
			a.set(k, "")
		}
	}
	return a
}

// set sets the field of the context object's key.
func (a *Activation) set(key, value string) {
	if i := fieldIndex([]byte(key)); i >= 0 {
		*a.fieldAt(i) = value
		return
	}
	if key == deadlineKey {
		a.Deadline = parseDeadline(value)
	}
}

// setFrom is set for a member scanned from the context object, reusing
// prev's string where the value is the same (string(b) == s compares
// without allocating).
func (a *Activation) setFrom(key, value []byte, prev *Activation) {
	if i := fieldIndex(key); i >= 0 {
		if old := *prev.fieldAt(i); old == string(value) {
			*a.fieldAt(i) = old
		} else {
			*a.fieldAt(i) = string(value)
		}
		return
	}
	if string(key) == deadlineKey {
		if ms, ok := parseMillis(value); ok {
			a.Deadline = time.UnixMilli(ms)
		} else {
			a.Deadline = parseDeadline(string(value))
		}
	}
}

// parseMillis reads a positive decimal integer of at most 18 digits (a
// deadline in Unix milliseconds) without allocating; false for anything
// else, which parseDeadline then decides.
func parseMillis(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 || b[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// scanFlatObject calls f for each member of b, a JSON object whose keys and
// values are strings without escapes, numbers, booleans or null (f gets an
// empty value for the last two; a number as its text). The slices f gets
// are b's own bytes. It reports false, perhaps after some calls, if b is
// anything else. The context object Wisp sends is such
// an object; scanning it directly costs a few microseconds in a Wasm
// guest, where one json.Unmarshal costs tens.
func scanFlatObject(b []byte, f func(key, value []byte)) bool {
	s := jsonScanner{b: b}
	if !s.objectStart() {
		return false
	}
	for more := !s.objectEnd(); more; more = s.nextMember() {
		key, ok := s.key()
		if !ok {
			return false
		}
		var value []byte
		switch c := s.peek(); {
		case c == '"':
			if value, ok = s.plainString(); !ok {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
			start := s.i
			if !s.skipNumber() {
				return false
			}
			value = b[start:s.i]
		case !s.literal("true") && !s.literal("false") && !s.literal("null"):
			return false
		}
		f(key, value)
	}
	return s.ok()
}

// parseDeadline reads a deadline in Unix milliseconds; the zero time if s
// is not one.
func parseDeadline(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
