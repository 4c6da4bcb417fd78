package mrkdwn

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// This file converts what a Slack message carries besides its text: Block
// Kit blocks (https://api.slack.com/reference/block-kit/blocks) and
// secondary attachments
// (https://api.slack.com/reference/messaging/attachments). Slack clients
// show a message's blocks rather than its text when it has both (the text
// is then "a fallback string to display in notifications",
// https://api.slack.com/methods/chat.postMessage#text_usage), so the
// bridge does the same whenever it understood every block.

// MessageToMatrix converts a whole message: its blocks when it has blocks
// and they say everything, else its text (with what blocks there are when
// there is no text), then its attachments. Link previews Slack added
// (unfurls) are left out when there is anything else to show: Matrix
// clients make their own.
func MessageToMatrix(m *slack.Msg, r *Resolver) Message {
	if r == nil {
		r = &Resolver{}
	}
	c := &toMatrix{r: r}
	var parts []part
	blocks, complete := c.blockList(m.Blocks.BlockSet)
	switch {
	case len(blocks) > 0 && (complete || m.Text == ""):
		parts = blocks
	case m.Text != "":
		parts = []part{{plain: c.plain(m.Text), html: c.blocks(m.Text)}}
	}
	shown := len(parts) > 0
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if shown && isUnfurl(a) {
			continue
		}
		parts = append(parts, c.attachment(a)...)
	}
	return c.message(parts)
}

// isUnfurl tells a link preview Slack attached to a message
// (https://api.slack.com/reference/messaging/link-unfurling: unfurls carry
// the URL they preview in from_url or original_url; message unfurls are
// marked is_msg_unfurl) from an attachment someone posted.
func isUnfurl(a *slack.Attachment) bool {
	return a.FromURL != "" || a.OriginalURL != "" || a.IsMsgUnfurl
}

// part is one block-level piece of a converted message: a paragraph, a
// list, a quote. Parts are put one under the other (see message).
type part struct{ plain, html string }

func textPart(s string) part {
	return part{plain: s, html: plainAsHTML(s)}
}

// message joins parts into a Message: a line apart in plain text, and in
// HTML a <br> apart unless a block element already separates them. HTML
// that says nothing more than the plain text is left out, as ToMatrix does.
func (c *toMatrix) message(parts []part) Message {
	var plain, body strings.Builder
	prev := ""
	for _, p := range parts {
		if p.plain == "" && p.html == "" {
			continue
		}
		if plain.Len() > 0 {
			plain.WriteByte('\n')
			if !endsBlock(prev) && !startsBlock(p.html) {
				body.WriteString("<br>")
			}
		}
		plain.WriteString(p.plain)
		body.WriteString(p.html)
		prev = p.html
	}
	msg := Message{Plain: plain.String(), Mentions: c.mentions, RoomMention: c.roomMention}
	if h := body.String(); h != plainAsHTML(msg.Plain) {
		msg.HTML = h
	}
	return msg
}

var blockOpeners = []string{"<blockquote>", "<pre>", "<ul>", "<ol>", "<ol ", "<h3>", "<hr>"}
var blockClosers = []string{"</blockquote>", "</pre>", "</ul>", "</ol>", "</h3>", "<hr>"}

func startsBlock(h string) bool {
	for _, t := range blockOpeners {
		if strings.HasPrefix(h, t) {
			return true
		}
	}
	return false
}

func endsBlock(h string) bool {
	for _, t := range blockClosers {
		if strings.HasSuffix(h, t) {
			return true
		}
	}
	return false
}

// blockList converts blocks; complete is false when a block or a rich
// text element was not understood, so that the caller falls back to the
// message text, which Slack requires to say the same.
func (c *toMatrix) blockList(blocks []slack.Block) (parts []part, complete bool) {
	complete = true
	for _, b := range blocks {
		p, ok := c.block(b)
		parts = append(parts, p...)
		complete = complete && ok
	}
	return parts, complete
}

// block converts one block, following the block's reference page
// (https://api.slack.com/reference/block-kit/blocks#NAME). Interactive
// blocks (buttons, inputs) have nothing to read and are left out; files
// come with the message's files.
func (c *toMatrix) block(b slack.Block) ([]part, bool) {
	switch b := b.(type) {
	case *slack.RichTextBlock:
		return c.richText(b.Elements)
	case *slack.SectionBlock:
		// #section: text, and fields shown in columns (here, lines).
		var parts []part
		if b.Text != nil {
			parts = append(parts, c.textObject(b.Text))
		}
		for _, f := range b.Fields {
			parts = append(parts, c.textObject(f))
		}
		return parts, true
	case *slack.HeaderBlock:
		// #header: plain_text in a larger, bold font.
		if b.Text == nil || b.Text.Text == "" {
			return nil, true
		}
		t := c.textObject(b.Text)
		return []part{{plain: t.plain, html: "<h3>" + t.html + "</h3>"}}, true
	case *slack.ContextBlock:
		// #context: small text and images on one line; images are icons
		// and are left out.
		var plain, body []string
		for _, e := range b.ContextElements.Elements {
			if t, ok := e.(*slack.TextBlockObject); ok && t.Text != "" {
				p := c.textObject(t)
				plain, body = append(plain, p.plain), append(body, p.html)
			}
		}
		if len(plain) == 0 {
			return nil, true
		}
		return []part{{plain: strings.Join(plain, " "), html: strings.Join(body, " ")}}, true
	case *slack.DividerBlock:
		return []part{{plain: "---", html: "<hr>"}}, true
	case *slack.ImageBlock:
		// #image: the image itself is not copied; its title or alt text
		// links to it.
		label := b.AltText
		if b.Title != nil && b.Title.Text != "" {
			label = b.Title.Text
		}
		if label == "" {
			label = "image"
		}
		return []part{{plain: label, html: link(b.ImageURL, html.EscapeString(label))}}, true
	case *slack.MarkdownBlock:
		// #markdown: standard Markdown, shown as written.
		return []part{textPart(b.Text)}, true
	case *slack.ActionBlock, *slack.InputBlock, *slack.FileBlock, *slack.CallBlock, *slack.ContextActionsBlock:
		return nil, true
	}
	return nil, false
}

// textObject converts a text object
// (https://api.slack.com/reference/block-kit/composition-objects#text):
// mrkdwn like message text, plain_text as it is but for emoji shortcodes
// when "emoji" is not false.
func (c *toMatrix) textObject(t *slack.TextBlockObject) part {
	if t.Type == slack.MarkdownType {
		return part{plain: c.plain(t.Text), html: c.blocks(t.Text)}
	}
	s := t.Text
	if t.Emoji == nil || *t.Emoji {
		s = c.shortcodes(s)
	}
	return textPart(s)
}

// shortcodes replaces the :emoji: the resolver knows.
func (c *toMatrix) shortcodes(s string) string {
	if !strings.Contains(s, ":") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == ':' {
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

// link is an HTML link to u with the given (escaped) label, or the label
// alone when u may not be linked.
func link(u, label string) string {
	if !linkable(u) {
		return label
	}
	return `<a href="` + html.EscapeString(u) + `">` + label + `</a>`
}

// richText converts the elements of a rich_text block
// (https://api.slack.com/reference/block-kit/blocks#rich_text): sections,
// lists (consecutive ones nest by their indent), quotes and preformatted
// text.
func (c *toMatrix) richText(elems []slack.RichTextElement) ([]part, bool) {
	var parts []part
	complete := true
	var list *listWriter
	for _, e := range elems {
		if l, ok := e.(*slack.RichTextList); ok {
			if list == nil {
				list = &listWriter{}
			}
			complete = list.add(c, l) && complete
			continue
		}
		if list != nil {
			parts = append(parts, list.done())
			list = nil
		}
		switch e := e.(type) {
		case *slack.RichTextSection:
			plain, body, ok := c.richInline(e.Elements, false)
			complete = complete && ok
			// A section before a list or quote ends with the newline the
			// user typed; the block element breaks the line already.
			plain = strings.TrimSuffix(plain, "\n")
			body = strings.TrimSuffix(body, "<br>")
			parts = append(parts, part{plain: plain, html: body})
		case *slack.RichTextQuote:
			plain, body, ok := c.richInline(e.Elements, false)
			complete = complete && ok
			plain = "> " + strings.ReplaceAll(strings.TrimSuffix(plain, "\n"), "\n", "\n> ")
			parts = append(parts, part{plain: plain, html: "<blockquote>" + strings.TrimSuffix(body, "<br>") + "</blockquote>"})
		case *slack.RichTextPreformatted:
			plain, body, ok := c.richInline(e.Elements, true)
			complete = complete && ok
			parts = append(parts, part{plain: "```\n" + plain + "\n```", html: "<pre><code>" + body + "</code></pre>"})
		default:
			complete = false
		}
	}
	if list != nil {
		parts = append(parts, list.done())
	}
	return parts, complete
}

// listWriter writes consecutive rich_text_list elements as one list,
// nesting those with a deeper indent inside the item before them
// (https://api.slack.com/reference/block-kit/blocks#rich_text_list:
// "indent", "offset").
type listWriter struct {
	plain []string
	body  strings.Builder
	open  []openList // innermost last; its last <li> is still open
}

type openList struct {
	indent int
	tag    string
}

func (w *listWriter) add(c *toMatrix, l *slack.RichTextList) bool {
	if len(l.Elements) == 0 {
		return true
	}
	tag := "ul"
	if l.Style == slack.RTEListOrdered {
		tag = "ol"
	}
	for len(w.open) > 0 {
		top := w.open[len(w.open)-1]
		if top.indent < l.Indent {
			break
		}
		if top.indent == l.Indent && top.tag == tag {
			break
		}
		w.close()
	}
	if n := len(w.open); n == 0 || w.open[n-1].indent < l.Indent {
		if tag == "ol" && l.Offset > 0 {
			fmt.Fprintf(&w.body, `<ol start="%d">`, l.Offset+1)
		} else {
			w.body.WriteString("<" + tag + ">")
		}
		w.open = append(w.open, openList{indent: l.Indent, tag: tag})
	} else {
		w.body.WriteString("</li>") // the item before this one
	}
	complete := true
	for i, item := range l.Elements {
		var plain, body string
		ok := true
		if s, isSection := item.(*slack.RichTextSection); isSection {
			plain, body, ok = c.richInline(s.Elements, false)
		} else {
			ok = false
		}
		complete = complete && ok
		if i > 0 {
			w.body.WriteString("</li>")
		}
		w.body.WriteString("<li>" + strings.TrimSuffix(body, "<br>"))
		marker := "• "
		if tag == "ol" {
			marker = strconv.Itoa(l.Offset+i+1) + ". "
		}
		w.plain = append(w.plain, strings.Repeat("    ", max(l.Indent, 0))+marker+strings.TrimSuffix(plain, "\n"))
	}
	return complete
}

// close ends the innermost open list.
func (w *listWriter) close() {
	top := w.open[len(w.open)-1]
	w.open = w.open[:len(w.open)-1]
	w.body.WriteString("</li></" + top.tag + ">")
}

func (w *listWriter) done() part {
	for len(w.open) > 0 {
		w.close()
	}
	return part{plain: strings.Join(w.plain, "\n"), html: w.body.String()}
}

// richInline converts the elements of a rich text section, quote or list
// item (https://api.slack.com/reference/block-kit/blocks#element-types).
// Inside preformatted text (pre) styles and links are not marked up.
// complete is false when an element was not understood and had no text
// to show.
func (c *toMatrix) richInline(elems []slack.RichTextSectionElement, pre bool) (string, string, bool) {
	var plain, body strings.Builder
	complete := true
	for _, e := range elems {
		p, h, style, ok := c.richElement(e)
		complete = complete && ok
		if pre {
			plain.WriteString(p)
			body.WriteString(html.EscapeString(p))
			continue
		}
		p, h = styled(p, h, style)
		plain.WriteString(p)
		body.WriteString(h)
	}
	return plain.String(), body.String(), complete
}

// richElement converts one inline element to plain text and HTML, with
// the style to apply to it.
func (c *toMatrix) richElement(e slack.RichTextSectionElement) (string, string, *slack.RichTextSectionTextStyle, bool) {
	switch e := e.(type) {
	case *slack.RichTextSectionTextElement:
		return e.Text, strings.ReplaceAll(html.EscapeString(e.Text), "\n", "<br>"), e.Style, true
	case *slack.RichTextSectionLinkElement:
		label := firstNonEmpty(e.Text, e.URL)
		return label, link(e.URL, html.EscapeString(label)), e.Style, true
	case *slack.RichTextSectionUserElement:
		r := c.parseRef("@" + e.UserID)
		return r.text, c.refToHTML(r), e.Style, true
	case *slack.RichTextSectionChannelElement:
		r := c.parseRef("#" + e.ChannelID)
		return r.text, c.refToHTML(r), e.Style, true
	case *slack.RichTextSectionUserGroupElement:
		r := c.parseRef("!subteam^" + e.UsergroupID)
		return r.text, c.refToHTML(r), e.Style, true
	case *slack.RichTextSectionBroadcastElement:
		// "range": here, channel or everyone; all three ping the room.
		r := c.parseRef("!" + e.Range)
		return r.text, c.refToHTML(r), e.Style, true
	case *slack.RichTextSectionEmojiElement:
		s := c.richEmoji(e)
		return s, html.EscapeString(s), e.Style, true
	case *slack.RichTextSectionDateElement:
		s := time.Unix(int64(e.Timestamp), 0).UTC().Format("2006-01-02 15:04 UTC")
		if e.Fallback != nil && *e.Fallback != "" {
			s = *e.Fallback
		}
		h := html.EscapeString(s)
		if e.URL != nil {
			h = link(*e.URL, h)
		}
		return s, h, e.Style, true
	case *slack.RichTextSectionColorElement:
		return e.Value, html.EscapeString(e.Value), e.Style, true
	case *slack.RichTextSectionTeamElement:
		return e.TeamID, html.EscapeString(e.TeamID), e.Style, true
	}
	// Newer elements that name something (a canvas, a file, a message, a
	// workflow) carry its text and often a URL to it.
	if text, u, style := namedElement(e); text != "" || u != "" {
		label := firstNonEmpty(text, u)
		return label, link(u, html.EscapeString(label)), style, true
	}
	return "", "", nil, false
}

// namedElement reads the text and URL of the elements that have them.
func namedElement(e slack.RichTextSectionElement) (string, string, *slack.RichTextSectionTextStyle) {
	switch e := e.(type) {
	case *slack.RichTextSectionTagElement:
		return e.Text, "", e.Style
	case *slack.RichTextSectionCanvasElement:
		return e.Text, e.URL, e.Style
	case *slack.RichTextSectionFileElement:
		return e.Text, e.URL, e.Style
	case *slack.RichTextSectionMessageMentionElement:
		return e.Text, e.URL, e.Style
	case *slack.RichTextSectionAttachmentMentionElement:
		return e.Text, e.URL, e.Style
	case *slack.RichTextSectionWorkflowMentionElement:
		return e.Text, e.URL, e.Style
	case *slack.RichTextSectionWorkObjectMentionElement:
		return e.Text, e.URL, e.Style
	case *slack.RichTextSectionListRecordElement:
		return e.Text, e.URL, e.Style
	}
	return "", "", nil
}

// richEmoji is an emoji element as Unicode: by name (with its skin tone)
// through the resolver, else from its "unicode" code points ("1f44d" or
// "1f468-200d-1f4bb"), else its :name:.
func (c *toMatrix) richEmoji(e *slack.RichTextSectionEmojiElement) string {
	if c.r.Emoji != nil {
		name := e.Name
		if e.SkinTone > 0 {
			name += "::skin-tone-" + strconv.Itoa(e.SkinTone)
		}
		if u, ok := c.r.Emoji(name); ok {
			return u
		}
	}
	if e.Unicode != "" {
		var b strings.Builder
		for _, hex := range strings.Split(e.Unicode, "-") {
			n, err := strconv.ParseUint(hex, 16, 32)
			if err != nil || n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) {
				b.Reset()
				break
			}
			b.WriteRune(rune(n))
		}
		if b.Len() > 0 {
			return b.String()
		}
	}
	return ":" + e.Name + ":"
}

// styled applies a text style: in plain text with the mrkdwn characters
// a Slack user would type, in HTML with tags.
func styled(plain, body string, st *slack.RichTextSectionTextStyle) (string, string) {
	if st == nil || plain == "" {
		return plain, body
	}
	wrap := func(on bool, delim, tag string) {
		if on {
			plain = delim + plain + delim
			body = "<" + tag + ">" + body + "</" + tag + ">"
		}
	}
	wrap(st.Code, "`", "code")
	wrap(st.Strike, "~", "del")
	wrap(st.Italic, "_", "em")
	wrap(st.Bold, "*", "strong")
	if st.Underline {
		body = "<u>" + body + "</u>"
	}
	return plain, body
}

// attachment converts a secondary attachment
// (https://api.slack.com/reference/messaging/attachments): its pretext,
// then, quoted as Slack shows it beside a coloured bar, its author, title
// (linked), text, fields and blocks. An attachment with none of these is
// its "fallback", the plain-text summary meant for clients like this one.
func (c *toMatrix) attachment(a *slack.Attachment) []part {
	var out, inner []part
	if a.Pretext != "" {
		out = append(out, part{plain: c.plain(a.Pretext), html: c.blocks(a.Pretext)})
	}
	if a.AuthorName != "" {
		inner = append(inner, textPart(a.AuthorName))
	}
	if a.Title != "" {
		inner = append(inner, part{plain: a.Title, html: "<strong>" + link(a.TitleLink, html.EscapeString(a.Title)) + "</strong>"})
	}
	if a.Text != "" {
		inner = append(inner, part{plain: c.plain(a.Text), html: c.blocks(a.Text)})
	}
	for _, f := range a.Fields {
		title := textPart(f.Title)
		value := part{plain: c.plain(f.Value), html: c.blocks(f.Value)}
		if f.Title == "" {
			inner = append(inner, value)
			continue
		}
		inner = append(inner, part{plain: title.plain + ": " + value.plain, html: "<strong>" + title.html + "</strong>: " + value.html})
	}
	blocks, _ := c.blockList(a.Blocks.BlockSet)
	inner = append(inner, blocks...)
	if a.Footer != "" {
		inner = append(inner, part{plain: c.plain(a.Footer), html: c.blocks(a.Footer)})
	}
	if len(inner) == 0 && len(out) == 0 {
		if a.Fallback == "" {
			return nil
		}
		return []part{textPart(a.Fallback)}
	}
	if len(inner) > 0 {
		q := c.message(inner)
		body := q.HTML
		if body == "" {
			body = plainAsHTML(q.Plain)
		}
		out = append(out, part{plain: q.Plain, html: "<blockquote>" + body + "</blockquote>"})
	}
	return out
}
