package puppet

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix/id"
)

// maxIDLength is the longest user ID or room alias the Matrix spec allows,
// in bytes, sigil and server name included.
const maxIDLength = 255

const (
	placeholderNetwork = "{network}"
	placeholderID      = "{id}"
)

// aliasPlaceholders name the remote chat in alias templates; both spellings
// are accepted ("{chat}" is what bridge.NetworkInfo documents, "{channel}"
// reads better for IRC).
var aliasPlaceholders = []string{"{chat}", "{channel}"}

// idTemplate is a template resolved for one network: the fixed text before
// and after the escaped remote ID, sigil and server name included.
type idTemplate struct {
	network string
	prefix  string // sigil + literal text before the placeholder
	suffix  string // literal text after the placeholder + ":" + domain
	regex   string
}

// newIDTemplate checks tmpl and resolves it for network and domain. slots
// are the accepted spellings of the one placeholder for the remote ID;
// literalOK says which bytes may appear in the fixed part; charClass is the
// regular expression for the escaped remote ID.
func newIDTemplate(tmpl, network, domain string, sigil byte, slots []string, literalOK func(byte) bool, charClass string) (idTemplate, error) {
	bad := func(format string, args ...any) (idTemplate, error) {
		return idTemplate{}, fmt.Errorf("%w %q: %s", ErrBadTemplate, tmpl, fmt.Sprintf(format, args...))
	}
	if domain == "" {
		return bad("empty server name")
	}
	if tmpl != "" && tmpl[0] == sigil {
		return bad("the template is the localpart only, without %q", sigil)
	}
	switch strings.Count(tmpl, placeholderNetwork) {
	case 0:
	case 1:
		if network == "" {
			return bad("uses %s but the network name is empty", placeholderNetwork)
		}
		for i := 0; i < len(network); i++ {
			if !literalOK(network[i]) {
				return bad("network name %q has %q, which is not allowed here", network, network[i])
			}
		}
	default:
		return bad("%s may appear at most once", placeholderNetwork)
	}
	slot := ""
	for _, s := range slots {
		switch strings.Count(tmpl, s) {
		case 0:
			continue
		case 1:
			if slot != "" {
				return bad("has both %s and %s", slot, s)
			}
			slot = s
		default:
			return bad("%s must appear exactly once", s)
		}
	}
	if slot == "" {
		return bad("%s must appear exactly once", strings.Join(slots, " or "))
	}
	before, after, _ := strings.Cut(strings.Replace(tmpl, placeholderNetwork, network, 1), slot)
	literal := before + after
	if literal == "" {
		// A bare placeholder would claim every ID on the homeserver.
		return bad("needs fixed text besides %s", slot)
	}
	for i := 0; i < len(literal); i++ {
		if c := literal[i]; c == '{' || c == '}' {
			return bad("unknown placeholder (only %s and %s)", placeholderNetwork, slot)
		} else if !literalOK(c) {
			return bad("%q is not allowed in the fixed text", c)
		}
	}
	t := idTemplate{
		network: network,
		prefix:  string(sigil) + before,
		suffix:  after + ":" + domain,
	}
	t.regex = "^" + regexp.QuoteMeta(t.prefix) + charClass + "+" + regexp.QuoteMeta(t.suffix) + "$"
	return t, nil
}

// escaped returns the part of s between the template's fixed text, or false
// when s does not fit the template (or is longer than any valid ID).
func (t *idTemplate) escaped(s string) (string, bool) {
	if len(s) > maxIDLength || len(s) <= len(t.prefix)+len(t.suffix) ||
		!strings.HasPrefix(s, t.prefix) || !strings.HasSuffix(s, t.suffix) {
		return "", false
	}
	return s[len(t.prefix) : len(s)-len(t.suffix)], true
}

// build checks remoteID and returns prefix + escape(remoteID) + suffix, with
// one allocation; alias picks the alias escape over the localpart one.
func (t *idTemplate) build(remoteID string, alias bool) (string, error) {
	if remoteID == "" {
		return "", ErrEmptyRemoteID
	}
	if !utf8.ValidString(remoteID) {
		return "", ErrInvalidUTF8
	}
	width := &localpartWidth
	if alias {
		width = &aliasWidth
	}
	size := len(t.prefix) + len(t.suffix)
	for i := 0; i < len(remoteID); i++ {
		size += int(width[remoteID[i]])
	}
	if size > maxIDLength {
		return "", fmt.Errorf("%w (%d bytes)", ErrIDTooLong, size)
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(t.prefix)
	if alias {
		appendAlias(&b, remoteID)
	} else {
		appendLocalpart(&b, remoteID)
	}
	b.WriteString(t.suffix)
	return b.String(), nil
}

// Namer maps remote user IDs of one network to ghost Matrix IDs and back.
//
// The remote ID is escaped with the scheme the Matrix spec suggests under
// "Mapping from other character sets", in its case-preserving form: a-z, 0-9,
// ".", "-" and "/" stay as they are, "A" becomes "_a", "_" becomes "__", and
// every other byte of the UTF-8 encoding becomes "=" and two lowercase hex
// digits. "+" is escaped too, since older homeservers do not accept it in
// localparts. Only the canonical escape is decoded, so Matrix IDs and remote
// IDs correspond one to one. A Namer is immutable and safe for concurrent use.
type Namer struct {
	idTemplate
}

// NewNamer resolves a ghost template such as "irc_{network}_{id}" for one
// network on the homeserver domain. The template is the localpart: "{id}"
// must appear exactly once, "{network}" at most once, and the fixed text
// (with the network name) may only hold a-z, 0-9 and "._=-/".
func NewNamer(template, network, domain string) (*Namer, error) {
	t, err := newIDTemplate(template, network, domain, '@', []string{placeholderID}, isLocalpartByte, `[a-z0-9._=/-]`)
	if err != nil {
		return nil, err
	}
	return &Namer{t}, nil
}

// Network is the network name the namer was made for.
func (n *Namer) Network() string { return n.network }

// TryMXID returns the ghost user ID for remoteID. It fails for an empty
// remote ID, one that is not valid UTF-8, or one whose user ID would exceed
// 255 bytes; the errors are ErrEmptyRemoteID, ErrInvalidUTF8, ErrIDTooLong.
func (n *Namer) TryMXID(remoteID string) (id.UserID, error) {
	s, err := n.build(remoteID, false)
	return id.UserID(s), err
}

// MXID is TryMXID for remote IDs known to be fine; it returns "" where
// TryMXID would fail. Use TryMXID on IDs that come straight off the wire.
func (n *Namer) MXID(remoteID string) id.UserID {
	userID, _ := n.TryMXID(remoteID)
	return userID
}

// RemoteID returns the remote ID that userID stands for, or false when
// userID is not one of this namer's ghosts: another template or server name,
// or an escape that MXID would not have produced.
func (n *Namer) RemoteID(userID id.UserID) (string, bool) {
	enc, ok := n.escaped(string(userID))
	if !ok {
		return "", false
	}
	return decodeLocalpart(enc)
}

// Regex is an anchored regular expression matching exactly the user IDs
// this namer can produce, for the registration's user namespace.
func (n *Namer) Regex() string { return n.regex }

// AliasNamer maps remote chat IDs of one network to room aliases and back.
//
// Room alias localparts may hold almost any character, but aliases travel in
// URL paths and are typed by people, so the chat ID is percent-encoded: A-Z,
// a-z, 0-9 and "-._~" stay, every other byte becomes "%" and two uppercase hex
// digits ("#chan" gives "%23chan"). Decoding is lenient so that an alias a
// person types also works: "%23chan", "%23Chan" and "#chan" (a literal "#")
// all decode, and Alias gives the canonical form. An AliasNamer is immutable
// and safe for concurrent use.
type AliasNamer struct {
	idTemplate
}

// NewAliasNamer resolves an alias template such as "irc_{network}_{channel}"
// for one network on the homeserver domain. The template is the localpart:
// "{channel}" (or "{chat}") must appear exactly once, "{network}" at most
// once, and the fixed text may only hold ASCII letters, digits and "._=-/+~".
func NewAliasNamer(template, network, domain string) (*AliasNamer, error) {
	t, err := newIDTemplate(template, network, domain, '#', aliasPlaceholders, isAliasLiteralByte, `[^:]`)
	if err != nil {
		return nil, err
	}
	return &AliasNamer{t}, nil
}

// Network is the network name the namer was made for.
func (n *AliasNamer) Network() string { return n.network }

// TryAlias returns the canonical room alias for the remote chat ID, failing
// like Namer.TryMXID.
func (n *AliasNamer) TryAlias(chatID string) (id.RoomAlias, error) {
	s, err := n.build(chatID, true)
	return id.RoomAlias(s), err
}

// Alias is TryAlias for chat IDs known to be fine; it returns "" where
// TryAlias would fail.
func (n *AliasNamer) Alias(chatID string) id.RoomAlias {
	alias, _ := n.TryAlias(chatID)
	return alias
}

// RemoteID returns the remote chat ID an alias stands for, or false when the
// alias is not in this namer's namespace or does not decode.
func (n *AliasNamer) RemoteID(alias id.RoomAlias) (string, bool) {
	enc, ok := n.escaped(string(alias))
	if !ok {
		return "", false
	}
	return decodeAlias(enc)
}

// Regex is an anchored regular expression matching every alias RemoteID
// accepts, for the registration's alias namespace.
func (n *AliasNamer) Regex() string { return n.regex }

// Escaping tables. Localpart classes: pass through as is, "_" + lowercase
// letter, or "=xx".
const (
	lpPass = iota
	lpCase
	lpHex
)

var localpartClass, localpartWidth, aliasWidth = escapeTables()

func escapeTables() (lpClass, lpWidth, alWidth [256]uint8) {
	for i := range 256 {
		b := byte(i)
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '.', b == '-', b == '/':
			lpClass[i], lpWidth[i] = lpPass, 1
		case b >= 'A' && b <= 'Z', b == '_':
			lpClass[i], lpWidth[i] = lpCase, 2
		default:
			lpClass[i], lpWidth[i] = lpHex, 3
		}
		if isAliasUnreserved(b) {
			alWidth[i] = 1
		} else {
			alWidth[i] = 3
		}
	}
	return
}

// isLocalpartByte reports whether b may appear in a user ID localpart under
// the strict grammar (without "+", which older homeservers refuse).
func isLocalpartByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '=' || b == '-' || b == '/'
}

func isAliasUnreserved(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~'
}

func isAliasLiteralByte(b byte) bool {
	return isAliasUnreserved(b) || b == '=' || b == '/' || b == '+'
}

const lowerHex, upperHex = "0123456789abcdef", "0123456789ABCDEF"

func appendLocalpart(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch localpartClass[c] {
		case lpPass:
			b.WriteByte(c)
		case lpCase:
			b.WriteByte('_')
			if c != '_' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		default:
			b.WriteByte('=')
			b.WriteByte(lowerHex[c>>4])
			b.WriteByte(lowerHex[c&0xf])
		}
	}
}

// decodeLocalpart undoes appendLocalpart, accepting only its exact output.
func decodeLocalpart(enc string) (string, bool) {
	plain := true
	for i := 0; i < len(enc); i++ {
		if localpartClass[enc[i]] != lpPass {
			plain = false
			break
		}
	}
	if plain {
		return enc, true // ASCII, so valid UTF-8; no allocation
	}
	out := make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case localpartClass[c] == lpPass:
			out = append(out, c)
		case c == '_' && i+1 < len(enc):
			i++
			switch next := enc[i]; {
			case next == '_':
				out = append(out, '_')
			case next >= 'a' && next <= 'z':
				out = append(out, next-0x20)
			default:
				return "", false
			}
		case c == '=' && i+2 < len(enc):
			hi, ok1 := unhex(enc[i+1], false)
			lo, ok2 := unhex(enc[i+2], false)
			v := hi<<4 | lo
			if !ok1 || !ok2 || localpartClass[v] != lpHex {
				return "", false // not hex, or a byte that has a shorter escape
			}
			out = append(out, v)
			i += 2
		default:
			return "", false
		}
	}
	if !utf8.Valid(out) {
		return "", false
	}
	return string(out), true
}

func appendAlias(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAliasUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
		}
	}
}

// decodeAlias undoes appendAlias, and also takes "%xx" in either case and
// literal characters other than space, controls, ":" and a stray "%".
func decodeAlias(enc string) (string, bool) {
	out := make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case c == '%':
			if i+2 >= len(enc) {
				return "", false
			}
			hi, ok1 := unhex(enc[i+1], true)
			lo, ok2 := unhex(enc[i+2], true)
			if !ok1 || !ok2 {
				return "", false
			}
			out = append(out, hi<<4|lo)
			i += 2
		case c <= ' ' || c == 0x7f || c == ':':
			return "", false
		default:
			out = append(out, c)
		}
	}
	if len(out) == 0 || !utf8.Valid(out) {
		return "", false
	}
	return string(out), true
}

func unhex(c byte, upperOK bool) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case upperOK && c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
