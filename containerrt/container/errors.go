package container

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
)

// ErrTimeout is returned by Run and Init when the context's deadline (the
// action's time limit) passes before the action loop replies. The container
// is left as it is; the caller must Destroy it.
var ErrTimeout = errors.New("the action exceeded its time limit")

// ErrClosed is returned by Manager.Start after Manager.Close.
var ErrClosed = errors.New("container manager closed")

// ErrDestroyed is returned by the methods of a Container after Destroy.
var ErrDestroyed = errors.New("container destroyed")

// ErrExists is returned by Manager.Start when the Spec's ID is already in use.
var ErrExists = errors.New("container id already in use")

// ExitError reports that the action loop exited (or was killed) while a
// call was in flight, or before it. The container is unusable; Destroy it.
type ExitError struct {
	// OOMKilled tells that the memory cgroup's OOM killer killed a process
	// of the container (read from the cgroup's oom_kill counter).
	OOMKilled bool
	// ExitCode is the exit status, or -1 when a signal ended the process.
	ExitCode int
	// Signal is the signal that ended the process, or 0.
	Signal syscall.Signal
	// MemoryMB is the container's memory limit, for messages.
	MemoryMB int
}

func (e *ExitError) Error() string {
	switch {
	case e.OOMKilled:
		return "the action ran out of memory (limit " + strconv.Itoa(e.MemoryMB) + " MB)"
	case e.Signal != 0:
		return "the action was killed by signal " + strconv.Itoa(int(e.Signal)) + " (" + e.Signal.String() + ")"
	default:
		return "the action exited with status " + strconv.Itoa(e.ExitCode)
	}
}

// ProtocolError reports that the action loop broke the container protocol:
// a reply that is not one JSON object, longer than the 1 MiB result cap, an
// init reply that is neither {"ok": true} nor {"error": ...}, a reply nobody
// asked for, or fd 3 closed. The container must be destroyed.
type ProtocolError struct {
	Reason string
}

func (e *ProtocolError) Error() string { return "the action broke the container protocol: " + e.Reason }

// InitError is the action loop's {"error": "..."} reply to init: the user's
// code could not be loaded (a developer error). The container should be
// destroyed; it will not serve runs of that code.
type InitError struct {
	Message string
}

func (e *InitError) Error() string { return "the action failed to initialise: " + e.Message }

// StateError reports a call that the container's current state does not
// allow (for example Resume of a running container).
type StateError struct {
	Op    string
	State State
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s a %s container", e.Op, e.State)
}
