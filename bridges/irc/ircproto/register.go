package ircproto

import (
	"fmt"
	"strings"
)

// Registration is what a connection says about itself before the server
// accepts it.
type Registration struct {
	// Password is the server password (PASS), empty for none.
	Password string
	Nick     string
	// Username is the ident user name; empty means Nick.
	Username string
	// Realname is the "real name" field shown in WHOIS; empty means Nick.
	Realname string
}

// Lines returns the opening lines in the order servers expect: PASS (if
// any), CAP LS 302 (if caps is not nil; it keeps negotiation open until
// CAP END so SASL can run first), NICK and USER.
func (r Registration) Lines(caps *CapNegotiator) ([]*Message, error) {
	user, realname := r.Username, r.Realname
	if user == "" {
		user = r.Nick
	}
	if realname == "" {
		realname = r.Nick
	}
	if err := checkWord("nick", r.Nick); err != nil {
		return nil, err
	}
	if err := checkWord("username", user); err != nil {
		return nil, err
	}
	if strings.ContainsAny(realname, "\x00\r\n") || strings.ContainsAny(r.Password, "\x00\r\n") {
		return nil, fmt.Errorf("%w: NUL, CR or LF in realname or password", ErrInvalidRegistration)
	}

	out := make([]*Message, 0, 4)
	if r.Password != "" {
		out = append(out, NewMessage("PASS", r.Password))
	}
	if caps != nil {
		out = append(out, caps.Start())
	}
	// "0 *" are the mode mask and unused field of RFC 2812's USER.
	return append(out, NewMessage("NICK", r.Nick), NewMessage("USER", user, "0", "*", realname)), nil
}

// checkWord accepts what can be sent as a middle parameter.
func checkWord(what, s string) error {
	if s == "" || s[0] == ':' || strings.ContainsAny(s, " \x00\r\n") {
		return fmt.Errorf("%w: %s %q", ErrInvalidRegistration, what, s)
	}
	return nil
}
