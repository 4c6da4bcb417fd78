package bridge

import (
	"errors"

	"github.com/isthmus-bridge/isthmus/appservice"
)

var (
	// ErrNotSupported is returned (and shown to the user) when an adapter
	// lacks the capability a Matrix action needs.
	ErrNotSupported = errors.New("not supported by this network")
	// ErrNotLoggedIn means the Matrix user has no session on the portal's
	// network and relaying is not allowed for them.
	ErrNotLoggedIn = errors.New("not logged in")
	// ErrPortalNotFound means no portal exists for a room or remote chat.
	ErrPortalNotFound = errors.New("portal not found")
	// ErrUnknownNetwork is returned for a network name that is not configured.
	ErrUnknownNetwork = errors.New("unknown network")
	// ErrRefused is returned by an adapter when the remote side does not
	// allow what a Matrix user did to room state (a topic or power level
	// change without the matching remote rights): the core reverts the
	// change in Matrix and tells the user why.
	ErrRefused = errors.New("not allowed on the remote side")
	// ErrPermanent marks an error that retrying cannot fix; wrap it so the
	// queues report the event at once instead of backing off.
	ErrPermanent = appservice.ErrPermanent
)
