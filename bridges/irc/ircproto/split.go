package ircproto

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxHostLen is the longest host name (RFC 1123); with NICKLEN and the
// user name it bounds the prefix a server puts on our lines.
const MaxHostLen = 63

// Splitter cuts text into PRIVMSG or NOTICE lines that the server will
// relay whole. The server prefixes each line with ":nick!user@host " when
// relaying it, and truncates what goes past the line limit, so the budget
// for text is the limit minus that prefix, the command, the target and
// the framing.
type Splitter struct {
	// Command is PRIVMSG (the default when empty) or NOTICE.
	Command string
	Target  string
	// PrefixLen is the longest "nick!user@host" the server may put in
	// front, '!' and '@' included. When the host is not known yet, use
	// NICKLEN + len(user) + 1 (ident '~') + MaxHostLen + 2.
	PrefixLen int
	// LineLen is the line limit with CRLF (ISUPPORT LINELEN); 0 means 512.
	LineLen int
	// Action frames every line as a CTCP ACTION (/me), so a long emote
	// stays an emote on every line.
	Action bool
}

// SplitText splits text for "PRIVMSG target" lines no longer than
// maxLineBytes (CRLF included, 0 meaning 512) after the server adds a
// prefix of up to prefixLen bytes. See Splitter.Split.
func SplitText(target, text string, maxLineBytes, prefixLen int) ([]string, error) {
	return Splitter{Target: target, LineLen: maxLineBytes, PrefixLen: prefixLen}.Split(text)
}

// budget is how many bytes of text fit in one line.
func (s Splitter) budget() int {
	lineLen := s.LineLen
	if lineLen <= 0 {
		lineLen = MaxLineBytes
	}
	cmd := s.Command
	if cmd == "" {
		cmd = "PRIVMSG"
	}
	// ":" prefix " " command " " target " :" text "\r\n"
	n := lineLen - (1 + s.PrefixLen + 1 + len(cmd) + 1 + len(s.Target) + 2 + 2)
	if s.Action {
		n -= len("\x01ACTION \x01")
	}
	return n
}

// Split returns the texts of the lines to send, in order.
//
// Line breaks (LF, CRLF or CR) start a new line and empty lines are
// dropped, since servers refuse empty messages. A line too long for the
// budget is cut at the last space that fits, that space being dropped;
// a word longer than a whole line is cut between characters, never
// inside a UTF-8 sequence, before a combining mark or joiner, or inside
// a colour code. Invalid UTF-8 becomes U+FFFD, and NUL and \x01 are
// removed: \x01 would let Matrix text forge CTCP requests.
//
// With Action set, each text is already framed as "\x01ACTION …\x01".
// It fails with ErrSplitBudget when the target and prefix leave less
// than one character's worth of room.
func (s Splitter) Split(text string) ([]string, error) {
	budget := s.budget()
	if budget < utf8.UTFMax {
		return nil, fmt.Errorf("%w: %d bytes left for target %q", ErrSplitBudget, budget, s.Target)
	}
	text = cleanText(text)
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		for _, p := range splitLine(line, budget) {
			if s.Action {
				out = append(out, Action(p.text))
			} else {
				out = append(out, p.text)
			}
		}
	}
	return out, nil
}

// Messages is Split with each text wrapped in its PRIVMSG or NOTICE.
func (s Splitter) Messages(text string) ([]*Message, error) {
	texts, err := s.Split(text)
	if err != nil {
		return nil, err
	}
	cmd := s.Command
	if cmd == "" {
		cmd = "PRIVMSG"
	}
	out := make([]*Message, len(texts))
	for i, t := range texts {
		out[i] = NewMessage(cmd, s.Target, t)
	}
	return out, nil
}

// cleanText makes text valid UTF-8, turns CRLF and CR into LF, and drops
// NUL and \x01.
func cleanText(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(text, "\r\n", "\n")
		text = strings.ReplaceAll(text, "\r", "\n")
	}
	if strings.ContainsAny(text, "\x00\x01") {
		text = strings.NewReplacer("\x00", "", "\x01", "").Replace(text)
	}
	return text
}

// piece is one line's text; spaceAfter records that the cut dropped a
// space after it, so that joining pieces gives the line back.
type piece struct {
	text       string
	spaceAfter bool
}

// splitLine cuts one line (no line breaks) into pieces of at most budget
// bytes. An empty line gives no pieces.
func splitLine(line string, budget int) []piece {
	var out []piece
	for len(line) > budget {
		// A space at index budget still works: it is the one dropped.
		if i := strings.LastIndexByte(line[:budget+1], ' '); i > 0 {
			out = append(out, piece{text: line[:i], spaceAfter: true})
			line = line[i+1:]
			continue
		}
		cut := hardCut(line, budget)
		out = append(out, piece{text: line[:cut]})
		line = line[cut:]
	}
	if line != "" {
		out = append(out, piece{text: line})
	}
	return out
}

// hardCut picks where to cut a line with no usable space: at most max
// bytes in, on a rune boundary, not in front of a rune that belongs to
// the one before it, and not inside a colour code. Each refinement is
// given up if it would leave nothing before the cut. len(line) > max >=
// utf8.UTFMax.
func hardCut(line string, max int) int {
	cut := max
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	if c := clusterStart(line, cut); c > 0 {
		cut = c
	}
	if c := codeStart(line, cut, max); c > 0 {
		cut = c
	}
	return cut
}

// clusterStart moves a cut back while the rune after it extends the rune
// before it: combining marks, joiners, variation selectors, skin tones,
// tag characters, and the second half of a flag.
func clusterStart(line string, cut int) int {
	for cut > 0 && cut < len(line) {
		r, _ := utf8.DecodeRuneInString(line[cut:])
		prev, size := utf8.DecodeLastRuneInString(line[:cut])
		if isRegionalIndicator(prev) && isRegionalIndicator(r) {
			// Flags are pairs of regional indicators, so only an odd count
			// before the cut means it falls inside one.
			if regionalIndicatorsBefore(line, cut)%2 == 0 {
				break
			}
		} else if !extendsCluster(prev, r) {
			break
		}
		cut -= size
	}
	return cut
}

func extendsCluster(prev, r rune) bool {
	switch {
	case prev == '\u200d', r == '\u200d': // zero-width joiner
		return true
	case r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef: // variation selectors
		return true
	case r >= 0x1f3fb && r <= 0x1f3ff: // emoji skin tone modifiers
		return true
	case r >= 0xe0020 && r <= 0xe007f: // tag characters (subdivision flags)
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc)
}

// regionalIndicatorsBefore counts the regional indicators that end at cut.
func regionalIndicatorsBefore(line string, cut int) int {
	n := 0
	for cut > 0 {
		r, size := utf8.DecodeLastRuneInString(line[:cut])
		if !isRegionalIndicator(r) {
			break
		}
		n++
		cut -= size
	}
	return n
}

func isRegionalIndicator(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }

// codeStart moves a cut that falls inside a colour code ("\x0312,04" or
// "\x04RRGGBB") to the code's start, so the digits are not split from
// their code and shown as text, or read as a colour on the next line.
// If the code starts the line, the cut moves past the code when that
// still fits in max.
func codeStart(line string, cut, max int) int {
	const longest = len("\x04RRGGBB,RRGGBB")
	for j := cut - 1; j >= 0 && j > cut-longest; j-- {
		if line[j] != FmtColor && line[j] != FmtHexColor {
			continue
		}
		_, n := scanCode(line, j)
		switch {
		case j+n <= cut:
			return cut
		case j > 0:
			return j
		case n <= max:
			return n
		}
		return cut
	}
	return cut
}
