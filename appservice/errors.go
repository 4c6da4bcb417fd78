package appservice

import "errors"

// ErrPermanent marks a HandleEvent error that retrying cannot fix (the event
// is malformed, the room is not bridged, the remote refused for good). An
// error wrapping it skips the remaining attempts and goes straight to
// EventFailed.
var ErrPermanent = errors.New("permanent failure")

// errClosed is what reserve returns once the dispatcher is closed.
var errClosed = errors.New("appservice server is stopping")
