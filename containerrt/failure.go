package containerrt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wispfaas/wisp/containerrt/container"
)

// Sentinel errors of the package.
var (
	// errClosed is returned (as a platform error) once Close has begun.
	errClosed = errors.New("containerrt: the container runtime is closed")

	// ErrInvalidImage marks an ImageSource error that is the image's own
	// fault (a corrupt tarball, a layer escaping its root): the
	// activation is recorded as a developer error rather than a platform
	// one.
	ErrInvalidImage = errors.New("invalid image")
)

// failure is the outcome of an activation that did not produce a result:
// a message for the record (OpenWhisk's wording where it has one),
// whether it is the action's fault, and whether the container can serve
// another activation.
type failure struct {
	msg       string
	developer bool
	reusable  bool
	err       error
}

func (f *failure) Error() string { return f.msg }
func (f *failure) Unwrap() error { return f.err }

// classify turns an error of container.Init or container.Run into a
// failure. timeoutMs is the action's time limit, memMB its memory limit;
// callCtx is the context the call ran under (with the time limit), parent
// the activation's (cancelled when the invoker shuts down).
func classify(err error, parent, callCtx context.Context, timeoutMs, memMB int, init bool) *failure {
	var (
		exit  *container.ExitError
		proto *container.ProtocolError
		ie    *container.InitError
	)
	during := ""
	if init {
		during = " during initialization"
	}
	switch {
	case parent.Err() != nil:
		return &failure{msg: "The activation was interrupted: " + parent.Err().Error(), err: err}
	case errors.As(err, &exit) && exit.OOMKilled:
		return &failure{msg: fmt.Sprintf("The action ran out of memory (limit %d MB)%s.", memMB, during), developer: true, err: err}
	case errors.Is(err, container.ErrTimeout) || errors.Is(callCtx.Err(), context.DeadlineExceeded):
		return &failure{msg: fmt.Sprintf("The action exceeded its time limits of %d milliseconds%s.", timeoutMs, during), developer: true, err: err}
	case errors.As(err, &exit) && exit.Signal != 0:
		return &failure{msg: fmt.Sprintf("The action was killed by signal %d (%s)%s.", int(exit.Signal), exit.Signal, during), developer: true, err: err}
	case errors.As(err, &exit):
		return &failure{msg: fmt.Sprintf("The action exited (status %d)%s.", exit.ExitCode, during), developer: true, err: err}
	case errors.As(err, &ie):
		return &failure{msg: "The action failed to initialize: " + ie.Message, developer: true, err: err}
	case errors.As(err, &proto) && strings.HasPrefix(proto.Reason, "the result is not a JSON object"):
		// Package container discards the container for it too (the
		// protocol says a reply must be one JSON object).
		return &failure{msg: "The action did not return a dictionary.", developer: true, err: err}
	case errors.As(err, &proto):
		return &failure{msg: "The action broke the container protocol: " + proto.Reason + ".", developer: true, err: err}
	default:
		return &failure{msg: "The container failed: " + err.Error(), err: err}
	}
}

// notAnObject is the developer error of a result that is valid JSON but
// not an object (OpenWhisk: "The action did not return a dictionary.").
// The container stays usable.
func notAnObject() *failure {
	return &failure{msg: "The action did not return a dictionary.", developer: true, reusable: true}
}
