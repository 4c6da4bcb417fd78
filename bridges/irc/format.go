package irc

import (
	"context"
	"fmt"
	"html"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// mentionFunc resolves a nick written in IRC text to the Matrix user it
// stands for (a puppet's user), with the name to show in the pill.
type mentionFunc func(nick string) (id.UserID, bool)

// ircToHTML converts IRC text: body is the text without formatting codes,
// html is set only when there was formatting or a mention to show.
func ircToHTML(text string, mention mentionFunc) (body, htmlText string, mentions []id.UserID) {
	body = ircproto.StripFormatting(text)
	var b strings.Builder
	rich := false
	for _, span := range ircproto.ParseFormatting(text) {
		inner, ms := linkMentions(span.Text, mention)
		mentions = append(mentions, ms...)
		if !span.Style.IsPlain() {
			rich = true
		}
		open, closing := styleTags(span.Style)
		b.WriteString(open)
		b.WriteString(inner)
		b.WriteString(closing)
	}
	if !rich && len(mentions) == 0 {
		return body, "", nil
	}
	return body, b.String(), mentions
}

// styleTags opens and closes the HTML for one IRC style.
func styleTags(s ircproto.Style) (open, closing string) {
	var o, c []string
	wrap := func(tag string) {
		o = append(o, "<"+tag+">")
		c = append([]string{"</" + tag + ">"}, c...)
	}
	if s.Bold {
		wrap("strong")
	}
	if s.Italic {
		wrap("em")
	}
	if s.Underline {
		wrap("u")
	}
	if s.Strikethrough {
		wrap("del")
	}
	if s.Monospace {
		wrap("code")
	}
	fg, bg := s.Fg.Hex(), s.Bg.Hex()
	if s.Reverse {
		// Reverse swaps the client's colours; unset ones are taken to be
		// black on white, the common default.
		if fg == "" {
			fg = "#000000"
		}
		if bg == "" {
			bg = "#ffffff"
		}
		fg, bg = bg, fg
	}
	if fg != "" || bg != "" {
		attrs := ""
		if fg != "" {
			attrs += fmt.Sprintf(` data-mx-color="%s"`, fg)
		}
		if bg != "" {
			attrs += fmt.Sprintf(` data-mx-bg-color="%s"`, bg)
		}
		o = append(o, "<span"+attrs+">")
		c = append([]string{"</span>"}, c...)
	}
	return strings.Join(o, ""), strings.Join(c, "")
}

// linkMentions escapes text for HTML and turns nicks of Matrix users into
// pills. A nick is a run of nick characters, so "alice[m]:" and
// "(alice[m])" both find alice[m].
func linkMentions(text string, mention mentionFunc) (string, []id.UserID) {
	if mention == nil {
		return html.EscapeString(text), nil
	}
	var b strings.Builder
	var found []id.UserID
	i := 0
	for i < len(text) {
		if !isNickByte(text[i], true) {
			j := i + 1
			for j < len(text) && !isNickByte(text[j], true) {
				j++
			}
			b.WriteString(html.EscapeString(text[i:j]))
			i = j
			continue
		}
		j := i + 1
		for j < len(text) && isNickByte(text[j], false) {
			j++
		}
		word := text[i:j]
		if user, ok := mention(word); ok {
			fmt.Fprintf(&b, `<a href="%s">%s</a>`, user.URI().MatrixToURL(), html.EscapeString(word))
			found = append(found, user)
		} else {
			b.WriteString(html.EscapeString(word))
		}
		i = j
	}
	return b.String(), found
}

// pillFunc gives the IRC text for a Matrix user pill: their puppet's
// nick, a ghost's nick, or the name shown.
type pillFunc func(user id.UserID, shown string) string

// htmlToIRC converts Matrix HTML to IRC formatting codes.
func htmlToIRC(htmlText string, pill pillFunc) string {
	toggle := func(code byte) format.TextConverter {
		return func(s string, _ format.Context) string {
			if s == "" {
				return ""
			}
			return string(code) + s + string(code)
		}
	}
	parser := &format.HTMLParser{
		TabsToSpaces:   4,
		Newline:        "\n",
		HorizontalLine: "\n---\n",
		PillConverter: func(displayname, mxid, eventID string, ctx format.Context) string {
			if strings.HasPrefix(mxid, "@") && pill != nil {
				return pill(id.UserID(mxid), displayname)
			}
			return format.DefaultPillConverter(displayname, mxid, eventID, ctx)
		},
		BoldConverter:          toggle(ircproto.FmtBold),
		ItalicConverter:        toggle(ircproto.FmtItalic),
		StrikethroughConverter: toggle(ircproto.FmtStrikethrough),
		UnderlineConverter:     toggle(ircproto.FmtUnderline),
		MonospaceConverter:     toggle(ircproto.FmtMonospace),
		MonospaceBlockConverter: func(code, _ string, _ format.Context) string {
			return strings.TrimRight(code, "\n")
		},
		SpoilerConverter: func(text, reason string, _ format.Context) string {
			// Black on black: readable by selecting it, as in most clients.
			if reason != "" {
				reason = "(" + reason + ") "
			}
			return reason + "\x0301,01" + text + "\x03"
		},
		ColorConverter: func(text, fg, bg string, _ format.Context) string {
			code := ""
			if n, ok := nearestColor(fg); ok {
				code = fmt.Sprintf("%02d", n)
			}
			if n, ok := nearestColor(bg); ok {
				if code == "" {
					code = "99"
				}
				code += fmt.Sprintf(",%02d", n)
			}
			if code == "" {
				return text
			}
			return "\x03" + code + text + "\x03"
		},
	}
	return parser.Parse(event.TrimReplyFallbackHTML(htmlText), format.NewContext(context.Background()))
}

// nearestColor maps "#rrggbb" to the closest of the 16 colours every IRC
// client knows.
func nearestColor(hex string) (int, bool) {
	var r, g, b int
	if len(hex) != 7 || hex[0] != '#' {
		return 0, false
	}
	if _, err := fmt.Sscanf(hex[1:], "%02x%02x%02x", &r, &g, &b); err != nil {
		return 0, false
	}
	best, bestDist := 0, -1
	for i := 0; i < 16; i++ {
		rgb, _ := ircproto.PaletteColor(i).RGB()
		dr, dg, db := r-int(rgb>>16), g-int(rgb>>8&0xff), b-int(rgb&0xff)
		if d := dr*dr + dg*dg + db*db; bestDist < 0 || d < bestDist {
			best, bestDist = i, d
		}
	}
	return best, true
}

// ircToMatrix converts a PRIVMSG/NOTICE/ACTION text for the core, with
// nicks of puppeted Matrix users as pills.
func (n *Network) ircToMatrix(text string, msgType event.MessageType) *bridge.Content {
	body, htmlText, mentions := ircToHTML(text, n.mentionOf)
	return &bridge.Content{MsgType: msgType, Body: body, HTML: htmlText, Mentions: mentions}
}

// mentionOf resolves a nick to the Matrix user whose puppet has it.
func (n *Network) mentionOf(nick string) (id.UserID, bool) {
	if p := n.puppetByNick(nick); p != nil {
		return p.mxid, true
	}
	return "", false
}

// pillText is the IRC text for a pill of a Matrix user or ghost.
func (n *Network) pillText(user id.UserID, shown string) string {
	if remote, ok := n.ghosts.RemoteID(user); ok {
		return n.bot.realNick(remote)
	}
	if p := n.existingPuppet(user); p != nil {
		if c := p.conn.current(); c != nil {
			return c.Nick()
		}
	}
	if shown != "" {
		return shown
	}
	return user.Localpart()
}
