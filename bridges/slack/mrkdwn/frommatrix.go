package mrkdwn

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// FromMatrixPlain converts a Matrix plain-text body to Slack text: only
// Slack's three escapes apply, so that no "<" in it is read as a
// reference.
func FromMatrixPlain(text string) string {
	return escapeSlack(text)
}

// FromMatrix converts Matrix HTML (formatted_body) to Slack mrkdwn. Pills
// become <@U…> or <#C…> through the resolver; other links <url|text>. The
// reply fallback (mx-reply) is dropped: replies travel as Slack threads or
// not at all.
func FromMatrix(htmlText string, r *Resolver) string {
	if r == nil {
		r = &Resolver{}
	}
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(htmlText), ctx)
	if err != nil {
		// The HTML tokenizer accepts anything; this is only reached on a
		// read error from a strings.Reader, which cannot happen.
		return escapeSlack(htmlText)
	}
	w := &fromMatrix{r: r}
	for _, n := range nodes {
		w.node(n)
	}
	return tidy(w.b.String())
}

type fromMatrix struct {
	r   *Resolver
	b   strings.Builder
	pre int // depth inside <pre>
	// literal is the depth inside code and link labels, where "@room" is
	// text, not a mention: a <!channel> in a label would end the link.
	literal int
	lists   []listState
}

type listState struct {
	ordered bool
	n       int
}

func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// sub renders children into their own buffer, for elements that must wrap
// or prefix what is inside them.
func (w *fromMatrix) sub(n *html.Node) string {
	saved := w.b
	w.b = strings.Builder{}
	w.children(n)
	out := w.b.String()
	w.b = saved
	return out
}

func (w *fromMatrix) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
}

// block makes sure what follows starts on a new line.
func (w *fromMatrix) block() {
	s := w.b.String()
	if s != "" && !strings.HasSuffix(s, "\n") {
		w.b.WriteByte('\n')
	}
}

func (w *fromMatrix) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		text := n.Data
		if w.pre == 0 {
			text = strings.ReplaceAll(text, "\n", " ")
		}
		text = escapeSlack(text)
		if w.r.RoomMention && w.pre == 0 && w.literal == 0 {
			text = RoomMentions(text)
		}
		w.b.WriteString(text)
		return
	case html.ElementNode:
	default:
		w.children(n)
		return
	}
	switch n.Data {
	case "mx-reply", "script", "style":
	case "b", "strong":
		w.wrap(n, "*")
	case "i", "em":
		w.wrap(n, "_")
	case "del", "s", "strike":
		w.wrap(n, "~")
	case "code":
		w.literal++
		if w.pre > 0 {
			w.children(n)
		} else {
			w.wrap(n, "`")
		}
		w.literal--
	case "pre":
		w.block()
		w.pre++
		body := strings.TrimSuffix(w.sub(n), "\n")
		w.pre--
		w.b.WriteString("```" + body + "```\n")
	case "blockquote":
		w.block()
		for _, line := range strings.Split(strings.Trim(w.sub(n), "\n"), "\n") {
			w.b.WriteString("&gt; " + line + "\n")
		}
	case "ul", "ol":
		w.block()
		w.lists = append(w.lists, listState{ordered: n.Data == "ol", n: listStart(n)})
		w.children(n)
		w.lists = w.lists[:len(w.lists)-1]
	case "li":
		w.item(n)
	case "br":
		w.b.WriteByte('\n')
	case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6":
		w.block()
		if len(n.Data) == 2 && n.Data[0] == 'h' {
			w.wrap(n, "*")
		} else {
			w.children(n)
		}
		w.block()
		if n.Data == "p" {
			w.b.WriteByte('\n')
		}
	case "hr":
		w.block()
		w.b.WriteString("———\n")
	case "a":
		w.link(n)
	case "img":
		// Custom emoji and inline images: their alt text, which for
		// emoticons is the :shortcode:.
		w.b.WriteString(escapeSlack(attr(n, "alt")))
	default:
		w.children(n)
	}
}

// wrap puts delimiters around the element's text, outside any spaces at
// its edges: Slack only reads "*x*" as bold when the asterisks touch the
// word.
func (w *fromMatrix) wrap(n *html.Node, d string) {
	inner := w.sub(n)
	trimmed := strings.TrimSpace(inner)
	if trimmed == "" {
		w.b.WriteString(inner)
		return
	}
	lead := inner[:strings.Index(inner, trimmed)]
	trail := inner[len(lead)+len(trimmed):]
	w.b.WriteString(lead + d + trimmed + d + trail)
}

func (w *fromMatrix) item(n *html.Node) {
	w.block()
	depth := len(w.lists)
	marker := "• "
	if depth > 0 {
		top := &w.lists[depth-1]
		if top.ordered {
			marker = strconv.Itoa(top.n) + ". "
			top.n++
		}
	}
	indent := strings.Repeat("    ", max(depth-1, 0))
	body := strings.Trim(w.sub(n), "\n")
	for i, line := range strings.Split(body, "\n") {
		switch {
		case i == 0:
			w.b.WriteString(indent + marker + line + "\n")
		case strings.HasPrefix(line, "    "), strings.HasPrefix(line, "• "), orderedItem.MatchString(line):
			w.b.WriteString(line + "\n") // a nested list, already indented
		default:
			w.b.WriteString(indent + "    " + line + "\n")
		}
	}
}

func listStart(n *html.Node) int {
	if v, err := strconv.Atoi(attr(n, "start")); err == nil {
		return v
	}
	return 1
}

var matrixToLink = regexp.MustCompile(`^https://matrix\.to/#/([@#!][^/?]+)`)

// link writes a pill as a Slack reference when the resolver knows the
// Slack side, a URL as <url|text>, and anything else as its text.
func (w *fromMatrix) link(n *html.Node) {
	href := attr(n, "href")
	w.literal++
	text := w.sub(n)
	w.literal--
	unescaped := href
	if strings.HasPrefix(href, matrixTo) {
		// Clients percent-encode the ID in the fragment or not; both are
		// valid matrix.to links.
		if u, err := url.PathUnescape(href); err == nil {
			unescaped = u
		}
	}
	if m := matrixToLink.FindStringSubmatch(unescaped); m != nil {
		target := m[1]
		switch {
		case target[0] == '@' && w.r.SlackUser != nil:
			if id := w.r.SlackUser(target); id != "" {
				w.b.WriteString("<@" + id + ">")
				return
			}
		case (target[0] == '#' || target[0] == '!') && w.r.SlackChannel != nil:
			if id := w.r.SlackChannel(target); id != "" {
				w.b.WriteString("<#" + id + ">")
				return
			}
		}
		w.b.WriteString(text)
		return
	}
	if !linkable(href) {
		w.b.WriteString(text)
		return
	}
	// A "|" or ">" in the URL would end the reference early.
	safe := strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(href)
	if text == "" || text == escapeSlack(href) || text == escapeSlack(strings.TrimPrefix(href, "mailto:")) {
		w.b.WriteString("<" + escapeSlack(safe) + ">")
		return
	}
	w.b.WriteString("<" + escapeSlack(safe) + "|" + strings.ReplaceAll(text, "|", "¦") + ">")
}

// RoomMentions writes each "@room" of converted Slack text that stands as
// a word of its own as <!channel>, Slack's mention of everyone in the
// conversation (https://api.slack.com/reference/surfaces/formatting#special-mentions).
// "@roommate" and "me@room" stay text.
func RoomMentions(s string) string {
	const word = "@room"
	var b strings.Builder
	done := 0 // s[:done] is written
	for from := 0; ; {
		i := strings.Index(s[from:], word)
		if i < 0 {
			b.WriteString(s[done:])
			return b.String()
		}
		i += from
		end := i + len(word)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if !isWord(before) && before != '_' && !isWord(after) && after != '_' {
			b.WriteString(s[done:i] + "<!channel>")
			done = end
		}
		from = end
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidy trims the blank lines and spaces block elements and wrapped
// delimiters leave at the edges, and collapses runs of blank lines.
func tidy(s string) string {
	return strings.TrimSpace(blankLines.ReplaceAllString(s, "\n\n"))
}
