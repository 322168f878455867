// Package fault holds tocsin's application error codes. Domain and store code return
// *fault.Error values; the API maps each code to one HTTP status and ilert's error envelope.
package fault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Code classifies an error by what the caller should do about it.
type Code string

const (
	Invalid      Code = "INVALID_INPUT"     // the request is malformed or breaks a rule (400)
	Unauthorized Code = "UNAUTHORIZED"      // no or unknown credentials (401)
	Forbidden    Code = "FORBIDDEN"         // the caller's role does not allow this (403)
	NotFound     Code = "NOT_FOUND"         // the entity does not exist (404)
	Conflict     Code = "CONFLICT"          // a unique value is taken, or the change clashes with existing state (400)
	TooLarge     Code = "PAYLOAD_TOO_LARGE" // the body is over the limit (413)
	RateLimited  Code = "RATE_LIMITED"      // the key sent too much, try later (429)
	Unavailable  Code = "UNAVAILABLE"       // shutting down or overloaded, retry (503)
	Internal     Code = "INTERNAL_ERROR"    // a bug or an outage; details are logged, not shown (500)
)

// Error is an error with an application code and a message safe to show to the caller.
type Error struct {
	Code    Code
	Message string
	Err     error // the underlying cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errorf is shorthand for an Invalid error.
func Errorf(format string, args ...any) *Error { return New(Invalid, format, args...) }

// NotFoundf is shorthand for a NotFound error.
func NotFoundf(format string, args ...any) *Error { return New(NotFound, format, args...) }

// CodeOf returns the application code of err, Internal when err carries none, and the empty
// code for a nil error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the caller-safe message of err; internal errors get a generic one.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal {
		return e.Message
	}
	return "internal error"
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// FromJSON turns a JSON decoding error into an Invalid error that says where the body is wrong.
func FromJSON(what string, err error) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return Errorf("%s: malformed JSON at byte %d", what, se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(the body)"
		}
		return Errorf("%s: %s must be %s, not %s", what, field, te.Type.String(), te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf("%s: the body is empty or cut short", what)
	}
	return Errorf("%s: %v", what, err)
}
