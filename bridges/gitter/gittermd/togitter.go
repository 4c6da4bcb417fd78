package gittermd

import (
	"context"
	"regexp"
	"strings"

	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"
)

// UserResolver maps a Matrix user in a pill to a Gitter username (without
// "@"): ghosts of Gitter users, and Matrix users logged in to Gitter. It
// returns false for others, whose pill becomes their display name.
type UserResolver func(mxid id.UserID) (username string, ok bool)

// replyFallback is the quoted original that Matrix clients put in front of
// a reply's HTML (spec: "Fallbacks for rich replies"); Gitter has no such
// quoting, so it goes.
var replyFallback = regexp.MustCompile(`(?s)<mx-reply>.*?</mx-reply>`)

// ToGitter converts a Matrix message to Gitter markdown: from its HTML when
// it has some, else its plain body as it is (plain Matrix text is what the
// sender typed, and Gitter shows it the same).
func ToGitter(body, formatted string, resolve UserResolver) string {
	if formatted == "" {
		return body
	}
	formatted = replyFallback.ReplaceAllString(formatted, "")
	p := htmlParser(resolve)
	// mautrix's parser flattens tables into run-on text; GFM has pipe
	// tables, so top-level tables are converted here and the HTML
	// around them by the parser.
	var parts []string
	for _, chunk := range splitTables(formatted) {
		var md string
		if chunk.table != nil {
			md = tableToMarkdown(chunk.table, p)
		} else {
			md = p.Parse(chunk.html, format.NewContext(context.Background()))
		}
		if md != "" {
			parts = append(parts, md)
		}
	}
	return strings.Join(parts, "\n\n")
}

func htmlParser(resolve UserResolver) *format.HTMLParser {
	return &format.HTMLParser{
		TabsToSpaces:   4,
		Newline:        "\n",
		HorizontalLine: "---",
		PillConverter: func(displayname, mxid, eventID string, ctx format.Context) string {
			if strings.HasPrefix(mxid, "@") && eventID == "" {
				if resolve != nil {
					if name, ok := resolve(id.UserID(mxid)); ok {
						return "@" + name
					}
				}
				// displayname went through TextConverter already.
				return displayname
			}
			return format.DefaultPillConverter(displayname, mxid, eventID, ctx)
		},
		LinkConverter: func(text, href string, _ format.Context) string {
			if text == href || text == escapeText(href) {
				return "<" + href + ">"
			}
			return "[" + text + "](" + strings.ReplaceAll(href, ")", "%29") + ")"
		},
		// Gitter markdown has no underline; the words stay, plain.
		UnderlineConverter: func(s string, _ format.Context) string { return s },
		TextConverter: func(s string, ctx format.Context) string {
			if ctx.TagStack.Has("code") || ctx.TagStack.Has("pre") {
				return s
			}
			return escapeText(s)
		},
	}
}

// mdSpecial are the characters that would change meaning in Gitter
// markdown if a Matrix user's plain text held them: emphasis, code,
// strikethrough, links and the escape itself. A mention-like "@name" in
// plain text is left alone: typing it is how Matrix users mention too.
var mdSpecial = strings.NewReplacer(
	`\`, `\\`,
	"`", "\\`",
	`*`, `\*`,
	`_`, `\_`,
	`~`, `\~`,
	`[`, `\[`,
	`]`, `\]`,
)

func escapeText(s string) string { return mdSpecial.Replace(s) }

// Escape makes plain text show as it is in Gitter markdown, such as the
// name a relayed message is posted under.
func Escape(s string) string { return escapeText(s) }
