package irc

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"maunium.net/go/mautrix/id"
)

// A nick is letters, digits and []\`_^{|}- (RFC 2812), and does not start
// with a digit or '-'. Servers accept more today, but these pass everywhere.
func isNickSpecial(c byte) bool { return strings.IndexByte("[]\\`_^{|}", c) >= 0 }

func isNickByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', isNickSpecial(c):
		return true
	case c >= '0' && c <= '9', c == '-':
		return !first
	}
	return false
}

func validNick(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNickByte(s[i], i == 0) {
			return false
		}
	}
	return true
}

// sanitizeNickPart keeps what a nick may hold of a Matrix display name:
// accents are dropped from letters ("Jöhn" gives "John") so names stay
// recognisable, everything else that a nick cannot hold is removed.
func sanitizeNickPart(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if r < utf8.RuneSelf && isNickByte(byte(r), false) {
			b.WriteRune(r)
		} else if unicode.Is(unicode.Mn, r) {
			continue // a combining accent split off by NFD
		}
	}
	return b.String()
}

// templatePart is one piece of a nick template: fixed text or a
// placeholder's sanitised value.
type templatePart struct {
	text     string
	variable bool
}

// renderNick fills a nick template ("{displayname}[m]") and cuts it to
// maxLen, shortening the variable parts rather than the fixed text so the
// "[m]" marker survives. It returns "" when nothing usable is left.
func renderNick(tmpl, displayname, localpart string, maxLen int) string {
	var parts []templatePart
	rest := tmpl
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			parts = append(parts, templatePart{text: sanitizeNickPart(rest)})
			break
		}
		if i > 0 {
			parts = append(parts, templatePart{text: sanitizeNickPart(rest[:i])})
		}
		switch rest[i+1 : j] {
		case "displayname":
			parts = append(parts, templatePart{text: sanitizeNickPart(displayname), variable: true})
		case "localpart":
			parts = append(parts, templatePart{text: sanitizeNickPart(localpart), variable: true})
		}
		rest = rest[j+1:]
	}
	varLen, fixedLen := 0, 0
	for _, p := range parts {
		if p.variable {
			varLen += len(p.text)
		} else {
			fixedLen += len(p.text)
		}
	}
	if varLen == 0 {
		return ""
	}
	// Cut the variable parts from the end until the whole fits.
	for excess := varLen + fixedLen - maxLen; excess > 0; {
		cut := false
		for i := len(parts) - 1; i >= 0 && excess > 0; i-- {
			if p := &parts[i]; p.variable && p.text != "" {
				n := min(excess, len(p.text))
				p.text = p.text[:len(p.text)-n]
				excess -= n
				cut = true
			}
		}
		if !cut {
			// The fixed text alone is too long: cut it too.
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p.text)
			}
			return fixFirst(b.String()[:maxLen])
		}
	}
	var b strings.Builder
	empty := true
	for _, p := range parts {
		b.WriteString(p.text)
		if p.variable && p.text != "" {
			empty = false
		}
	}
	if empty {
		return ""
	}
	nick := fixFirst(b.String())
	if len(nick) > maxLen {
		nick = nick[:maxLen]
	}
	return nick
}

// fixFirst makes a nick start with a character a nick may start with.
func fixFirst(nick string) string {
	if nick != "" && !isNickByte(nick[0], true) {
		return "_" + nick
	}
	return nick
}

// puppetNick is the nick a Matrix user gets from the template, falling
// back to the localpart and finally to a fixed name when their display
// name has nothing a nick may hold (only emoji, say).
func puppetNick(tmpl, displayname string, user id.UserID, maxLen int) string {
	local := user.Localpart()
	if displayname == "" {
		displayname = local
	}
	if n := renderNick(tmpl, displayname, local, maxLen); n != "" {
		return n
	}
	if n := renderNick(tmpl, local, local, maxLen); n != "" {
		return n
	}
	return renderNick(tmpl, "matrix", "matrix", maxLen)
}

// altNick is the nick to try after attempt failures with nick: "nick_",
// then "nick2", "nick3", ... cut to maxLen.
func altNick(nick string, attempt, maxLen int) string {
	suffix := "_"
	if attempt > 1 {
		suffix = strconv.Itoa(attempt)
	}
	if len(nick)+len(suffix) > maxLen {
		nick = nick[:max(0, maxLen-len(suffix))]
	}
	return fixFirst(nick + suffix)
}

// renderUsername fills the user name template: ASCII letters and digits
// only (ident answers and servers are strict), at most 10 bytes.
func renderUsername(tmpl string, user id.UserID) string {
	s := strings.ReplaceAll(tmpl, "{localpart}", user.Localpart())
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 10; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "matrix"
	}
	return b.String()
}

// renderRealname fills the realname template.
func renderRealname(tmpl string, user id.UserID, displayname string) string {
	r := strings.NewReplacer("{mxid}", string(user), "{displayname}", displayname, "{localpart}", user.Localpart())
	s := strings.Map(func(r rune) rune {
		if r == 0 || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, r.Replace(tmpl))
	if strings.TrimSpace(s) == "" {
		return string(user)
	}
	return s
}
