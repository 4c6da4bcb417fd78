package ircproto

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Line length limits from RFC 1459 and IRCv3 message-tags.
const (
	// MaxTagBytes is the most a received tag section may take, counting
	// the leading '@' and the space after it.
	MaxTagBytes = 8191
	// MaxClientTagBytes is the most tag data a client may send (without
	// the '@' and the trailing space).
	MaxClientTagBytes = 4094
	// MaxLineBytes is the classic limit for the rest of a line: source,
	// command and parameters, with the closing CRLF.
	MaxLineBytes = 512
)

// Message is one IRC line.
//
// Tags hold unescaped values; a tag sent without a value ("@draft/bot")
// has the value "", as IRCv3 makes no difference between the two. Command
// is upper case; numerics stay three-digit strings ("001"), so they compare
// with the RPL_/ERR_ constants. Params holds the middle parameters and the
// trailing one alike: whether the last one was written with ':' is a
// serialisation detail and is not kept.
type Message struct {
	Tags    map[string]string
	Source  Prefix
	Command string
	Params  []string
}

// Prefix is the source of a message: "nick!user@host" for a user, a
// server name, or empty for lines we send.
type Prefix struct {
	// Name is the nick, or the server name when User and Host are empty.
	Name string
	User string
	Host string
}

// NewMessage builds a message to send. The command is upper-cased; nothing
// is validated until Bytes, which is where a bad parameter is reported.
func NewMessage(command string, params ...string) *Message {
	return &Message{Command: upperASCII(command), Params: params}
}

// ParsePrefix splits "nick!user@host". The name ends at the first '!' or
// '@'; the user part runs from '!' to the next '@'. Servers send partial
// forms ("nick", "nick@host") and those parse with the missing parts empty.
func ParsePrefix(s string) Prefix {
	var p Prefix
	end := strings.IndexByte(s, '!')
	if at := strings.IndexByte(s, '@'); at >= 0 && (end < 0 || at < end) {
		end = at
	}
	if end < 0 {
		p.Name = s
		return p
	}
	p.Name, s = s[:end], s[end:]
	if s[0] == '!' {
		s = s[1:]
		at := strings.IndexByte(s, '@')
		if at < 0 {
			p.User = s
			return p
		}
		p.User, s = s[:at], s[at:]
	}
	p.Host = s[1:]
	return p
}

// String gives back the "nick!user@host" form, leaving out empty parts.
func (p Prefix) String() string {
	if p.User == "" && p.Host == "" {
		return p.Name
	}
	return string(appendPrefix(make([]byte, 0, p.len()), p))
}

// The serialisers append to a []byte sized in advance, so Bytes costs one
// allocation per line.
func appendPrefix(b []byte, p Prefix) []byte {
	b = append(b, p.Name...)
	if p.User != "" {
		b = append(b, '!')
		b = append(b, p.User...)
	}
	if p.Host != "" {
		b = append(b, '@')
		b = append(b, p.Host...)
	}
	return b
}

func (p Prefix) len() int {
	n := len(p.Name)
	if p.User != "" {
		n += 1 + len(p.User)
	}
	if p.Host != "" {
		n += 1 + len(p.Host)
	}
	return n
}

// IsZero reports whether the prefix is absent.
func (p Prefix) IsZero() bool { return p == Prefix{} }

// IsServer guesses whether the source is a server rather than a user: a
// server name has no user or host part and contains a dot, which nicks
// may not.
func (p Prefix) IsServer() bool {
	return p.User == "" && p.Host == "" && strings.IndexByte(p.Name, '.') >= 0
}

// Limits are the length limits Parse enforces. The zero value means the
// IRCv3 defaults (MaxTagBytes, MaxLineBytes); a connection that learnt a
// larger LINELEN from RPL_ISUPPORT parses with that instead, so long
// lines from such a server are not refused.
type Limits struct {
	// TagBytes limits the tag section, with its '@' and trailing space.
	TagBytes int
	// LineBytes limits the rest of the line, counted with a CRLF.
	LineBytes int
}

// Parse parses one line received from a server with the default limits.
// See Limits.Parse.
func Parse(line string) (*Message, error) {
	return Limits{}.Parse(line)
}

// Parse parses one line. A trailing CR and/or LF is accepted and dropped,
// runs of spaces count as one separator, the command is upper-cased. A
// NUL, or a CR or LF anywhere but at the end, is refused with
// ErrInvalidByte: such a line was either corrupted or crafted.
func (l Limits) Parse(line string) (*Message, error) {
	tagLimit, lineLimit := l.TagBytes, l.LineBytes
	if tagLimit <= 0 {
		tagLimit = MaxTagBytes
	}
	if lineLimit <= 0 {
		lineLimit = MaxLineBytes
	}

	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if i := indexBreaking(line); i >= 0 {
		return nil, fmt.Errorf("%w: %s at offset %d", ErrInvalidByte, byteName(line[i]), i)
	}
	line = skipSpaces(line)
	if line == "" {
		return nil, ErrEmptyLine
	}

	m := new(Message)
	if line[0] == '@' {
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			if len(line) > tagLimit {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrTagsTooLong, tagLimit)
			}
			return nil, fmt.Errorf("%w: only tags", ErrNoCommand)
		}
		// end counts the '@'; +1 for the space that closes the section.
		if end+1 > tagLimit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTagsTooLong, end+1, tagLimit)
		}
		m.Tags = parseTags(line[1:end])
		line = skipSpaces(line[end+1:])
	}
	if len(line)+2 > lineLimit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrLineTooLong, len(line)+2, lineLimit)
	}
	if line != "" && line[0] == ':' {
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			return nil, fmt.Errorf("%w: only a source", ErrNoCommand)
		}
		m.Source = ParsePrefix(line[1:end])
		line = skipSpaces(line[end+1:])
	}
	if line == "" {
		return nil, ErrNoCommand
	}

	cmd := line
	if end := strings.IndexByte(line, ' '); end >= 0 {
		cmd, line = line[:end], line[end+1:]
	} else {
		line = ""
	}
	if !validCommand(cmd) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidCommand, cmd)
	}
	m.Command = upperASCII(cmd)

	// Count first so Params is allocated once at its final size.
	if n := countParams(line); n > 0 {
		m.Params = make([]string, 0, n)
		for {
			line = skipSpaces(line)
			if line == "" {
				break
			}
			if line[0] == ':' {
				m.Params = append(m.Params, line[1:])
				break
			}
			end := strings.IndexByte(line, ' ')
			if end < 0 {
				m.Params = append(m.Params, line)
				break
			}
			m.Params = append(m.Params, line[:end])
			line = line[end+1:]
		}
	}
	return m, nil
}

func countParams(line string) int {
	n := 0
	for {
		line = skipSpaces(line)
		if line == "" {
			return n
		}
		n++
		if line[0] == ':' {
			return n
		}
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			return n
		}
		line = line[end+1:]
	}
}

// parseTags reads the tag section without its '@'. Empty keys are skipped
// and a repeated key keeps its last value, as the spec asks.
func parseTags(s string) map[string]string {
	var tags map[string]string
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, ";")
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		if tags == nil {
			tags = make(map[string]string, strings.Count(s, ";")+1)
		}
		tags[k] = UnescapeTagValue(v)
	}
	return tags
}

// UnescapeTagValue decodes an IRCv3 tag value: \: is ';', \s is a space,
// \\ a backslash, \r and \n CR and LF. A backslash before any other
// character is dropped and a lone trailing backslash is removed.
func UnescapeTagValue(v string) string {
	i := strings.IndexByte(v, '\\')
	if i < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	b.WriteString(v[:i])
	for ; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(v) {
			break
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// EscapeTagValue encodes a tag value for the wire, the inverse of
// UnescapeTagValue.
func EscapeTagValue(v string) string {
	if !strings.ContainsAny(v, "; \\\r\n") {
		return v
	}
	return string(appendEscapedTagValue(make([]byte, 0, escapedTagValueLen(v)), v))
}

func appendEscapedTagValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			b = append(b, '\\', ':')
		case ' ':
			b = append(b, '\\', 's')
		case '\\':
			b = append(b, '\\', '\\')
		case '\r':
			b = append(b, '\\', 'r')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func escapedTagValueLen(v string) int {
	n := len(v)
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ';', ' ', '\\', '\r', '\n':
			n++
		}
	}
	return n
}

// Param returns parameter i, or "" when there are fewer. Handlers use it
// for optional parameters; required ones are guaranteed by CheckParams.
func (m *Message) Param(i int) string {
	if i < 0 || i >= len(m.Params) {
		return ""
	}
	return m.Params[i]
}

// Trailing returns the last parameter, or "" when there is none.
func (m *Message) Trailing() string {
	if len(m.Params) == 0 {
		return ""
	}
	return m.Params[len(m.Params)-1]
}

// Nick returns the nick (or server name) of the source.
func (m *Message) Nick() string { return m.Source.Name }

// Tag returns a tag's value and whether it was present.
func (m *Message) Tag(key string) (string, bool) {
	v, ok := m.Tags[key]
	return v, ok
}

// SetTag sets a tag, creating the map if needed. An empty value sends the
// tag without '='.
func (m *Message) SetTag(key, value string) {
	if m.Tags == nil {
		m.Tags = make(map[string]string, 1)
	}
	m.Tags[key] = value
}

// Clone returns a deep copy, so a handler may change it without touching
// a message another goroutine still reads.
func (m *Message) Clone() *Message {
	c := *m
	c.Tags = maps.Clone(m.Tags)
	c.Params = slices.Clone(m.Params)
	return &c
}

// Validate reports why the message could not be sent as exactly one line:
// an invalid command, a NUL, CR or LF anywhere, a tag key that would break
// the tag section, a space in the source, or a parameter other than the
// last that is empty, starts with ':' or holds a space. It does not check
// lengths; split text first (SplitText) for that.
func (m *Message) Validate() error {
	if !validCommand(m.Command) {
		return fmt.Errorf("%w: %q", ErrInvalidCommand, m.Command)
	}
	for k, v := range m.Tags {
		if k == "" || strings.ContainsAny(k, " ;=\r\n\x00") {
			return fmt.Errorf("%w: key %q", ErrInvalidTag, k)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%w: NUL in tag %q", ErrInvalidByte, k)
		}
	}
	for _, part := range [...]string{m.Source.Name, m.Source.User, m.Source.Host} {
		if indexBreaking(part) >= 0 || strings.IndexByte(part, ' ') >= 0 {
			return fmt.Errorf("%w: %q", ErrInvalidSource, m.Source.String())
		}
	}
	for i, p := range m.Params {
		if j := indexBreaking(p); j >= 0 {
			return fmt.Errorf("%w: %s in parameter %d", ErrInvalidByte, byteName(p[j]), i)
		}
		if i == len(m.Params)-1 {
			break
		}
		if p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0 {
			return fmt.Errorf("%w: parameter %d (%q) is not last but empty, starts with ':' or has a space", ErrInvalidParam, i, p)
		}
	}
	return nil
}

// Bytes returns the line to send, with its CRLF. It refuses (see Validate)
// rather than repairs a message that would not be exactly one valid line:
// silently changing what a user wrote is worse than telling them.
func (m *Message) Bytes() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := appendMessage(make([]byte, 0, m.encodedLen()+2), m)
	return append(b, '\r', '\n'), nil
}

// String returns the line without CRLF, for logs and tests. It never
// fails: for a message Bytes would refuse, NUL, CR and LF are shown as
// spaces so the result is still one line, but it is not meant to be sent.
// Lines holding credentials should be logged with Redacted.
func (m *Message) String() string {
	b := appendMessage(make([]byte, 0, m.encodedLen()), m)
	for i, c := range b {
		if c == 0 || c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// Redacted is String with secrets hidden: the parameters of PASS,
// AUTHENTICATE and OPER, and anything sent to NickServ, so connection
// logs never carry passwords.
func (m *Message) Redacted() string {
	keep := len(m.Params) // parameters shown before "<redacted>"
	switch m.Command {
	case "PASS", "OPER":
		keep = 0
	case "AUTHENTICATE":
		// The mechanism name, the empty "+" and the abort "*" are not secret.
		switch m.Param(0) {
		case "", "+", "*", "PLAIN", "EXTERNAL":
		default:
			keep = 0
		}
	case "NS", "NICKSERV":
		keep = 0
	case "PRIVMSG":
		if strings.EqualFold(m.Param(0), "NickServ") {
			keep = 1
		}
	case "JOIN":
		// A JOIN we send carries the channel keys second; a server's JOIN
		// (extended-join) carries an account name there, which is not secret.
		if m.Source.Name == "" {
			keep = 1
		}
	case "MODE", RPL_CHANNELMODEIS:
		// Which parameter is the key depends on CHANMODES, unknown here;
		// a change that touches "k" hides all the mode parameters.
		modes := 1
		if m.Command == RPL_CHANNELMODEIS {
			modes = 2
		}
		if strings.IndexByte(m.Param(modes), 'k') >= 0 {
			keep = modes + 1
		}
	}
	if keep >= len(m.Params) {
		return m.String()
	}
	c := *m
	c.Params = append(slices.Clip(m.Params[:keep]), "<redacted>")
	return c.String()
}

// needsColon reports whether the last parameter must be written as
// trailing, with a ':'.
func needsColon(p string) bool {
	return p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0
}

func (m *Message) encodedLen() int {
	n := 0
	if len(m.Tags) > 0 {
		n += 1 // '@'
		for k, v := range m.Tags {
			n += len(k) + 1 // key and ';' or ' '
			if v != "" {
				n += 1 + escapedTagValueLen(v)
			}
		}
	}
	if !m.Source.IsZero() {
		n += 2 + m.Source.len()
	}
	n += len(m.Command)
	for _, p := range m.Params {
		n += 1 + len(p)
	}
	if len(m.Params) > 0 && needsColon(m.Params[len(m.Params)-1]) {
		n++
	}
	return n
}

func appendMessage(b []byte, m *Message) []byte {
	if len(m.Tags) > 0 {
		b = append(b, '@')
		// Sorted so that the same message always gives the same line:
		// tests and logs can compare strings. A small array on the stack
		// holds the keys of a typical message without allocating.
		var buf [8]string
		keys := buf[:0]
		for k := range m.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ';')
			}
			b = append(b, k...)
			if v := m.Tags[k]; v != "" {
				b = append(b, '=')
				b = appendEscapedTagValue(b, v)
			}
		}
		b = append(b, ' ')
	}
	if !m.Source.IsZero() {
		b = append(b, ':')
		b = appendPrefix(b, m.Source)
		b = append(b, ' ')
	}
	b = append(b, m.Command...)
	for i, p := range m.Params {
		b = append(b, ' ')
		if i == len(m.Params)-1 && needsColon(p) {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return b
}

// validCommand accepts letters, or exactly three digits for a numeric.
func validCommand(cmd string) bool {
	if cmd == "" {
		return false
	}
	if isDigit(cmd[0]) {
		return len(cmd) == 3 && isDigit(cmd[1]) && isDigit(cmd[2])
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i] | 0x20 // fold ASCII letters to lower case
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.ToUpper(s)
		}
	}
	return s
}

func skipSpaces(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

// indexBreaking returns the index of the first NUL, CR or LF, or -1.
// Three vectorised IndexByte scans beat one IndexAny by a wide margin on
// lines of a few hundred bytes, and every line goes through here.
func indexBreaking(s string) int {
	i := -1
	for _, c := range [...]byte{0, '\r', '\n'} {
		j := strings.IndexByte(s, c)
		if j >= 0 && (i < 0 || j < i) {
			i = j
			s = s[:j]
		}
	}
	return i
}

func byteName(c byte) string {
	switch c {
	case 0:
		return "NUL"
	case '\r':
		return "CR"
	case '\n':
		return "LF"
	}
	return fmt.Sprintf("%#02x", c)
}

// Sanitize replaces NUL, CR and LF with spaces. Use it on text from
// elsewhere (Matrix) that goes into one parameter when a line break
// should not fail the message; SplitText already treats line breaks as
// separate lines. It works on bytes, so text that is not UTF-8 passes
// through unchanged.
func Sanitize(s string) string {
	if indexBreaking(s) < 0 {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c == 0 || c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}
