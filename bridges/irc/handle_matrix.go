package irc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// outgoing is a Matrix message as IRC will carry it.
type outgoing struct {
	command string // PRIVMSG or NOTICE
	action  bool   // CTCP ACTION (/me)
	text    string // may hold line breaks and IRC formatting
}

// quoteRunes is how much of a replied-to message is quoted.
const quoteRunes = 40

// outgoing converts Matrix content: formatting to IRC codes, pills to
// nicks, media to links, and a reply to "nick: "quote…" text".
func (n *Network) outgoing(ctx context.Context, msg *bridge.MatrixMessage, content *event.MessageEventContent) outgoing {
	c := *content
	c.RemoveReplyFallback()
	if c.RelatesTo.GetReplyTo() != "" && c.Format != event.FormatHTML {
		c.Body = event.TrimReplyFallbackText(c.Body)
	}
	out := outgoing{command: "PRIVMSG"}
	switch c.MsgType {
	case event.MsgEmote:
		out.action = true
	case event.MsgNotice:
		out.command = "NOTICE"
	case event.MsgImage, event.MsgFile, event.MsgVideo, event.MsgAudio, "m.sticker":
		out.action = true
		out.text = n.mediaText(&c)
		return out
	}
	if c.Format == event.FormatHTML && c.FormattedBody != "" {
		out.text = htmlToIRC(c.FormattedBody, n.pillText)
	} else {
		out.text = c.Body
	}
	if msg.ReplyTo != nil && !out.action {
		out.text = n.replyPrefix(ctx, msg) + out.text
	}
	return out
}

// replyPrefix addresses the author of the message replied to, with the
// start of what they said, since IRC has no replies.
func (n *Network) replyPrefix(ctx context.Context, msg *bridge.MatrixMessage) string {
	r := msg.ReplyTo
	var nick string
	if r.RemoteSender != "" {
		nick = n.bot.realNick(string(r.RemoteSender))
	} else {
		nick = n.pillText(r.SenderMXID, "")
	}
	quote := ""
	if text, err := n.mx.EventText(ctx, msg.Portal.MXID, r.EventID); err == nil {
		quote = shortQuote(text)
	}
	if quote == "" {
		return nick + ": "
	}
	return fmt.Sprintf("%s: \"%s\" ", nick, quote)
}

// shortQuote is the first line of text, cut to quoteRunes with "…".
func shortQuote(text string) string {
	line, _, more := strings.Cut(strings.TrimSpace(ircproto.StripFormatting(text)), "\n")
	line = strings.TrimSpace(line)
	if utf8.RuneCountInString(line) > quoteRunes {
		runes := []rune(line)
		return strings.TrimSpace(string(runes[:quoteRunes])) + "…"
	}
	if more {
		return line + "…"
	}
	return line
}

// mediaText links to a file on the homeserver's media repository.
func (n *Network) mediaText(c *event.MessageEventContent) string {
	what := map[event.MessageType]string{event.MsgImage: "an image", event.MsgVideo: "a video", event.MsgAudio: "audio", "m.sticker": "a sticker"}[c.MsgType]
	if what == "" {
		what = "a file"
	}
	name := c.FileName
	if name == "" {
		name = c.Body
	}
	url := string(c.URL)
	if c.File != nil {
		url = string(c.File.URL)
	}
	if parsed, err := id.ParseContentURI(url); err == nil {
		url = fmt.Sprintf("%s/_matrix/media/v3/download/%s/%s", strings.TrimRight(n.cfg.MediaURL, "/"), parsed.Homeserver, parsed.FileID)
		if name != "" {
			url += "/" + strings.ReplaceAll(name, " ", "%20")
		}
	}
	if c.File != nil {
		// An encrypted file cannot be read by following a link.
		return fmt.Sprintf("sent %s (%s), encrypted: open it in Matrix", what, name)
	}
	return fmt.Sprintf("sent %s: %s", what, url)
}

// fitLines splits text into lines that fit, and cuts a message past
// limits.max_lines: without a paste service, its last line links to the
// whole message in Matrix.
func (n *Network) fitLines(sp ircproto.Splitter, text string, msg *bridge.MatrixMessage) ([]*ircproto.Message, error) {
	lines, err := sp.Messages(text)
	if err != nil {
		return nil, err
	}
	max := n.cfg.Limits.MaxLines
	if len(lines) <= max {
		return lines, nil
	}
	link := fmt.Sprintf("https://matrix.to/#/%s/%s", msg.Portal.MXID, msg.Event.ID)
	tail := fmt.Sprintf("(%d more lines: %s)", len(lines)-(max-1), link)
	tailSp := sp
	tailSp.Action = false
	last, err := tailSp.Messages(tail)
	if err != nil {
		return nil, err
	}
	return append(lines[:max-1], last...), nil
}

// target returns where a portal's messages go and a connection that may
// send there: the channel (joined first) or the DM partner's nick.
func (p *Puppet) target(ctx context.Context, portal *bridge.Portal) (string, *Conn, error) {
	if portal.Key.Receiver != "" {
		c, err := p.up(ctx)
		if err != nil {
			return "", nil, err
		}
		return p.net.bot.realNick(string(portal.Key.Chat)), c, nil
	}
	channel := string(portal.Key.Chat)
	p.net.bot.hold(channel)
	c, err := p.ensureJoined(ctx, channel)
	if err != nil {
		return "", nil, err
	}
	return channel, c, nil
}

// HandleMatrixMessage sends a Matrix message as the user's puppet. A
// message split into several lines that fails half way is resumed, not
// repeated, when the core retries it.
func (p *Puppet) HandleMatrixMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	p.learnName(ctx, msg.Portal)
	out := p.net.outgoing(ctx, msg, msg.Content)
	if err := p.deliver(ctx, msg, out); err != nil {
		return nil, err
	}
	return &bridge.MessageResult{ID: bridge.MessageID("mx-" + msg.Event.ID.String())}, nil
}

// deliver sends on the current connection; when that one closes under it
// (an idle timeout, a kill) it goes on with the next, from the first line
// not yet sent.
func (p *Puppet) deliver(ctx context.Context, msg *bridge.MatrixMessage, out outgoing) error {
	for attempt := 0; ; attempt++ {
		target, c, err := p.target(ctx, msg.Portal)
		if err != nil {
			return err
		}
		err = p.send(ctx, c, target, out, msg)
		if err == nil || attempt == 2 || !errors.Is(err, ErrNotConnected) || ctx.Err() != nil {
			return err
		}
	}
}

// send sends a message's lines, then waits for the server to have handled
// them (Conn.fence), so that a refusal (404 in a +m channel, 401 for a
// nick that left) fails the message in Matrix, where the user sees it,
// instead of vanishing. That costs one PING per message.
func (p *Puppet) send(ctx context.Context, c *Conn, target string, out outgoing, msg *bridge.MatrixMessage) error {
	sp := ircproto.Splitter{Command: out.command, Target: target, PrefixLen: c.prefixLen(), LineLen: c.ISupport().LineLen(), Action: out.action}
	lines, err := p.net.fitLines(sp, out.text, msg)
	if err != nil {
		return fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
	}
	key := msg.Event.ID
	p.mu.Lock()
	done := p.sent[key]
	p.mu.Unlock()
	refusal := p.watchRefusals(target)
	defer refusal()
	for i := done; i < len(lines); i++ {
		if err := c.Send(ctx, lines[i]); err != nil {
			p.mu.Lock()
			if p.sent == nil {
				p.sent = map[id.EventID]int{}
			}
			p.sent[key] = i
			p.mu.Unlock()
			return err
		}
	}
	p.mu.Lock()
	delete(p.sent, key)
	p.mu.Unlock()
	p.touch()
	if err := c.fence(ctx); err != nil {
		if ctx.Err() != nil {
			// Given up on (the bridge stopping) with every line written
			// to a live connection: a replay could say it twice.
			return nil
		}
		// Every line was written, but the connection closed or went
		// quiet (a half-open link, which fence closes) before the server
		// confirmed it got them. Whether it did cannot be told: a server
		// that restarts may have relayed them, a dead link swallowed
		// them. Sending again could say them twice, counting them
		// delivered could lose them, so the user is told and decides.
		p.log().Warn().Err(err).Str("target", target).Msg("No answer after a message; reporting it as maybe lost")
		return errMaybeLost
	}
	if why := refusal(); why != "" {
		return &refusedError{target: target, text: why}
	}
	return nil
}

// watchRefusals makes the puppet's handler keep the server's refusal of
// lines sent to target (see refused) until the returned function is
// called; that returns the refusal's words, "" when none came. A target
// has one watch at a time: a portal's events are handled one by one.
func (p *Puppet) watchRefusals(target string) func() string {
	folded := strings.Clone(p.net.fold(target))
	p.mu.Lock()
	if p.refusals == nil {
		p.refusals = map[string]string{}
	}
	p.refusals[folded] = ""
	p.mu.Unlock()
	return func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		why := p.refusals[folded]
		delete(p.refusals, folded)
		if len(p.refusals) == 0 {
			p.refusals = nil // an idle puppet keeps no map
		}
		return why
	}
}

// refused records the server's refusal of lines to target while
// someone watches for it, and reports whether one was watching.
func (p *Puppet) refused(target, text string) bool {
	folded := p.net.fold(target)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, waiting := p.refusals[folded]; !waiting {
		return false
	}
	if text == "" {
		text = "refused"
	}
	p.refusals[folded] = text
	return true
}

// learnName picks up the user's display name before the first connect,
// so the first nick is already the right one.
func (p *Puppet) learnName(ctx context.Context, portal *bridge.Portal) {
	p.mu.Lock()
	known := p.displayname != ""
	p.mu.Unlock()
	if !known {
		p.setDisplayName(p.net.mx.DisplayName(ctx, portal.MXID, p.mxid))
	}
}

// HandleMatrixEdit sends the corrected text once, marked with "* " the
// way people correct themselves on IRC.
func (p *Puppet) HandleMatrixEdit(ctx context.Context, edit *bridge.MatrixEdit) error {
	out := p.net.outgoing(ctx, &edit.MatrixMessage, edit.Content)
	out.text = "* " + out.text
	return p.deliver(ctx, &edit.MatrixMessage, out)
}

// HandleMatrixMembership follows the user into and out of channels, and
// turns their kicks and bans of ghosts into KICK and MODE +b. A puppet
// without the rank to do that is refused before anything is sent
// (mayRemove), and so is one whose lines the server refuses (482 or 484,
// when the bot's view of ranks was behind): the core then brings the
// ghost back and tells the user why.
func (p *Puppet) HandleMatrixMembership(ctx context.Context, m *bridge.MatrixMembership) error {
	if m.Portal.Key.Receiver != "" {
		return nil
	}
	channel := string(m.Portal.Key.Chat)
	if m.Target == "" {
		switch m.Membership {
		case event.MembershipJoin:
			if mc := m.Event.Content.AsMember(); mc != nil {
				p.setDisplayName(mc.Displayname)
			}
			if m.Previous != event.MembershipJoin {
				p.net.bot.hold(channel)
				p.enterChannel(ctx, channel, p.net.cfg.Puppets.ConnectOnJoin)
			}
		case event.MembershipLeave, event.MembershipBan:
			p.leaveChannel(ctx, channel, "left the Matrix room")
		}
		return nil
	}
	if m.Membership != event.MembershipLeave && m.Membership != event.MembershipBan {
		return nil
	}
	c, err := p.ensureJoined(ctx, channel)
	if err != nil {
		return err
	}
	nick := p.net.bot.realNick(string(m.Target))
	ban := m.Membership == event.MembershipBan || m.Previous == event.MembershipBan
	if err := p.net.bot.mayRemove(c.ISupport(), channel, c.Nick(), nick, ban); err != nil {
		return err
	}
	reason := ircproto.Sanitize(m.Reason)
	if reason == "" {
		reason = "Kicked from Matrix"
	}
	unban := m.Membership == event.MembershipLeave && m.Previous == event.MembershipBan
	var lines []*ircproto.Message
	switch {
	case unban:
		lines = append(lines, ircproto.NewMessage("MODE", channel, "-b", nick+"!*@*"))
	case ban:
		lines = append(lines, ircproto.NewMessage("MODE", channel, "+b", nick+"!*@*"))
	}
	// Only someone in the room is kicked: a ban of someone who left, an
	// unban or a withdrawn invite is a mode change or nothing on IRC.
	if m.Previous == event.MembershipJoin {
		lines = append(lines, ircproto.NewMessage("KICK", channel, nick, reason))
	}
	if len(lines) == 0 {
		return nil
	}
	return p.sendChannelChange(ctx, c, channel, lines...)
}

// sendChannelChange sends lines that change a channel (MODE, KICK, TOPIC)
// and waits for the server to have handled them, so that a refusal (482
// when the bot's view of ranks was stale) is this change's, and the core
// puts the Matrix side back with the server's words, rather than the
// refusal landing on the next message sent to the channel.
func (p *Puppet) sendChannelChange(ctx context.Context, c *Conn, channel string, lines ...*ircproto.Message) error {
	refusal := p.watchRefusals(channel)
	defer refusal()
	for _, l := range lines {
		if err := c.Send(ctx, l); err != nil {
			return err
		}
	}
	p.touch()
	if err := c.fence(ctx); err != nil {
		// Done on Matrix already; sending it again could not be told
		// from a second change.
		p.log().Debug().Err(err).Str("channel", channel).Msg("No answer after a channel change; taking it as done")
		return nil
	}
	if why := refusal(); why != "" {
		return fmt.Errorf("%w: %s on IRC refused it: %s", bridge.ErrRefused, channel, why)
	}
	return nil
}
