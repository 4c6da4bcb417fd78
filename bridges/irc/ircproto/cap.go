package ircproto

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultCaps returns the capabilities the bridge asks for when a server
// offers them. Each removes a guess: server-time gives true timestamps,
// echo-message confirms delivery, away-notify/account-notify/
// extended-join keep ghosts current without polling, chghost turns a
// host change into one CHGHOST rather than a fake QUIT and JOIN, batch
// marks netsplits and netjoins as such, multi-prefix and
// userhost-in-names make NAMES complete.
func DefaultCaps() []string {
	return []string{
		"sasl", "server-time", "message-tags", "echo-message", "away-notify",
		"account-notify", "extended-join", "multi-prefix", "userhost-in-names",
		"batch", "labeled-response", "cap-notify", "chghost",
	}
}

// capReqBytes keeps each CAP REQ well inside 512 bytes; the server answers
// a whole REQ with one ACK or NAK, which must fit in a line too.
const capReqBytes = 400

type capState int

const (
	capIdle capState = iota
	capLS            // sent CAP LS 302, reading the (possibly multi-line) list
	capReq           // sent CAP REQ, waiting for every ACK/NAK
	capSASL          // sent AUTHENTICATE <mechanism>
	capDone          // sent CAP END, or the server does not do CAP
)

// CapConfig says what to negotiate.
type CapConfig struct {
	// Want lists the capabilities to request when offered; nil means
	// DefaultCaps.
	Want []string
	// SASL, when set, authenticates before registration ends.
	SASL *SASLConfig
}

// CapNegotiator drives IRCv3 capability negotiation (CAP LS 302, REQ,
// ACK/NAK, NEW/DEL) and SASL during registration. It does no I/O: feed it
// every line from the server with Handle and send what it returns. It is
// not safe for concurrent use; the connection's reader owns it.
type CapNegotiator struct {
	want  []string
	sasl  *SASLConfig
	state capState

	available map[string]string // offered caps and their values
	enabled   map[string]bool
	pending   [][]string // REQ groups not yet answered, oldest first

	saslMechs     []string
	authenticated bool
	account       string
	refusal       string // the server's words refusing our credentials
	// triedPassword is set once a PLAIN payload went out: only a failure
	// after it says anything about the password.
	triedPassword bool
}

// NewCapNegotiator returns a negotiator for cfg.
func NewCapNegotiator(cfg CapConfig) *CapNegotiator {
	want := cfg.Want
	if want == nil {
		want = DefaultCaps()
	}
	n := &CapNegotiator{
		sasl:      cfg.SASL,
		available: map[string]string{},
		enabled:   map[string]bool{},
	}
	for _, c := range want {
		// Asking for sasl without credentials would only cost a round trip.
		if c == "sasl" && n.sasl == nil {
			continue
		}
		if !slices.Contains(n.want, c) {
			n.want = append(n.want, c)
		}
	}
	return n
}

// Start returns the opening "CAP LS 302". Version 302 makes the server
// send capability values (sasl=PLAIN,EXTERNAL), split long lists over
// several lines, and enable cap-notify implicitly.
func (n *CapNegotiator) Start() *Message {
	n.state = capLS
	return NewMessage("CAP", "LS", "302")
}

// Done reports whether negotiation is over, so registration can go on.
func (n *CapNegotiator) Done() bool { return n.state == capDone }

// Enabled reports whether a capability was acknowledged and not deleted.
func (n *CapNegotiator) Enabled(capName string) bool { return n.enabled[capName] }

// EnabledCaps lists the enabled capabilities, sorted.
func (n *CapNegotiator) EnabledCaps() []string {
	out := make([]string, 0, len(n.enabled))
	for c := range n.enabled {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Available returns an offered capability's value ("PLAIN,EXTERNAL" for
// sasl) and whether it is offered.
func (n *CapNegotiator) Available(capName string) (string, bool) {
	v, ok := n.available[capName]
	return v, ok
}

// Authenticated reports whether SASL succeeded.
func (n *CapNegotiator) Authenticated() bool { return n.authenticated }

// Account returns the account from RPL_LOGGEDIN, "" if not logged in.
func (n *CapNegotiator) Account() string { return n.account }

// SASLRefusal returns the server's words when it refused our SASL
// credentials: a 904 after the PLAIN payload went out. It is "" when SASL
// succeeded, was not tried or was not offered, and when it failed for
// another reason: 905 (payload too long), 906 (aborted), 902 (nick
// locked), or a 904 before any payload (PLAIN not offered, 908 listing
// what is). A refusal means the account or password is wrong, so sending
// the same password to NickServ would be refused too.
func (n *CapNegotiator) SASLRefusal() string { return n.refusal }

// SASLMechanisms returns the mechanisms from RPL_SASLMECHS, if the server
// sent them after a failure.
func (n *CapNegotiator) SASLMechanisms() []string { return n.saslMechs }

// Abort ends negotiation now, for a caller whose timer ran out waiting
// for the server. It returns CAP END if one is still owed.
func (n *CapNegotiator) Abort() []*Message {
	if n.state == capIdle || n.state == capDone {
		n.state = capDone
		return nil
	}
	return n.finish()
}

// Handle takes one message from the server and returns the lines to send
// in reply, if any; messages that are not about CAP or SASL are ignored.
// An error means registration must not go on (SASL was required and
// failed): the caller should send QUIT and tell the user, and must not
// send CAP END.
func (n *CapNegotiator) Handle(m *Message) ([]*Message, error) {
	switch m.Command {
	case "CAP":
		if CheckParams(m) != nil {
			return nil, nil
		}
		return n.handleCap(m)
	case "AUTHENTICATE":
		return n.handleAuthenticate(m), nil
	case RPL_LOGGEDIN:
		n.account = m.Param(2)
	case RPL_LOGGEDOUT:
		n.account = ""
	case RPL_SASLMECHS:
		n.saslMechs = strings.Split(m.Param(1), ",")
	case RPL_SASLSUCCESS, ERR_SASLALREADY:
		n.authenticated = true
		if n.state == capSASL {
			return n.finish(), nil
		}
	case ERR_SASLFAIL, ERR_SASLTOOLONG, ERR_SASLABORTED, ERR_NICKLOCKED:
		if n.state == capSASL {
			if m.Command == ERR_SASLFAIL && n.triedPassword {
				n.refusal = m.Trailing()
				if n.refusal == "" {
					n.refusal = m.Command
				}
			}
			return n.saslFailed(fmt.Sprintf("%s %s", m.Command, m.Trailing()))
		}
	case RPL_WELCOME:
		// Registration finished without us: the server ignored CAP.
		if n.state != capDone {
			n.state = capDone
			if n.sasl != nil && n.sasl.Required && !n.authenticated {
				return nil, fmt.Errorf("%w: server registered us without capability negotiation", ErrSASLFailed)
			}
		}
	case ERR_UNKNOWNCOMMAND:
		if strings.EqualFold(m.Param(1), "CAP") && n.state != capDone {
			n.state = capDone
			if n.sasl != nil && n.sasl.Required {
				return nil, fmt.Errorf("%w: server does not support CAP", ErrSASLFailed)
			}
		}
	case ERR_INVALIDCAPCMD:
		if n.state != capDone && n.state != capIdle {
			return n.finish(), nil
		}
	}
	return nil, nil
}

func (n *CapNegotiator) handleCap(m *Message) ([]*Message, error) {
	// CAP <client> <subcommand> [*] :<caps>; the '*' marks more to come.
	sub := upperASCII(m.Params[1])
	more := len(m.Params) >= 4 && m.Params[2] == "*"
	caps := m.Trailing()
	switch sub {
	case "LS":
		for name, value := range capList(caps) {
			n.available[name] = value
		}
		if more || n.state != capLS {
			return nil, nil
		}
		return n.requestWanted()
	case "ACK":
		for name := range capList(caps) {
			if rest, ok := strings.CutPrefix(name, "-"); ok {
				delete(n.enabled, rest)
			} else {
				n.enabled[name] = true
			}
		}
		n.popPending()
		return n.afterAnswer()
	case "NAK":
		group := n.popPending()
		var out []*Message
		// A REQ is all or nothing: one unknown cap sinks the lot. Ask for
		// the others one by one so that a single bad cap costs only itself.
		if len(group) > 1 {
			for _, c := range group {
				out = append(out, n.request([]string{c})...)
			}
			return out, nil
		}
		return n.afterAnswer()
	case "NEW":
		for name, value := range capList(caps) {
			n.available[name] = value
		}
		if n.state == capLS || n.state == capIdle {
			return nil, nil
		}
		return n.request(n.wantedOffered()), nil
	case "DEL":
		for name := range capList(caps) {
			delete(n.available, name)
			delete(n.enabled, name)
		}
	}
	return nil, nil
}

// capList parses "a b=1 c" into names and values. Legacy 3.1 modifiers
// ('~' ack-required, '=' sticky) are stripped; '-' is kept for ACK.
func capList(s string) map[string]string {
	out := make(map[string]string)
	for item := range strings.FieldsSeq(s) {
		name, value, _ := strings.Cut(strings.TrimLeft(item, "~="), "=")
		if name == "" || name == "-" {
			continue
		}
		out[name] = value
	}
	return out
}

// wantedOffered lists wanted caps the server offers and we do not have,
// in the order of Want so that REQ lines are predictable.
func (n *CapNegotiator) wantedOffered() []string {
	var out []string
	for _, c := range n.want {
		if _, ok := n.available[c]; ok && !n.enabled[c] && !n.isPending(c) {
			out = append(out, c)
		}
	}
	return out
}

func (n *CapNegotiator) isPending(c string) bool {
	for _, g := range n.pending {
		if slices.Contains(g, c) {
			return true
		}
	}
	return false
}

func (n *CapNegotiator) requestWanted() ([]*Message, error) {
	caps := n.wantedOffered()
	if len(caps) == 0 {
		return n.afterAnswer()
	}
	n.state = capReq
	return n.request(caps), nil
}

// request builds CAP REQ lines of at most capReqBytes of names each and
// remembers each group until its ACK or NAK.
func (n *CapNegotiator) request(caps []string) []*Message {
	var out []*Message
	for len(caps) > 0 {
		size, i := 0, 0
		for ; i < len(caps); i++ {
			if i > 0 && size+1+len(caps[i]) > capReqBytes {
				break
			}
			size += 1 + len(caps[i])
		}
		group := caps[:i:i]
		caps = caps[i:]
		n.pending = append(n.pending, group)
		out = append(out, NewMessage("CAP", "REQ", strings.Join(group, " ")))
	}
	return out
}

func (n *CapNegotiator) popPending() []string {
	if len(n.pending) == 0 {
		return nil
	}
	g := n.pending[0]
	n.pending = n.pending[1:]
	return g
}

// afterAnswer moves on once every REQ is answered: to SASL if we have
// credentials and the server offers our mechanism, else to CAP END.
func (n *CapNegotiator) afterAnswer() ([]*Message, error) {
	if len(n.pending) > 0 || (n.state != capReq && n.state != capLS) {
		return nil, nil
	}
	if n.sasl == nil {
		return n.finish(), nil
	}
	mech := n.sasl.mechanism()
	if !n.enabled["sasl"] {
		return n.saslFailed("server does not offer sasl")
	}
	if mechs := n.available["sasl"]; mechs != "" && !slices.Contains(strings.Split(mechs, ","), mech) {
		return n.saslFailed(fmt.Sprintf("server offers %s, not %s", mechs, mech))
	}
	n.state = capSASL
	return []*Message{NewMessage("AUTHENTICATE", mech)}, nil
}

func (n *CapNegotiator) handleAuthenticate(m *Message) []*Message {
	// For PLAIN and EXTERNAL the server's only challenge is the empty
	// "+"; anything else is a mechanism we did not ask for, so abort.
	if n.state != capSASL || n.sasl == nil {
		return nil
	}
	if m.Param(0) != "+" {
		return []*Message{NewMessage("AUTHENTICATE", "*")}
	}
	n.triedPassword = n.sasl.mechanism() == SASLPlain
	return AuthenticateLines(n.sasl.payload())
}

// saslFailed ends negotiation without authentication, or with an error
// when authentication was required.
func (n *CapNegotiator) saslFailed(why string) ([]*Message, error) {
	if n.sasl.Required {
		n.state = capDone
		return nil, fmt.Errorf("%w: %s", ErrSASLFailed, why)
	}
	return n.finish(), nil
}

func (n *CapNegotiator) finish() []*Message {
	n.state = capDone
	return []*Message{NewMessage("CAP", "END")}
}
