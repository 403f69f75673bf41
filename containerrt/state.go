package containerrt

import "fmt"

// Status is where a pooled container is in its life. The pool changes it
// only through member.setStatus, which refuses a transition not listed in
// transitions; the kernel's view (running, paused, stopped) is re-read
// with container.State before the pool pauses, resumes or reuses one.
type Status uint8

// The statuses of a pooled container, in the order of a typical life:
// started as a stem cell (or directly for one action), specialised by
// init, then alternating between ready, running and paused until removed.
const (
	// StatusStarting: the container is being created and started.
	StatusStarting Status = iota
	// StatusStem: started, its action loop waiting for an init line; it
	// belongs to no action yet and counts as a stem cell of its kind.
	StatusStem
	// StatusInitialising: the action's code is being placed and loaded.
	StatusInitialising
	// StatusReady: initialised for one action (its Owner), idle, unpaused.
	StatusReady
	// StatusRunning: serving one activation (concurrency 1), or being
	// resumed to serve one.
	StatusRunning
	// StatusPaused: idle and frozen (the freezer cgroup), after PauseGrace.
	StatusPaused
	// StatusRemoved: killed and destroyed, or being destroyed. Final.
	StatusRemoved
)

var statusNames = [...]string{"starting", "stem", "initialising", "ready", "running", "paused", "removed"}

// String names s as the logs and Stats do.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// transitions lists, for each status, the statuses it may move to. Every
// status may end in removed.
var transitions = [...][]Status{
	StatusStarting:     {StatusStem, StatusInitialising, StatusRemoved},
	StatusStem:         {StatusInitialising, StatusRemoved},
	StatusInitialising: {StatusRunning, StatusReady, StatusRemoved},
	StatusReady:        {StatusRunning, StatusPaused, StatusRemoved},
	StatusRunning:      {StatusReady, StatusRemoved},
	StatusPaused:       {StatusRunning, StatusRemoved},
	StatusRemoved:      nil,
}

// TransitionError is a transition the state machine does not allow, such
// as resuming a container that was removed. The pool treats one as a bug
// of its own and removes the container.
type TransitionError struct {
	ID       string
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("container %s: invalid state transition from %s to %s", e.ID, e.From, e.To)
}

// canMove reports whether from may move to to.
func canMove(from, to Status) bool {
	if int(from) >= len(transitions) {
		return false
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
