package mrkdwn

import (
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Resolver answers the questions the converters cannot answer alone. Any
// field may be nil; a nil Resolver is allowed too.
type Resolver struct {
	// User returns the Matrix user ID ("" when the Slack user has none)
	// and the name to show for a Slack user ID.
	User func(slackID string) (mxid, name string)
	// Channel returns the Matrix room (alias or ID, "" when not bridged)
	// and the name to show for a Slack conversation ID.
	Channel func(slackID string) (room, name string)
	// Emoji returns the Unicode of a shortcode name (without colons).
	Emoji func(name string) (string, bool)
	// SlackUser returns the Slack user ID of a Matrix user ID in a pill,
	// "" when the Matrix user stands for nobody on Slack.
	SlackUser func(mxid string) string
	// SlackChannel returns the Slack conversation ID of a Matrix room
	// alias or ID in a link, "" when the room is not a Slack portal.
	SlackChannel func(room string) string
	// RoomMention says that an "@room" in Matrix text notifies the room,
	// so FromMatrix writes it as <!channel>: the event's m.mentions.room,
	// or, for an event without m.mentions, Matrix's legacy rule that
	// notifies on the word (https://spec.matrix.org/v1.11/client-server-api/#default-override-rules,
	// .m.rule.roomnotif).
	RoomMention bool
}

// Message is a Slack message converted for Matrix.
type Message struct {
	// Plain is the body: the text as a Slack user reads it, with
	// references shown by name and entities decoded.
	Plain string
	// HTML is the formatted body, "" when the text has no formatting.
	HTML string
	// Mentions are the Matrix users the message mentions (m.mentions).
	Mentions []string
	// RoomMention is set for <!here>, <!channel> and <!everyone>.
	RoomMention bool
}

const matrixTo = "https://matrix.to/#/"

// ToMatrix converts Slack message text to Matrix plain text and HTML.
func ToMatrix(text string, r *Resolver) Message {
	if r == nil {
		r = &Resolver{}
	}
	c := &toMatrix{r: r}
	plain := c.plain(text)
	body := c.blocks(text)
	msg := Message{Plain: plain, Mentions: c.mentions, RoomMention: c.roomMention}
	if body != plainAsHTML(plain) {
		msg.HTML = body
	}
	return msg
}

// plainAsHTML is what the HTML of an unformatted text looks like; when the
// converted HTML equals it, sending it would add nothing.
func plainAsHTML(plain string) string {
	return strings.ReplaceAll(html.EscapeString(plain), "\n", "<br>")
}

type toMatrix struct {
	r           *Resolver
	mentions    []string
	roomMention bool
}

// plain renders references by name, replaces emoji shortcodes and decodes
// Slack's three entities; formatting characters stay as typed.
func (c *toMatrix) plain(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			if j := strings.IndexByte(s[i:], '>'); j > 0 {
				b.WriteString(c.refText(s[i+1 : i+j]))
				i += j + 1
				continue
			}
		case '&':
			if ent, dec := entityAt(s, i); ent != "" {
				b.WriteString(dec)
				i += len(ent)
				continue
			}
		case ':':
			if code, n := c.emojiAt(s, i); n > 0 {
				b.WriteString(code)
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// blocks splits the text into preformatted blocks and the rest.
func (c *toMatrix) blocks(s string) string {
	var b strings.Builder
	for {
		start := strings.Index(s, "```")
		if start < 0 {
			break
		}
		end := strings.Index(s[start+3:], "```")
		if end < 0 {
			break
		}
		b.WriteString(c.lines(strings.TrimSuffix(s[:start], "\n")))
		pre := s[start+3 : start+3+end]
		pre = strings.TrimPrefix(strings.TrimSuffix(pre, "\n"), "\n")
		b.WriteString("<pre><code>" + html.EscapeString(c.codeText(pre)) + "</code></pre>")
		s = strings.TrimPrefix(s[start+3+end+3:], "\n")
	}
	b.WriteString(c.lines(s))
	return b.String()
}

var orderedItem = regexp.MustCompile(`^(\d{1,9})\. `)

// lineKind classifies a line for grouping into Matrix block elements.
type lineKind int

const (
	textLine lineKind = iota
	quoteLine
	bulletLine
	orderedLine
)

func classify(line string) (lineKind, string) {
	for _, q := range []string{"&gt; ", "&gt;", "> ", ">"} {
		if strings.HasPrefix(line, q) {
			return quoteLine, line[len(q):]
		}
	}
	for _, bullet := range []string{"• ", "◦ ", "- "} {
		if strings.HasPrefix(line, bullet) {
			return bulletLine, line[len(bullet):]
		}
	}
	if m := orderedItem.FindStringSubmatch(line); m != nil {
		return orderedLine, line[len(m[0]):]
	}
	return textLine, line
}

// lines groups consecutive lines of one kind: quotes into a blockquote,
// list items into a list, text lines joined with <br> (a group of text
// always follows a block element or nothing, so groups need no separator).
// "&gt;&gt;&gt;" quotes everything after it.
func (c *toMatrix) lines(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	all := strings.Split(s, "\n")
	for i := 0; i < len(all); {
		if rest, ok := cutAny(all[i], "&gt;&gt;&gt;", ">>>"); ok {
			all[i] = strings.TrimPrefix(rest, " ")
			b.WriteString("<blockquote>" + c.joinInline(all[i:]) + "</blockquote>")
			break
		}
		kind, _ := classify(all[i])
		j := i
		var items []string
		for j < len(all) {
			k, content := classify(all[j])
			if k != kind {
				break
			}
			if _, triple := cutAny(all[j], "&gt;&gt;&gt;", ">>>"); triple && j > i {
				break
			}
			if kind == textLine {
				content = all[j]
			}
			items = append(items, content)
			j++
		}
		switch kind {
		case quoteLine:
			b.WriteString("<blockquote>" + c.joinInline(items) + "</blockquote>")
		case bulletLine, orderedLine:
			tag := "ul"
			if kind == orderedLine {
				tag = "ol"
			}
			b.WriteString("<" + tag + ">")
			for _, it := range items {
				b.WriteString("<li>" + c.inline(it, 0) + "</li>")
			}
			b.WriteString("</" + tag + ">")
		default:
			b.WriteString(c.joinInline(items))
		}
		i = j
	}
	return b.String()
}

func cutAny(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return s, false
}

func (c *toMatrix) joinInline(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = c.inline(l, 0)
	}
	return strings.Join(out, "<br>")
}

var delimTags = map[byte]string{'*': "strong", '_': "em", '~': "del"}

// maxNesting bounds emphasis inside emphasis; Slack itself renders only a
// few levels.
const maxNesting = 4

// noClosingDelim is what closingDelim answers when it searched the rest of
// the line and found no closer; other negative answers mean the delimiter
// could not open at all.
const noClosingDelim = -2

// inline converts one line: references, code spans, emphasis, entities.
// Emphasis follows Slack's rule that a delimiter opens only after a
// non-word character and closes only before one, so snake_case_names and
// 2*3*4 stay as they are.
//
// Two limits keep hostile text linear enough: emphasis nests at most
// maxNesting deep (deeper delimiters stay text), and once a search for a
// closing delimiter fails, later openers of that kind on the line do not
// search again, since no closer lies after the first one either.
func (c *toMatrix) inline(s string, depth int) string {
	var b strings.Builder
	noCloser := map[byte]bool{}
	for i := 0; i < len(s); {
		ch := s[i]
		switch ch {
		case '<':
			if j := strings.IndexByte(s[i:], '>'); j > 0 {
				b.WriteString(c.refHTML(s[i+1 : i+j]))
				i += j + 1
				continue
			}
			b.WriteString("&lt;")
			i++
			continue
		case '>':
			b.WriteString("&gt;")
			i++
			continue
		case '&':
			if ent, dec := entityAt(s, i); ent != "" {
				b.WriteString(html.EscapeString(dec))
				i += len(ent)
				continue
			}
			b.WriteString("&amp;")
			i++
			continue
		case '`':
			if j := strings.IndexByte(s[i+1:], '`'); j > 0 {
				b.WriteString("<code>" + html.EscapeString(c.codeText(s[i+1:i+1+j])) + "</code>")
				i += j + 2
				continue
			}
		case '*', '_', '~':
			if depth >= maxNesting || noCloser[ch] {
				break
			}
			if k := closingDelim(s, i); k > 0 {
				tag := delimTags[ch]
				b.WriteString("<" + tag + ">" + c.inline(s[i+1:k], depth+1) + "</" + tag + ">")
				i = k + 1
				continue
			} else if k == noClosingDelim {
				noCloser[ch] = true
			}
		case ':':
			if code, n := c.emojiAt(s, i); n > 0 {
				b.WriteString(code)
				i += n
				continue
			}
		case '"', '\'':
			b.WriteString(html.EscapeString(string(ch)))
			i++
			continue
		}
		b.WriteByte(ch)
		i++
	}
	return b.String()
}

// closingDelim returns the index of the delimiter closing the one at i, -1
// when the delimiter cannot open here, or noClosingDelim. The span skips over references and code, which cannot hold the
// closing delimiter.
func closingDelim(s string, i int) int {
	d := s[i]
	if i+1 >= len(s) || isSpace(s[i+1]) || s[i+1] == d {
		return -1
	}
	if i > 0 {
		if prev, _ := utf8.DecodeLastRuneInString(s[:i]); isWord(prev) || prev == rune(d) {
			return -1
		}
	}
	for k := i + 1; k < len(s); k++ {
		switch s[k] {
		case '<':
			if j := strings.IndexByte(s[k:], '>'); j > 0 {
				k += j
			}
			continue
		case '`':
			if j := strings.IndexByte(s[k+1:], '`'); j > 0 {
				k += j + 1
			}
			continue
		case d:
			if isSpace(s[k-1]) {
				continue
			}
			if k+1 < len(s) {
				if next, _ := utf8.DecodeRuneInString(s[k+1:]); isWord(next) {
					continue
				}
			}
			return k
		}
	}
	return noClosingDelim
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' }

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// entities are the three Slack escapes
// (https://api.slack.com/reference/surfaces/formatting#escaping).
var entities = [...][2]string{{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}}

func entityAt(s string, i int) (entity, decoded string) {
	for _, e := range entities {
		if strings.HasPrefix(s[i:], e[0]) {
			return e[0], e[1]
		}
	}
	return "", ""
}

func decodeEntities(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}

var emojiName = regexp.MustCompile(`^:([a-z0-9_+'-]+(?:::skin-tone-[2-6])?):`)

// emojiAt replaces a :shortcode: at i when the resolver knows it.
func (c *toMatrix) emojiAt(s string, i int) (string, int) {
	if c.r.Emoji == nil {
		return "", 0
	}
	m := emojiName.FindStringSubmatch(s[i:])
	if m == nil {
		return "", 0
	}
	if code, ok := c.r.Emoji(m[1]); ok {
		return code, len(m[0])
	}
	return "", 0
}

// codeText is the text of code: references are shown by name (as Slack
// clients do inside code), entities decoded, nothing else interpreted.
func (c *toMatrix) codeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '<' {
			if j := strings.IndexByte(s[i:], '>'); j > 0 {
				b.WriteString(c.refText(s[i+1 : i+j]))
				i += j + 1
				continue
			}
		}
		if ent, dec := entityAt(s, i); ent != "" {
			b.WriteString(dec)
			i += len(ent)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// ref is a parsed <...> reference.
type ref struct {
	kind   byte // '@' user, '#' channel, '!' special, 0 link
	id     string
	label  string
	target string // Matrix ID or URL to link to, "" for plain text
	text   string // what is shown
}

// parseRef reads the inside of <...> following
// https://api.slack.com/reference/surfaces/formatting#advanced.
func (c *toMatrix) parseRef(s string) ref {
	body, label, _ := strings.Cut(s, "|")
	label = decodeEntities(label)
	switch {
	case strings.HasPrefix(body, "@"):
		r := ref{kind: '@', id: body[1:], label: label}
		mxid, name := "", ""
		if c.r.User != nil {
			mxid, name = c.r.User(r.id)
		}
		if name == "" {
			name = firstNonEmpty(strings.TrimPrefix(label, "@"), r.id)
		}
		r.target = mxid
		if mxid != "" {
			r.text = name
		} else {
			r.text = "@" + name
		}
		return r
	case strings.HasPrefix(body, "#"):
		r := ref{kind: '#', id: body[1:], label: label}
		room, name := "", ""
		if c.r.Channel != nil {
			room, name = c.r.Channel(r.id)
		}
		r.target = room
		r.text = "#" + firstNonEmpty(name, label, r.id)
		return r
	case strings.HasPrefix(body, "!"):
		r := ref{kind: '!', id: body[1:], label: label}
		switch word, _, _ := strings.Cut(r.id, "^"); word {
		case "here", "channel", "everyone":
			r.text = "@room"
		case "subteam":
			r.text = firstNonEmpty(label, "@"+strings.TrimPrefix(r.id, "subteam^"))
		default: // date^..., and anything newer: the fallback text
			r.text = label
		}
		return r
	}
	url := decodeEntities(body)
	r := ref{label: label, text: firstNonEmpty(label, strings.TrimPrefix(url, "mailto:"))}
	if linkable(url) {
		r.target = url
	}
	return r
}

// linkable says whether a URL may become a link: web and mail URLs only,
// so that no javascript: or data: URL reaches a Matrix client or Slack,
// and nothing with spaces, which no real URL has.
func linkable(u string) bool {
	if strings.ContainsAny(u, " \t\n") {
		return false
	}
	lower := strings.ToLower(u)
	return strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "mailto:")
}

func (c *toMatrix) refText(s string) string { return c.parseRef(s).text }

func (c *toMatrix) refHTML(s string) string { return c.refToHTML(c.parseRef(s)) }

// refToHTML writes a parsed reference as a pill, a link or its text, and
// notes the mentions it makes.
func (c *toMatrix) refToHTML(r ref) string {
	text := html.EscapeString(r.text)
	switch {
	case r.kind == '!' && r.text == "@room":
		c.roomMention = true
		return text
	case r.target == "":
		return text
	case r.kind == '@':
		c.mentions = appendUnique(c.mentions, r.target)
		return `<a href="` + html.EscapeString(matrixTo+r.target) + `">` + text + `</a>`
	case r.kind == '#':
		return `<a href="` + html.EscapeString(matrixTo+r.target) + `">` + text + `</a>`
	}
	return `<a href="` + html.EscapeString(r.target) + `">` + text + `</a>`
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
