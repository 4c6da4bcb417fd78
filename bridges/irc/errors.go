package irc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

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

// errMaybeLost is a message written to a connection that closed or went
// silent before the server confirmed it: the user is told, not the line
// sent again.
var errMaybeLost = fmt.Errorf("%w: the IRC connection closed or stopped answering just after it was sent, so it may not have arrived; send it again if it is missing", bridge.ErrPermanent)

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
// InspIRCd says only "Access denied by configuration" when no connect
// class takes the client, which a wrong password causes; when we sent one,
// trying again with it cannot help either, so it counts as refused too.
func classifyClose(text string, registered, sentPassword bool) error {
	lower := strings.ToLower(text)
	kind := ErrServerClosed
	switch {
	case strings.Contains(lower, "k-line"), strings.Contains(lower, "g-line"), strings.Contains(lower, "z-line"),
		strings.Contains(lower, "k:line"), strings.Contains(lower, "banned"):
		kind = ErrBanned
	case strings.Contains(lower, "killed"):
		kind = ErrKilled
	case !registered && strings.Contains(lower, "password"),
		!registered && sentPassword && strings.Contains(lower, "access denied by configuration"):
		kind = ErrBadPassword
	}
	return &serverError{kind: kind, text: text}
}

// connectFailure is a failure to reach the server, worded for the user
// (connectError) where the socket's own words would be jargon.
type connectFailure struct{ err error }

func (e connectFailure) Error() string { return connectError(e.err) }
func (e connectFailure) Unwrap() error { return e.err }

// connectError says why a connection could not be made in words a user
// can act on or pass to the admin; errors that are not about reaching
// the server (a refused password, a ban) keep their own.
func connectError(err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var header tls.RecordHeaderError
	var nerr net.Error
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("the IRC server's name %s cannot be found", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the IRC server is not accepting connections"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "the IRC server cannot be reached from the bridge"
	case errors.As(err, &cert), errors.As(err, &unknownCA):
		return "the IRC server's TLS certificate is not trusted"
	case errors.As(err, &header):
		return "the IRC server does not speak TLS on that port"
	case errors.Is(err, syscall.ECONNRESET):
		return "the IRC server dropped the connection while it was being made"
	case errors.As(err, &nerr) && nerr.Timeout():
		return "the IRC server did not answer in time"
	}
	return err.Error()
}
