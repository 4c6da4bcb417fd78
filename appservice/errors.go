package appservice

import "errors"

// ErrPermanent marks a HandleEvent error that retrying cannot fix (the event
// is malformed, the room is not bridged, the remote refused for good). An
// error wrapping it skips the remaining attempts and goes straight to
// EventFailed.
var ErrPermanent = errors.New("permanent failure")

// ErrNotRunning is returned for work offered to a server that was not started
// or is stopping.
var ErrNotRunning = errors.New("appservice server is not running")
