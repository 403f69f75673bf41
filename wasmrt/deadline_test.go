package wasmrt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadlineCtx checks that the activation's lazy context ends as
// context.WithTimeoutCause would: at the deadline and when its parent
// ends, seen by Err whether or not Done was asked for, with the cause
// causeOf reads; and that release ends what waits on it.
func TestDeadlineCtx(t *testing.T) {
	type key struct{}
	errGone := errors.New("the caller went away")
	cases := []struct {
		name      string
		timeout   time.Duration
		askDone   bool                                 // call Done before the end
		end       func(cancel context.CancelCauseFunc) // ends the parent, or nil
		wait      time.Duration                        // before checking
		wantErr   error
		wantCause error
	}{
		{name: "deadline, Done asked", timeout: 20 * time.Millisecond, askDone: true, wait: 60 * time.Millisecond,
			wantErr: context.DeadlineExceeded, wantCause: errTimeLimit},
		{name: "deadline, Done never asked", timeout: 20 * time.Millisecond, wait: 60 * time.Millisecond,
			wantErr: context.DeadlineExceeded, wantCause: errTimeLimit},
		{name: "parent ends, Done asked", timeout: time.Hour, askDone: true,
			end: func(cancel context.CancelCauseFunc) { cancel(errGone) }, wantErr: context.Canceled, wantCause: errGone},
		{name: "parent ends, Done never asked", timeout: time.Hour,
			end: func(cancel context.CancelCauseFunc) { cancel(errGone) }, wantErr: context.Canceled, wantCause: errGone},
		{name: "still running", timeout: time.Hour, askDone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), key{}, "v"))
			defer cancel(nil)
			c := withDeadline(parent, tc.timeout)
			defer c.release()
			var done <-chan struct{}
			if tc.askDone {
				done = c.Done()
			}
			if tc.end != nil {
				tc.end(cancel)
			}
			if done != nil && tc.wantErr != nil {
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("Done was not closed")
				}
			}
			time.Sleep(tc.wait)
			if err := c.Err(); err != tc.wantErr {
				t.Errorf("Err() = %v, want %v", err, tc.wantErr)
			}
			if cause := causeOf(c); cause != tc.wantCause {
				t.Errorf("causeOf = %v, want %v", cause, tc.wantCause)
			}
			// Under a value (as wazero's memory allocator wraps it), too.
			if cause := causeOf(context.WithValue(c, key{}, "w")); cause != tc.wantCause {
				t.Errorf("causeOf under a value = %v, want %v", cause, tc.wantCause)
			}
			// Done asked after the end is closed already.
			select {
			case <-c.Done():
				if tc.wantErr == nil {
					t.Error("Done closed while the context runs")
				}
			default:
				if tc.wantErr != nil {
					t.Error("Done not closed after the context ended")
				}
			}
			if v := c.Value(key{}); v != "v" {
				t.Errorf("Value = %v, want the parent's", v)
			}
		})
	}
}

// TestDeadlineCtxDoneAfterTheEnd checks that a Done asked for the first
// time after the context ended, with nothing having asked before (a guest
// that sleeps past its deadline), returns a closed channel.
func TestDeadlineCtxDoneAfterTheEnd(t *testing.T) {
	expired := withDeadline(context.Background(), time.Millisecond)
	defer expired.release()
	time.Sleep(10 * time.Millisecond)
	parent, cancel := context.WithCancel(context.Background())
	orphan := withDeadline(parent, time.Hour)
	defer orphan.release()
	cancel()
	for name, c := range map[string]*deadlineCtx{"past its deadline": expired, "its parent ended": orphan} {
		select {
		case <-c.Done():
		default:
			t.Errorf("%s: Done is not closed", name)
		}
		if c.Err() == nil {
			t.Errorf("%s: Err is nil", name)
		}
	}
	if causeOf(expired) != errTimeLimit || causeOf(orphan) != context.Canceled {
		t.Errorf("causes: %v, %v", causeOf(expired), causeOf(orphan))
	}
}

// TestDeadlineCtxRelease checks that release ends a context derived from
// it, as a cancel func does, and leaves a context nobody waited on ended.
func TestDeadlineCtxRelease(t *testing.T) {
	c := withDeadline(context.Background(), time.Hour)
	child, cancel := context.WithCancel(c)
	defer cancel()
	c.release()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a context derived from it did not end at release")
	}
	if !errors.Is(child.Err(), context.Canceled) || c.Err() != context.Canceled {
		t.Errorf("after release: child %v, context %v", child.Err(), c.Err())
	}

	lazy := withDeadline(context.Background(), time.Hour)
	lazy.release()
	if lazy.Err() != context.Canceled {
		t.Errorf("Err after release = %v, want context.Canceled", lazy.Err())
	}
	if d, ok := lazy.Deadline(); !ok || time.Until(d) < 59*time.Minute {
		t.Errorf("Deadline() = %v, %v", d, ok)
	}
}
