package ircproto

import (
	"maps"
	"strconv"
	"strings"
)

// Defaults that hold before RPL_ISUPPORT arrives, or after a server
// withdraws a token with "-TOKEN". They are the RFC 1459 values servers
// assume of old clients.
const (
	DefaultChanTypes  = "#&"
	DefaultPrefix     = "(ov)@+"
	DefaultChanModes  = "beI,k,l,imnpst"
	DefaultNickLen    = 9
	DefaultChannelLen = 200
	DefaultModes      = 3
	DefaultLineLen    = MaxLineBytes
)

// ISupport is what a server announced in RPL_ISUPPORT (005), with the
// tokens the bridge needs parsed. The zero value is not ready; use
// NewISupport, which starts from the defaults.
//
// It is not safe for concurrent use: the connection's reader owns it and
// gives other goroutines a Clone.
type ISupport struct {
	tokens map[string]string

	chanTypes   string
	prefixModes string // mode letters, highest rank first
	prefixChars string // the matching prefix characters
	chanModes   ChanModes
	casemap     Casemapping
	nickLen     int
	channelLen  int
	topicLen    int
	awayLen     int
	lineLen     int
	modes       int
	network     string
	statusMsg   string
	targMax     map[string]int
}

// ChanModes lists channel mode letters by type, as CHANMODES=A,B,C,D
// announces them, and the prefix (membership) modes from PREFIX in rank
// order, highest first.
type ChanModes struct {
	// A are list modes (b, e, I): a parameter when set and when unset.
	A string
	// B always take a parameter (k).
	B string
	// C take a parameter only when set (l).
	C string
	// D never take a parameter (i, m, n, s, t).
	D string
	// Prefix are membership modes (o, v): always a nick as parameter.
	Prefix string
}

// ModeType tells how a channel mode takes its parameter.
type ModeType int

const (
	// ModeUnknown is a letter the server did not announce; it is treated
	// as taking no parameter, the guess that loses the least.
	ModeUnknown ModeType = iota
	ModeTypeA
	ModeTypeB
	ModeTypeC
	ModeTypeD
	ModePrefix
)

// NewISupport returns the state before any 005 arrived.
func NewISupport() *ISupport {
	s := &ISupport{tokens: map[string]string{}}
	for _, name := range [...]string{"CHANTYPES", "PREFIX", "CHANMODES", "CASEMAPPING", "NICKLEN",
		"CHANNELLEN", "TOPICLEN", "AWAYLEN", "LINELEN", "MODES", "NETWORK", "STATUSMSG", "TARGMAX"} {
		s.reset(name)
	}
	return s
}

// Clone returns an independent copy.
func (s *ISupport) Clone() *ISupport {
	c := *s
	c.tokens = maps.Clone(s.tokens)
	c.targMax = maps.Clone(s.targMax)
	return &c
}

// Apply takes the parameters of one RPL_ISUPPORT line: the client nick
// first, then tokens, then usually a human-readable text. Several 005
// lines add up.
func (s *ISupport) Apply(m *Message) {
	if m.Command != RPL_ISUPPORT || len(m.Params) < 2 {
		return
	}
	tokens := m.Params[1:]
	// The last parameter is ":are supported by this server", but a server
	// that leaves the text out must not lose its last token: drop it only
	// if it cannot be a token.
	if last := tokens[len(tokens)-1]; !looksLikeToken(last) {
		tokens = tokens[:len(tokens)-1]
	}
	s.ApplyTokens(tokens...)
}

func looksLikeToken(t string) bool {
	if t == "" || strings.IndexByte(t, ' ') >= 0 {
		return false
	}
	c := strings.TrimPrefix(t, "-")
	return c != "" && (c[0] >= 'A' && c[0] <= 'Z' || isDigit(c[0]))
}

// ApplyTokens applies "NAME=value", "NAME" and "-NAME" tokens. Values are
// unescaped (\x20 and friends). A malformed value for a token the bridge
// parses leaves the previous meaning in place.
func (s *ISupport) ApplyTokens(tokens ...string) {
	for _, t := range tokens {
		if t == "" {
			continue
		}
		if t[0] == '-' {
			name := strings.ToUpper(t[1:])
			delete(s.tokens, name)
			s.reset(name)
			continue
		}
		name, value, _ := strings.Cut(t, "=")
		name = strings.ToUpper(name)
		value = unescapeISupport(value)
		s.tokens[name] = value
		s.set(name, value)
	}
}

// unescapeISupport decodes \xHH escapes; others are kept literally.
func unescapeISupport(v string) string {
	if !strings.Contains(v, `\x`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+3 < len(v) && v[i+1] == 'x' {
			if n, err := strconv.ParseUint(v[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func (s *ISupport) reset(name string) {
	switch name {
	case "CHANTYPES":
		s.chanTypes = DefaultChanTypes
	case "PREFIX":
		s.prefixModes, s.prefixChars, _ = parsePrefixToken(DefaultPrefix)
		s.chanModes.Prefix = s.prefixModes
	case "CHANMODES":
		p := s.chanModes.Prefix
		s.chanModes, _ = parseChanModes(DefaultChanModes)
		s.chanModes.Prefix = p
	case "CASEMAPPING":
		s.casemap = CasemapRFC1459
	case "NICKLEN":
		s.nickLen = DefaultNickLen
	case "CHANNELLEN":
		s.channelLen = DefaultChannelLen
	case "TOPICLEN":
		s.topicLen = 0
	case "AWAYLEN":
		s.awayLen = 0
	case "LINELEN":
		s.lineLen = DefaultLineLen
	case "MODES":
		s.modes = DefaultModes
	case "NETWORK":
		s.network = ""
	case "STATUSMSG":
		s.statusMsg = ""
	case "TARGMAX":
		s.targMax = nil
	}
}

func (s *ISupport) set(name, value string) {
	switch name {
	case "CHANTYPES":
		// An empty value means the server has no channels at all.
		s.chanTypes = value
	case "PREFIX":
		if modes, chars, ok := parsePrefixToken(value); ok {
			s.prefixModes, s.prefixChars = modes, chars
			s.chanModes.Prefix = modes
		}
	case "CHANMODES":
		if cm, ok := parseChanModes(value); ok {
			cm.Prefix = s.chanModes.Prefix
			s.chanModes = cm
		}
	case "CASEMAPPING":
		s.casemap, _ = ParseCasemapping(value)
	case "NICKLEN":
		setInt(&s.nickLen, value, DefaultNickLen)
	case "CHANNELLEN":
		setInt(&s.channelLen, value, DefaultChannelLen)
	case "TOPICLEN":
		setInt(&s.topicLen, value, 0)
	case "AWAYLEN":
		setInt(&s.awayLen, value, 0)
	case "LINELEN":
		setInt(&s.lineLen, value, DefaultLineLen)
	case "MODES":
		// "MODES" without a value means no limit.
		setInt(&s.modes, value, 0)
	case "NETWORK":
		s.network = value
	case "STATUSMSG":
		s.statusMsg = value
	case "TARGMAX":
		s.targMax = parseTargMax(value)
	}
}

// setInt stores a positive number; an empty value stores def, and garbage
// is ignored.
func setInt(dst *int, value string, def int) {
	if value == "" {
		*dst = def
		return
	}
	if n, err := strconv.Atoi(value); err == nil && n >= 0 {
		*dst = n
	}
}

// parsePrefixToken parses "(qaohv)~&@%+". An empty value is valid and
// means no membership prefixes.
func parsePrefixToken(v string) (modes, chars string, ok bool) {
	if v == "" {
		return "", "", true
	}
	if v[0] != '(' {
		return "", "", false
	}
	modes, chars, found := strings.Cut(v[1:], ")")
	if !found || len(modes) != len(chars) {
		return "", "", false
	}
	return modes, chars, true
}

// parseChanModes parses "A,B,C,D"; servers may add more groups, which
// are ignored, but fewer than four is malformed.
func parseChanModes(v string) (ChanModes, bool) {
	parts := strings.SplitN(v, ",", 5)
	if len(parts) < 4 {
		return ChanModes{}, false
	}
	return ChanModes{A: parts[0], B: parts[1], C: parts[2], D: parts[3]}, true
}

// parseTargMax parses "PRIVMSG:4,NOTICE:4,JOIN:"; an empty number means no
// limit, stored as 0.
func parseTargMax(v string) map[string]int {
	out := make(map[string]int)
	for item := range strings.SplitSeq(v, ",") {
		cmd, n, _ := strings.Cut(item, ":")
		if cmd == "" {
			continue
		}
		limit := 0
		if n != "" {
			var err error
			if limit, err = strconv.Atoi(n); err != nil || limit < 0 {
				continue
			}
		}
		out[strings.ToUpper(cmd)] = limit
	}
	return out
}

// Get returns a token's unescaped value as the server sent it, and
// whether the server announced it.
func (s *ISupport) Get(name string) (string, bool) {
	v, ok := s.tokens[strings.ToUpper(name)]
	return v, ok
}

// ChanTypes returns the channel prefix characters ("#&" by default).
func (s *ISupport) ChanTypes() string { return s.chanTypes }

// Prefix returns the membership mode letters and their prefix
// characters, highest rank first: "ov" and "@+" by default.
func (s *ISupport) Prefix() (modes, prefixes string) { return s.prefixModes, s.prefixChars }

// ChanModes returns the channel modes by type.
func (s *ISupport) ChanModes() ChanModes { return s.chanModes }

// Casemapping returns the server's casemapping (rfc1459 by default).
func (s *ISupport) Casemapping() Casemapping { return s.casemap }

// NickLen is the longest nick the server accepts (9 by default).
func (s *ISupport) NickLen() int { return s.nickLen }

// ChannelLen is the longest channel name (200 by default).
func (s *ISupport) ChannelLen() int { return s.channelLen }

// TopicLen is the longest topic, 0 when not announced.
func (s *ISupport) TopicLen() int { return s.topicLen }

// AwayLen is the longest away message, 0 when not announced.
func (s *ISupport) AwayLen() int { return s.awayLen }

// LineLen is the longest line without tags, CRLF included (512 by default).
func (s *ISupport) LineLen() int { return s.lineLen }

// Modes is how many modes with a parameter one MODE line may carry (3 by
// default); 0 means no limit.
func (s *ISupport) Modes() int { return s.modes }

// Network is the network name, "" when not announced.
func (s *ISupport) Network() string { return s.network }

// StatusMsg returns the prefixes that may precede a channel name to reach
// only its members of that rank ("@#chan"), "" when not announced.
func (s *ISupport) StatusMsg() string { return s.statusMsg }

// TargMax returns how many targets one command may name: limit 0 means no
// limit; known false means the server did not say, and the caller should
// send one target at a time.
func (s *ISupport) TargMax(command string) (limit int, known bool) {
	limit, known = s.targMax[strings.ToUpper(command)]
	return limit, known
}

// Limits returns the parse limits matching LINELEN.
func (s *ISupport) Limits() Limits { return Limits{LineBytes: s.lineLen} }

// Fold folds a nick or channel name under the server's casemapping.
func (s *ISupport) Fold(name string) string { return s.casemap.Fold(name) }

// EqualFold compares two names under the server's casemapping.
func (s *ISupport) EqualFold(a, b string) bool { return s.casemap.EqualFold(a, b) }

// IsChannel reports whether a target names a channel, going by its first
// character and CHANTYPES.
func (s *ISupport) IsChannel(name string) bool {
	return name != "" && strings.IndexByte(s.chanTypes, name[0]) >= 0
}

// ModeType tells how a channel mode letter takes its parameter.
func (s *ISupport) ModeType(mode byte) ModeType { return s.chanModes.Type(mode) }

// PrefixForMode returns the prefix character for a membership mode ('o'
// gives '@').
func (s *ISupport) PrefixForMode(mode byte) (byte, bool) {
	if i := strings.IndexByte(s.prefixModes, mode); i >= 0 {
		return s.prefixChars[i], true
	}
	return 0, false
}

// ModeForPrefix returns the membership mode for a prefix character ('@'
// gives 'o').
func (s *ISupport) ModeForPrefix(prefix byte) (byte, bool) {
	if i := strings.IndexByte(s.prefixChars, prefix); i >= 0 {
		return s.prefixModes[i], true
	}
	return 0, false
}

// Rank orders membership modes: 0 for the highest in PREFIX, growing
// down the list, and -1 for a letter that is not a membership mode. Power
// level mapping sorts by it.
func (s *ISupport) Rank(mode byte) int {
	return strings.IndexByte(s.prefixModes, mode)
}
