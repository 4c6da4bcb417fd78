package puppet

import "errors"

// ErrBadTemplate is returned by NewNamer and NewAliasNamer for a template that
// cannot give valid, reversible identifiers; the wrapped message says why.
var ErrBadTemplate = errors.New("bad id template")

// ErrEmptyRemoteID is returned when asked to name an empty remote ID: an
// empty escape would collide with the bare template.
var ErrEmptyRemoteID = errors.New("empty remote id")

// ErrInvalidUTF8 is returned for remote IDs that are not valid UTF-8: they
// could not be stored in a PostgreSQL TEXT column, nor round-trip through
// JSON, so the mapping refuses them instead of mangling them.
var ErrInvalidUTF8 = errors.New("remote id is not valid UTF-8")

// ErrIDTooLong is returned when the Matrix ID or alias for a remote ID would
// be longer than the 255 bytes the Matrix spec allows.
var ErrIDTooLong = errors.New("matrix id would exceed 255 bytes")

// ErrUnknownNetwork is returned by Ghosts.Get for a network without a namer.
var ErrUnknownNetwork = errors.New("unknown network")

// ErrInvalidToken is returned by DoublePuppets.Login when the homeserver does
// not accept the access token.
var ErrInvalidToken = errors.New("the homeserver does not accept this access token")

// ErrTokenMismatch is returned when an access token (or a login) belongs to
// another Matrix user than the one it was given for.
var ErrTokenMismatch = errors.New("the access token belongs to another Matrix user")

// ErrNoSecret is returned by DoublePuppets.AutoLogin when no double-puppet
// secret is configured for the user's homeserver.
var ErrNoSecret = errors.New("no double puppet secret for this homeserver")

// ErrTokenGone is returned by DoublePuppets.Validate when a stored token
// stopped working; it has been deleted and the user should be told.
var ErrTokenGone = errors.New("double puppet token stopped working")

// ErrNotLoggedIn is returned by DoublePuppets.Validate for a user without a
// double puppet.
var ErrNotLoggedIn = errors.New("no double puppet for this user")
