package gitterapi

import (
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrUnauthorized means the server refused the token (HTTP 401, or a
	// Faye handshake error with code 401): the login needs a new token.
	ErrUnauthorized = errors.New("gitter: token refused")
	// ErrForbidden means the user may not see or do this (HTTP 403).
	ErrForbidden = errors.New("gitter: forbidden")
	// ErrNotFound means the room, user or message does not exist (HTTP 404).
	ErrNotFound = errors.New("gitter: not found")
	// ErrRateLimited means the server kept answering 429 after the client
	// waited as the rate-limit headers asked.
	ErrRateLimited = errors.New("gitter: rate limited")
	// ErrRehandshake means the Faye server forgot our client ID (advice
	// reconnect "handshake"): dial again and subscribe again.
	ErrRehandshake = errors.New("gitter: faye asks for a new handshake")
)

// APIError is a non-2xx answer from the REST or streaming API. It never
// holds the token (the token only travels in a header), so it is safe to
// log. errors.Is matches it against the sentinel for its status.
type APIError struct {
	Method string
	Path   string // the URL path without the query string
	Status int
	// Message is the server's error text when it sent one, cut short.
	Message string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is lets errors.Is(err, ErrNotFound) and friends work on an *APIError.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	}
	return false
}

// Temporary reports whether retrying later may succeed: rate limiting and
// server-side failures, as opposed to a refused token or a missing room.
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}
