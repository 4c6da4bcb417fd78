package ircproto

import "strings"

// CTCPDelim frames a CTCP message inside PRIVMSG or NOTICE text.
const CTCPDelim = '\x01'

// CTCP is a client-to-client request or reply: "\x01ACTION waves\x01" is
// Command "ACTION", Params "waves".
type CTCP struct {
	Command string
	Params  string
}

// ParseCTCP decodes CTCP text. The closing \x01 is optional, since some
// clients leave it out, and the command is upper-cased. It returns false
// for text that is not CTCP, including a lone "\x01\x01".
func ParseCTCP(text string) (CTCP, bool) {
	if len(text) < 2 || text[0] != CTCPDelim {
		return CTCP{}, false
	}
	body := strings.TrimSuffix(text[1:], string(CTCPDelim))
	cmd, params, _ := strings.Cut(body, " ")
	if cmd == "" {
		return CTCP{}, false
	}
	return CTCP{Command: upperASCII(cmd), Params: params}, true
}

// IsCTCP reports whether text is a CTCP message.
func IsCTCP(text string) bool {
	_, ok := ParseCTCP(text)
	return ok
}

// String encodes the CTCP message. A \x01 inside would end the frame
// early, so it is dropped.
func (c CTCP) String() string {
	var b strings.Builder
	b.Grow(len(c.Command) + len(c.Params) + 3)
	b.WriteByte(CTCPDelim)
	b.WriteString(stripCTCPDelim(upperASCII(c.Command)))
	if c.Params != "" {
		b.WriteByte(' ')
		b.WriteString(stripCTCPDelim(c.Params))
	}
	b.WriteByte(CTCPDelim)
	return b.String()
}

func stripCTCPDelim(s string) string {
	if strings.IndexByte(s, CTCPDelim) < 0 {
		return s
	}
	return strings.ReplaceAll(s, string(CTCPDelim), "")
}

// EncodeCTCP builds CTCP text, e.g. EncodeCTCP("VERSION", "").
func EncodeCTCP(command, params string) string {
	return CTCP{Command: command, Params: params}.String()
}

// Action builds the text of a /me: "\x01ACTION text\x01".
func Action(text string) string { return EncodeCTCP("ACTION", text) }

// CTCP returns the CTCP carried by a PRIVMSG (a request) or NOTICE (a
// reply), and false for any other message.
func (m *Message) CTCP() (CTCP, bool) {
	if (m.Command != "PRIVMSG" && m.Command != "NOTICE") || len(m.Params) < 2 {
		return CTCP{}, false
	}
	return ParseCTCP(m.Params[1])
}

// IsAction reports whether the message is a CTCP ACTION (/me).
func (m *Message) IsAction() bool {
	c, ok := m.CTCP()
	return ok && c.Command == "ACTION"
}
