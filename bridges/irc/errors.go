package irc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/isthmus-bridge/isthmus/bridge"
)

var (
	// ErrBanned means the server refused us: K-line, G-line, Z-line or
	// ERR_YOUREBANNEDCREEP. Reconnecting soon would only make it worse.
	ErrBanned = errors.New("banned from the IRC server")
	// ErrKilled means an IRC operator or services disconnected us.
	ErrKilled = errors.New("killed by an IRC operator")
	// ErrBadPassword means the server password (PASS) was refused.
	ErrBadPassword = errors.New("server password refused")
	// ErrNickUnavailable means every nick we tried during registration
	// was taken or refused.
	ErrNickUnavailable = errors.New("no usable nick")
	// ErrRegisterTimeout means the server accepted the connection but did
	// not finish registration in time.
	ErrRegisterTimeout = errors.New("registration timed out")
	// ErrPingTimeout means the server stopped answering.
	ErrPingTimeout = errors.New("ping timeout")
	// ErrServerClosed means the server closed the connection (ERROR, or
	// the socket closing) for a reason not listed above.
	ErrServerClosed = errors.New("connection closed by the server")
	// ErrClosed means we closed the connection ourselves.
	ErrClosed = errors.New("connection closed")
	// ErrNotConnected means an action needs a connection that is not up.
	ErrNotConnected = errors.New("not connected to IRC")
	// ErrChannelRefused means the server would not let us join a channel
	// (banned, invite only, wrong key, full).
	ErrChannelRefused = errors.New("cannot join channel")
	// ErrTooManyPuppets means limits.max_puppets is reached.
	ErrTooManyPuppets = errors.New("too many IRC connections")
	// ErrNotDelivered means the server refused a message: 404 for a
	// channel (moderated, banned), 401 for a nick that is not there.
	ErrNotDelivered = errors.New("refused by the IRC server")
)

// refusedError is a message the server refused, with its words. It is
// permanent: sending it again would be refused again.
type refusedError struct{ target, text string }

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s on IRC refused it: %s", e.target, e.text)
}

func (e *refusedError) Unwrap() []error { return []error{ErrNotDelivered, bridge.ErrPermanent} }

// serverError is why a server closed a connection: a sentinel above and
// the server's own words, which are shown to the user.
type serverError struct {
	kind error
	text string
}

func (e *serverError) Error() string {
	if e.text == "" {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.text
}

func (e *serverError) Unwrap() error { return e.kind }

// classifyClose reads an ERROR line's text. Servers word kills and bans
// differently, but all say "killed" or name the line type. Before
// registration, words about a password are a refused server password:
// ngIRCd sends only "ERROR :Access denied: Bad password?", no 464.
func classifyClose(text string, registered bool) error {
	lower := strings.ToLower(text)
	kind := ErrServerClosed
	switch {
	case strings.Contains(lower, "k-line"), strings.Contains(lower, "g-line"), strings.Contains(lower, "z-line"),
		strings.Contains(lower, "k:line"), strings.Contains(lower, "banned"):
		kind = ErrBanned
	case strings.Contains(lower, "killed"):
		kind = ErrKilled
	case !registered && strings.Contains(lower, "password"):
		kind = ErrBadPassword
	}
	return &serverError{kind: kind, text: text}
}
