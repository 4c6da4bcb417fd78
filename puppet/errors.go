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
