package image

import (
	"context"
	"errors"
	"syscall"
)

// ErrInvalid is wrapped by every error of Inspect and Import that is the
// image's own fault (malformed, unsafe, corrupt, over a limit), as opposed
// to the host's (a full disk, a canceled context): callers tell the user
// about the first and retry or alert on the second. The error's text is
// the reason alone, without a prefix.
var ErrInvalid = errors.New("invalid image")

// hostErrors are failures of the machine, not of the image.
var hostErrors = []error{
	context.Canceled, context.DeadlineExceeded,
	syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, syscall.ENOMEM,
	syscall.EMFILE, syscall.ENFILE, syscall.EACCES, syscall.EPERM,
}

// hostError marks a failure of Import's own directories (dst exists, the
// disk is read-only): never the image's fault.
type hostError struct{ err error }

func (e *hostError) Error() string { return e.err.Error() }
func (e *hostError) Unwrap() error { return e.err }

type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// classify marks err as the image's fault unless it is the host's.
func classify(err error) error {
	var he *hostError
	if err == nil || errors.As(err, &he) {
		return err
	}
	for _, h := range hostErrors {
		if errors.Is(err, h) {
			return err
		}
	}
	return &invalidError{err}
}
