package irc

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
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

// A puppet whose wanted nick (the chosen one, or the template's) was taken
// when it registered, or when it asked for it, is on a fallback ("nick_").
// It asks for the wanted nick again at once when it sees the holder leave
// (QUIT, or NICK to another nick, in a channel they share), and otherwise
// every regainDelay, growing to regainMaxWait: the holder is often the
// puppet's own ghost, an earlier connection the server has not yet timed
// out after a network blip or a bridge restart.

const (
	regainFirstWait = time.Minute
	regainMaxWait   = 10 * time.Minute
)

// nickRegain is the puppet's timer for asking for its nick again on conn.
type nickRegain struct {
	conn  *Conn
	timer *time.Timer
	tries int
}

// regainDelay is the wait before the next NICK after tries ones, with
// ±25 % jitter so that the puppets a netsplit left on fallbacks do not
// all ask in the same second.
func (n *Network) regainDelay(tries int) time.Duration {
	base := n.regainWait
	if base <= 0 {
		base = regainFirstWait
	}
	return doubling(base, max(regainMaxWait, base), tries+1, rand.Float64()) //nolint:gosec // jitter needs no crypto
}

// keepNick asks for the wanted nick when the connection has another: at
// once when it is not the one the connection registered with (the display
// name changed meanwhile), and then on the regain timer.
func (p *Puppet) keepNick(c *Conn) {
	nick := p.wantedNick()
	if c.IsMe(nick) {
		p.stopRegain(c)
		return
	}
	if nick != c.cfg.reg.Nick {
		p.askNick(c, nick)
	}
	p.armRegain(c)
}

// armRegain starts the regain timer for c unless it runs already.
func (p *Puppet) armRegain(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.regain != nil && p.regain.conn == c {
		return
	}
	p.stopRegainLocked()
	if c.Err() != nil {
		return // closed: onDown ran or is about to, and nothing stops a timer started now
	}
	r := &nickRegain{conn: c}
	if last := p.lastRegain; last != nil && last.conn == c {
		r.tries = last.tries + 1
	}
	r.timer = time.AfterFunc(p.net.regainDelay(r.tries), func() { p.regainTick(r) })
	p.regain = r
}

// stopRegain stops the regain timer of c, leaving another connection's.
func (p *Puppet) stopRegain(c *Conn) {
	p.mu.Lock()
	if p.regain != nil && p.regain.conn == c {
		p.stopRegainLocked()
	}
	p.mu.Unlock()
}

// stopRegainLocked stops the regain timer. Call with p.mu held.
func (p *Puppet) stopRegainLocked() {
	if p.regain != nil {
		p.regain.timer.Stop()
		p.lastRegain, p.regain = p.regain, nil
	}
}

// regainTick asks for the wanted nick and sets the next try.
func (p *Puppet) regainTick(r *nickRegain) {
	p.mu.Lock()
	if p.regain != r {
		p.mu.Unlock()
		return
	}
	if r.conn.Err() != nil || p.net.ctx.Err() != nil {
		p.regain = nil
		p.mu.Unlock()
		return
	}
	r.tries++
	r.timer.Reset(p.net.regainDelay(r.tries))
	// Added under p.mu: onDown stops the timer under it before the
	// network's Stop waits for the group.
	p.net.wg.Add(1)
	p.mu.Unlock()
	defer p.net.wg.Done()
	nick := p.wantedNick()
	if r.conn.IsMe(nick) {
		// The wanted nick came to be this one (a display name change).
		p.stopRegain(r.conn)
		return
	}
	_ = r.conn.Send(p.net.ctx, ircproto.NewMessage("NICK", nick))
}

// askNick sends NICK without holding up the caller (the reader, often).
func (p *Puppet) askNick(c *Conn, nick string) {
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		_ = c.Send(p.net.ctx, ircproto.NewMessage("NICK", nick))
	}()
}

// nickFreed is the puppet seeing old quit (nick "") or change nick to
// nick: when old is the nick it waits for, it asks for it now. Reader.
func (p *Puppet) nickFreed(c *Conn, old, nick string) {
	p.mu.Lock()
	waiting := p.regain != nil && p.regain.conn == c
	p.mu.Unlock()
	if !waiting {
		return // the common case, and the cheap one: most QUITs are nobody's nick
	}
	is := c.ISupport()
	wanted := p.wantedNick()
	if !is.EqualFold(old, wanted) || is.EqualFold(nick, wanted) || c.IsMe(wanted) {
		return
	}
	p.askNick(c, wanted)
}

// ownNickChanged follows the connection's own NICK: the network's index
// of puppet nicks, the regain timer, and what the user sees (status, and
// the stored nick when it follows the template). Reader.
func (p *Puppet) ownNickChanged(c *Conn, old, nick string) {
	p.net.setPuppetNick(p, old, nick)
	wanted := p.wantedNick()
	has := c.ISupport().EqualFold(nick, wanted)
	p.mu.Lock()
	// The "nick" command sets the state itself once the choice is saved.
	changing := p.nickWanted != "" && c.ISupport().EqualFold(nick, p.nickWanted)
	chosen := p.row.Chosen
	if has && !chosen {
		p.row.Nick = wanted
	}
	p.mu.Unlock()
	switch {
	case has || changing:
		p.stopRegain(c)
	default:
		// Not the nick asked for (services renamed us, say): ask again.
		p.armRegain(c)
	}
	if !changing {
		// Here rather than on a goroutine: onDown, on this goroutine too,
		// comes after, so a lost connection never shows as connected.
		p.setState(bridge.StateConnected, p.connectedText(c))
	}
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		if has && !chosen {
			if err := p.net.store.saveNick(p.net.ctx, p.mxid, nick); err != nil {
				p.log().Warn().Err(err).Msg("Failed to save nick")
			}
		}
		p.saveLoginNick(nick)
	}()
}

// nickRefused handles the server refusing a NICK after registration. The
// "nick" command takes its refusal as its answer; a refusal of the wanted
// nick is told once, and the nick asked for again later, unless the
// server will never take it.
func (p *Puppet) nickRefused(c *Conn, m *ircproto.Message) {
	refused := m.Params[1]
	is := c.ISupport()
	p.mu.Lock()
	asked := p.nickWanted != "" && is.EqualFold(p.nickWanted, refused)
	p.mu.Unlock()
	wanted := p.wantedNick()
	if asked || !is.EqualFold(refused, wanted) {
		return // the command's answer, or a nick no longer wanted
	}
	if m.Command == ircproto.ERR_ERRONEUSNICKNAME {
		p.stopRegain(c)
		p.tellTaken(wanted, fmt.Sprintf("You keep the IRC nick %s: the server does not accept %s (%s).", c.Nick(), wanted, m.Trailing()))
		return
	}
	p.armRegain(c)
	p.tellTaken(wanted, fmt.Sprintf("You keep the IRC nick %s for now: %s is not available (%s). The bridge asks for it again until it is free.",
		c.Nick(), wanted, m.Trailing()))
}

// tellTaken tells the user, once per nick, that they cannot have it.
func (p *Puppet) tellTaken(nick, text string) {
	folded := p.net.fold(nick)
	p.mu.Lock()
	told := p.toldTaken == folded
	p.toldTaken = folded
	p.mu.Unlock()
	if !told {
		p.net.notify(p.mxid, text)
	}
}

// connectedText is the state's message while connected: the nick, the
// wanted one while the connection has another, and a refused login.
func (p *Puppet) connectedText(c *Conn) string {
	s := "as " + c.Nick()
	if wanted := p.wantedNick(); !c.IsMe(wanted) {
		s += fmt.Sprintf(" (%s is taken; asking for it again until it is free)", wanted)
	}
	if r := c.SASLRefusal(); r != "" {
		s += ", not identified: " + r
	}
	return s
}
