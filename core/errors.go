package core

import (
	"errors"
	"fmt"
)

// ErrorCode classifies an Error. The gateway maps each code to one HTTP
// status in a single table; the codes themselves are stable.
type ErrorCode string

// The error codes a caller may see.
const (
	CodeInvalid       ErrorCode = "invalid"        // malformed request or entity (400)
	CodeUnauthorized  ErrorCode = "unauthorized"   // missing or wrong credentials (401)
	CodeForbidden     ErrorCode = "forbidden"      // authenticated, but not allowed (403)
	CodeNotFound      ErrorCode = "not_found"      // the entity does not exist (404)
	CodeConflict      ErrorCode = "conflict"       // the entity exists and overwrite was not asked (409)
	CodeTooLarge      ErrorCode = "too_large"      // a body or value over its size limit (413)
	CodeUnavailable   ErrorCode = "unavailable"    // the platform cannot take work now (503)
	CodeInternal      ErrorCode = "internal"       // a bug or a failed dependency (500)
	CodeUnsupported   ErrorCode = "unsupported"    // unsupported content type (415)
	CodeMethodInvalid ErrorCode = "method_invalid" // wrong HTTP method for the path (405)
)

// Error is a failure with a code and a message a user can act on. Internal
// causes stay in Err: they are logged, never shown.
type Error struct {
	Code    ErrorCode
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Messages OpenWhisk clients know; reused so that their wording matches.
const (
	MsgNotFound      = "The requested resource does not exist."
	MsgConflict      = "resource already exists"
	MsgUnauthorized  = "The supplied authentication is invalid."
	MsgNoAuth        = "The resource requires authentication, which was not supplied with the request."
	MsgTooLarge      = "The request content was too large."
	MsgNotAuthorized = "The supplied authentication is not authorized to access '%s'."
)

// NotFound is the error for a missing entity.
func NotFound() *Error { return &Error{Code: CodeNotFound, Message: MsgNotFound} }
