package irc

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// The bot's view of channels becomes Matrix events here; a puppet's
// connection only reports what is addressed to its user. Handlers are
// looked up by command, after ircproto.CheckParams vetted the parameter
// count at the door (Conn.readOne), so they index what the table promises.

type ircHandler func(b *bot, c *Conn, m *ircproto.Message)

var botHandlers map[string]ircHandler

func init() {
	botHandlers = map[string]ircHandler{
		"PRIVMSG":                     (*bot).onMessage,
		"NOTICE":                      (*bot).onMessage,
		"JOIN":                        (*bot).onJoin,
		"PART":                        (*bot).onPart,
		"QUIT":                        (*bot).onQuit,
		"KICK":                        (*bot).onKick,
		"NICK":                        (*bot).onNick,
		"MODE":                        (*bot).onMode,
		"TOPIC":                       (*bot).onTopic,
		"AWAY":                        (*bot).onAway,
		"BATCH":                       (*bot).onBatch,
		"ACCOUNT":                     (*bot).onAccount,
		ircproto.RPL_TOPIC:            (*bot).onTopicReply,
		ircproto.RPL_WHOREPLY:         (*bot).onWhoReply,
		ircproto.RPL_AWAY:             (*bot).onAwayReply,
		ircproto.RPL_CHANNELMODEIS:    (*bot).onMode,
		ircproto.RPL_NAMREPLY:         (*bot).onNames,
		ircproto.RPL_ENDOFNAMES:       (*bot).onEndOfNames,
		ircproto.ERR_CHANNELISFULL:    (*bot).onJoinError,
		ircproto.ERR_INVITEONLYCHAN:   (*bot).onJoinError,
		ircproto.ERR_BANNEDFROMCHAN:   (*bot).onJoinError,
		ircproto.ERR_BADCHANNELKEY:    (*bot).onJoinError,
		ircproto.ERR_NEEDREGGEDNICK:   (*bot).onJoinError,
		ircproto.ERR_NOSUCHCHANNEL:    (*bot).onJoinError,
		ircproto.ERR_TOOMANYCHANNELS:  (*bot).onJoinError,
		ircproto.ERR_BADCHANMASK:      (*bot).onJoinError,
		ircproto.ERR_LINKCHANNEL:      (*bot).onJoinError,
		ircproto.ERR_CHANOPRIVSNEEDED: func(b *bot, _ *Conn, m *ircproto.Message) {},
	}
}

func (b *bot) handle(c *Conn, m *ircproto.Message) {
	if h, ok := botHandlers[m.Command]; ok {
		h(b, c, m)
		return
	}
	if joinRefusal(m) && b.joining(m.Params[1]) {
		b.onJoinError(c, m)
	}
}

// msgTime is the server-time of a line, or now.
func msgTime(m *ircproto.Message) time.Time {
	if t, ok := m.Time(); ok {
		return t
	}
	return time.Now()
}

// channelTarget strips a STATUSMSG prefix ("@#chan" reaches ops only).
func channelTarget(is *ircproto.ISupport, target string) string {
	if sm := is.StatusMsg(); sm != "" {
		target = strings.TrimLeft(target, sm)
	}
	return target
}

// messageContent turns PRIVMSG/NOTICE text into Matrix content; ok is
// false for CTCP other than ACTION, which is not for people.
func (n *Network) messageContent(m *ircproto.Message) (*bridge.Content, bool) {
	text := m.Params[1]
	msgType := event.MsgText
	if m.Command == "NOTICE" {
		msgType = event.MsgNotice
	}
	if ctcp, ok := m.CTCP(); ok {
		if ctcp.Command != "ACTION" || m.Command != "PRIVMSG" {
			return nil, false
		}
		text, msgType = ctcp.Params, event.MsgEmote
	}
	if strings.TrimSpace(ircproto.StripFormatting(text)) == "" {
		return nil, false
	}
	return n.ircToMatrix(text, msgType), true
}

func (b *bot) onMessage(c *Conn, m *ircproto.Message) {
	from := m.Nick()
	if from == "" || m.Source.IsServer() || c.IsMe(from) {
		return
	}
	target := channelTarget(c.ISupport(), m.Params[0])
	if !c.ISupport().IsChannel(target) {
		return // private messages to the bot are not bridged
	}
	// What a puppet says came from Matrix in the first place.
	if b.net.puppetByNick(from) != nil {
		return
	}
	ch := b.channel(target)
	if ch == nil {
		return
	}
	content, ok := b.net.messageContent(m)
	if !ok {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	b.net.queue(&bridge.RemoteEvent{
		Kind: bridge.RemoteMessage, Portal: ch.key, Sender: b.net.ghostSender(from),
		ID: b.net.newMessageID(m), Timestamp: msgTime(m), Content: content, CreatePortal: ch.static,
	})
}

func (b *bot) onJoin(c *Conn, m *ircproto.Message) {
	name, nick := m.Params[0], m.Nick()
	folded := b.net.fold(name)
	if c.IsMe(nick) {
		b.mu.Lock()
		w, wanted := b.wanted[folded]
		if !wanted {
			b.mu.Unlock()
			// Joined somewhere nobody asked for (SAJOIN, a forward): leave.
			_ = c.TrySend(ircproto.NewMessage("PART", name, "Not bridged here"))
			return
		}
		b.channels[folded] = newChannel(b.net, name, w.static)
		b.mu.Unlock()
		// The channel's modes (324) shape the room: join rule, directory, +m.
		b.net.wg.Add(1)
		go func() {
			defer b.net.wg.Done()
			_ = c.Send(b.net.ctx, ircproto.NewMessage("MODE", name))
		}()
		return
	}
	ch := b.channel(name)
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	account, known := joinAccount(c, m)
	ch.members[b.net.fold(nick)] = &member{nick: nick, account: account, accountKnown: known, userHost: userHost(m.Source)}
	if b.net.puppetByNick(nick) != nil || b.netjoin(c, ch, m) {
		return
	}
	b.net.queue(&bridge.RemoteEvent{Kind: bridge.RemoteJoin, Portal: ch.key, Sender: b.net.ghostSender(nick),
		Timestamp: msgTime(m), CreatePortal: ch.static})
}

func (b *bot) onPart(c *Conn, m *ircproto.Message) {
	name, nick := m.Params[0], m.Nick()
	if c.IsMe(nick) {
		b.dropChannel(name)
		return
	}
	b.memberGone(b.channel(name), nick, bridge.RemoteLeave, bridge.Sender{}, m.Param(1), m)
}

// memberGone removes a member and tells Matrix, unless they were a puppet.
func (b *bot) memberGone(ch *channel, nick string, kind bridge.RemoteEventKind, actor bridge.Sender, reason string, m *ircproto.Message) {
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	folded := b.net.fold(nick)
	if _, ok := ch.members[folded]; !ok {
		return
	}
	delete(ch.members, folded)
	if b.net.puppetByNick(nick) != nil {
		return
	}
	sender := actor
	if kind == bridge.RemoteLeave {
		sender = b.net.ghostSender(nick)
	}
	b.net.queue(&bridge.RemoteEvent{Kind: kind, Portal: ch.key, Sender: sender, Timestamp: msgTime(m),
		Member: &bridge.Member{ID: b.net.ghostID(nick), Reason: reason}})
}

func (b *bot) dropChannel(name string) {
	folded := b.net.fold(name)
	b.mu.Lock()
	ch := b.channels[folded]
	delete(b.channels, folded)
	b.mu.Unlock()
	if ch != nil {
		ch.mu.Lock()
		ch.gen++
		if ch.split != nil {
			ch.split.Stop()
			ch.split = nil
		}
		ch.mu.Unlock()
	}
}

func (b *bot) onQuit(c *Conn, m *ircproto.Message) {
	nick, reason := m.Nick(), m.Param(0)
	if c.IsMe(nick) {
		return
	}
	split := b.splitQuit(c, m)
	for _, ch := range b.channelsWith(nick) {
		if !split {
			b.memberGone(ch, nick, bridge.RemoteLeave, bridge.Sender{}, reason, m)
			continue
		}
		ch.mu.Lock()
		delete(ch.members, b.net.fold(nick))
		b.deferSplit(ch)
		ch.mu.Unlock()
	}
}

func (b *bot) onKick(c *Conn, m *ircproto.Message) {
	name, target, reason := m.Params[0], m.Params[1], m.Param(2)
	kicker := m.Nick()
	if c.IsMe(target) {
		b.dropChannel(name)
		b.net.log.Warn().Str("channel", name).Str("by", kicker).Str("reason", reason).Msg("Bot was kicked; rejoining")
		b.net.wg.Add(1)
		go func() {
			defer b.net.wg.Done()
			if sleepCtx(b.net.ctx, 5*time.Second) {
				_ = c.Send(b.net.ctx, b.joinMessage(name))
			}
		}()
		return
	}
	ch := b.channel(name)
	if ch == nil {
		return
	}
	if b.net.puppetByNick(kicker) != nil {
		// A puppet kicks only because its user kicked the ghost on
		// Matrix: the room already shows it, and the homeserver refuses
		// to kick someone who is gone.
		ch.mu.Lock()
		delete(ch.members, b.net.fold(target))
		ch.mu.Unlock()
		return
	}
	// The bot acts for servers and services, so no ghost joins just to kick.
	actor := bridge.Sender{}
	if !m.Source.IsServer() && !c.IsMe(kicker) {
		actor = b.net.ghostSender(kicker)
	}
	if p := b.net.puppetByNick(target); p != nil {
		// A Matrix user kicked on IRC: the core can remove them from the
		// room only through their double puppet, so they are also told.
		ch.mu.Lock()
		delete(ch.members, b.net.fold(target))
		b.net.queue(&bridge.RemoteEvent{Kind: bridge.RemoteKick, Portal: ch.key, Sender: actor, Timestamp: msgTime(m),
			Member: &bridge.Member{ID: b.net.ghostID(target), Matrix: p.mxid, Reason: reason}})
		ch.mu.Unlock()
		return
	}
	b.memberGone(ch, target, bridge.RemoteKick, actor, reason, m)
}

func (b *bot) onNick(c *Conn, m *ircproto.Message) {
	old, nick := m.Nick(), m.Params[0]
	if c.IsMe(nick) {
		b.nick.Store(&nick)
	}
	n := b.net
	chans := b.channelsWith(old)
	for _, ch := range chans {
		ch.mu.Lock()
		if mem, ok := ch.members[n.fold(old)]; ok {
			delete(ch.members, n.fold(old))
			mem.nick = nick
			ch.members[n.fold(nick)] = mem
		}
		ch.mu.Unlock()
	}
	if c.IsMe(nick) || n.puppetByNick(old) != nil || n.puppetByNick(nick) != nil {
		return
	}
	b.awayRenamed(old, nick)
	if n.fold(old) == n.fold(nick) {
		// Only the case changed: same ghost, new display name.
		n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteProfile, Portal: bridge.PortalKey{Network: n.id}, Sender: n.ghostSender(nick)})
		return
	}
	// Ghosts are keyed by nick, so a new nick is a new ghost: the old one
	// leaves saying where it went, the new one joins with its rank.
	for _, ch := range chans {
		ch.mu.Lock()
		mem := ch.members[n.fold(nick)]
		n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteLeave, Portal: ch.key, Sender: n.ghostSender(old), Timestamp: msgTime(m),
			Member: &bridge.Member{ID: n.ghostID(old), Reason: "changed nick to " + nick}})
		n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteJoin, Portal: ch.key, Sender: n.ghostSender(nick), Timestamp: msgTime(m)})
		if mem != nil && levelFor(mem.modes) > 0 {
			n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: ch.key,
				ChatInfo: &bridge.ChatInfo{PowerLevels: map[bridge.RemoteUserID]int{n.ghostID(nick): levelFor(mem.modes), n.ghostID(old): 0}}})
		}
		ch.mu.Unlock()
	}
}

func (b *bot) onMode(c *Conn, m *ircproto.Message) {
	is := c.ISupport()
	target, changes, err := is.ParseModeMessage(m)
	if target == "" || !is.IsChannel(target) {
		return
	}
	if err != nil {
		b.net.log.Debug().Err(err).Str("line", m.Redacted()).Msg("Partly parsed MODE")
	}
	b.learnKey(target, changes, m.Command == ircproto.RPL_CHANNELMODEIS)
	ch := b.channel(target)
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if m.Command == ircproto.RPL_CHANNELMODEIS {
		// The full list of the channel's modes, asked for on joining.
		applyRoomModes(ch, is, changes, true)
		ch.flagsKnown = true
		b.net.queue(&bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: ch.key, Timestamp: msgTime(m),
			ChatInfo: roomModeInfo(ch.flags)})
		return
	}
	info := &bridge.ChatInfo{}
	if levels := b.applyModes(ch, is, changes); !levels.empty() && ch.synced {
		levels.into(info)
	}
	if applyRoomModes(ch, is, changes, false) && ch.flagsKnown {
		withRoomModes(ch, info)
	}
	if info.PowerLevels != nil || info.MatrixPowerLevels != nil || info.JoinRule != "" {
		b.net.queue(&bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: ch.key, Timestamp: msgTime(m), ChatInfo: info})
	}
}

func (b *bot) onTopic(c *Conn, m *ircproto.Message) {
	ch := b.channel(m.Params[0])
	if ch == nil {
		return
	}
	setter := m.Nick()
	sender := bridge.Sender{}
	if b.net.puppetByNick(setter) == nil && !c.IsMe(setter) && !m.Source.IsServer() {
		sender = b.net.ghostSender(setter)
	}
	b.setTopic(ch, m.Params[1], sender, m)
}

func (b *bot) onTopicReply(_ *Conn, m *ircproto.Message) {
	if ch := b.channel(m.Params[1]); ch != nil {
		b.setTopic(ch, m.Params[2], bridge.Sender{}, m)
	}
}

func (b *bot) setTopic(ch *channel, topic string, sender bridge.Sender, m *ircproto.Message) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.topic = topic
	// IRC formatting has no place in a Matrix topic.
	plain := ircproto.StripFormatting(topic)
	b.net.queue(&bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: ch.key, Sender: sender, Timestamp: msgTime(m),
		ChatInfo: &bridge.ChatInfo{Topic: &plain}, CreatePortal: ch.static})
}

func (b *bot) onNames(c *Conn, m *ircproto.Message) {
	r, err := c.ISupport().ParseNames(m)
	if err != nil {
		return
	}
	ch := b.channel(r.Channel)
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.names == nil {
		ch.names = map[string]*member{}
	}
	for _, mem := range r.Members {
		ch.names[b.net.fold(mem.Nick)] = &member{nick: mem.Nick, modes: mem.Modes}
	}
}

func (b *bot) onEndOfNames(c *Conn, m *ircproto.Message) {
	ch := b.channel(m.Params[1])
	if ch == nil {
		return
	}
	ch.mu.Lock()
	if ch.names != nil {
		ch.members = ch.names
		ch.names = nil
	}
	joined := !ch.synced
	ch.synced = true
	ch.mu.Unlock()
	b.finishJoin(b.net.fold(ch.name), nil)
	b.startSync(ch)
	if joined {
		b.whoAfterJoin(c, ch.name)
	}
}

func (b *bot) onJoinError(_ *Conn, m *ircproto.Message) {
	name := m.Params[1]
	b.net.log.Warn().Str("channel", name).Str("error", m.Trailing()).Msg("Bot cannot join channel")
	b.finishJoin(b.net.fold(name), fmt.Errorf("%w: %s", ErrChannelRefused, m.Trailing()))
}

// handle is a puppet connection's handler: only what is addressed to
// this user matters here.
func (p *Puppet) handle(c *Conn, m *ircproto.Message) {
	switch m.Command {
	case "PRIVMSG", "NOTICE":
		p.onPrivate(c, m)
	case "JOIN":
		if c.IsMe(m.Nick()) {
			p.joinResult(m.Params[0], nil)
		}
	case "INVITE":
		if c.IsMe(m.Params[0]) {
			p.invited(c, m.Params[1])
		}
	case "PART":
		if c.IsMe(m.Nick()) {
			p.mu.Lock()
			delete(p.joined, p.net.fold(m.Params[0]))
			p.mu.Unlock()
		}
	case "KICK":
		if c.IsMe(m.Params[1]) {
			p.mu.Lock()
			delete(p.joined, p.net.fold(m.Params[0]))
			p.mu.Unlock()
			p.net.notify(p.mxid, fmt.Sprintf("You were kicked from %s by %s: %s", m.Params[0], m.Nick(), m.Param(2)))
		}
	case "NICK":
		// The connection already follows its own nick; here the network's
		// index of puppet nicks does.
		if c.IsMe(m.Params[0]) {
			p.ownNickChanged(c, m.Nick(), m.Params[0])
		} else {
			p.nickFreed(c, m.Nick(), m.Params[0])
			p.dmPartnerRenamed(m)
		}
	case "QUIT":
		p.nickFreed(c, m.Nick(), "")
	case ircproto.ERR_CHANNELISFULL, ircproto.ERR_INVITEONLYCHAN, ircproto.ERR_BANNEDFROMCHAN, ircproto.ERR_BADCHANNELKEY,
		ircproto.ERR_NEEDREGGEDNICK, ircproto.ERR_NOSUCHCHANNEL, ircproto.ERR_TOOMANYCHANNELS, ircproto.ERR_BADCHANMASK:
		if m.Command == ircproto.ERR_INVITEONLYCHAN && p.askInvite(c, m.Params[1], m.Trailing()) {
			break
		}
		p.joinRefused(m.Params[1], m.Trailing())
	case ircproto.ERR_CANNOTSENDTOCHAN, ircproto.ERR_NOSUCHNICK:
		// A refusal of a message being sent fails that message in its
		// room; one nobody waits for any more is told in the management
		// room. A 401 for anything else (a MODE on a nick) is nobody's.
		if !p.refused(m.Params[1], m.Trailing()) && m.Command == ircproto.ERR_CANNOTSENDTOCHAN {
			p.net.notify(p.mxid, fmt.Sprintf("Your message to %s was not delivered: %s", m.Params[1], m.Trailing()))
		}
	case ircproto.RPL_WHOISACCOUNT, ircproto.RPL_WHOISREGNICK, ircproto.RPL_ENDOFWHOIS:
		p.net.onWhoisReply(m)
	case ircproto.ERR_CHANOPRIVSNEEDED, ircproto.ERR_CHANOPPRIVTOOLOW:
		// A kick or ban being sent is refused in the room, where the core
		// undoes it. Anything else (a MODE or TOPIC the bot's view of
		// ranks allowed) was already done on Matrix.
		if !p.refused(m.Params[1], m.Trailing()) {
			p.net.notify(p.mxid, fmt.Sprintf("You need to be a channel operator in %s on IRC to do that; it was done on Matrix only.", m.Params[1]))
		}
	case ircproto.ERR_NICKNAMEINUSE, ircproto.ERR_ERRONEUSNICKNAME:
		p.nickRefused(c, m)
	case ircproto.ERR_LINKCHANNEL:
		// The server put the puppet in another channel instead (a
		// forward, +f): the user is not where their room is, and has no
		// room for where they are.
		p.joinRefused(m.Params[1], "forwarded to "+m.Params[2])
		if !p.wantsChannel(m.Params[2]) {
			_ = c.TrySend(ircproto.NewMessage("PART", m.Params[2], "Not bridged here"))
		}
	default:
		if joinRefusal(m) && p.joining(m.Params[1]) {
			p.joinRefused(m.Params[1], m.Trailing())
		}
	}
}

// isService reports whether nick is one of the configured services.
func (n *Network) isService(nick string) bool {
	return slices.ContainsFunc(n.cfg.PrivateMessages.Services, func(s string) bool { return n.fold(s) == n.fold(nick) })
}

// joinRefusal reports whether m may be a server's refusal of a JOIN of
// its second parameter: an error numeric (4xx, 5xx) naming a channel.
// Servers refuse joins with many numerics of their own (InspIRCd's 495
// for +J and 520 for +O, 489 for TLS-only channels, 437 during a split);
// a JOIN answered by none the bridge knows would otherwise be waited for
// until the join timeout.
func joinRefusal(m *ircproto.Message) bool {
	return len(m.Command) == 3 && (m.Command[0] == '4' || m.Command[0] == '5') && len(m.Params) >= 2 &&
		m.Params[1] != "" && strings.ContainsRune("#&!+", rune(m.Params[1][0]))
}

// dmPartnerRenamed keeps the user's DM with someone who changed nick in
// its room: the portal moves to the new nick, so replies go there and the
// next PM from the new nick lands in it (rather than opening a second room,
// with an invite that counts against the sender's invite rate). Channel
// ghosts are the bot's business (onNick); DMs are per user, so each puppet
// that sees the NICK moves its own. On the worker, after the PMs before it.
func (p *Puppet) dmPartnerRenamed(m *ircproto.Message) {
	old, nick := m.Nick(), m.Params[0]
	n := p.net
	if old == "" || n.fold(old) == n.fold(nick) {
		return
	}
	ts := msgTime(m)
	move := func() {
		key := n.dmKey(old, p.mxid)
		portal, err := n.core.GetPortal(n.ctx, key)
		if err != nil {
			n.log.Err(err).Msg("Failed to look up DM portal")
			return
		}
		if portal == nil || portal.MXID == "" {
			return
		}
		ev := &bridge.RemoteEvent{
			Kind: bridge.RemoteChatMove, Portal: key, NewChat: n.dmKey(nick, p.mxid).Chat, Timestamp: ts,
			Sender: n.ghostSender(nick),
			Member: &bridge.Member{ID: n.ghostID(old), Reason: "changed nick to " + nick},
		}
		if portal.Name != "" {
			// A DM a PM opened is named after the nick; one the user made
			// keeps the name they gave it.
			name := nick
			ev.ChatInfo = &bridge.ChatInfo{Name: &name}
		}
		n.queue(ev)
	}
	n.later(func() {
		if !n.afterLookup(old, nick, move) {
			move()
		}
	})
}

// onPrivate handles a PRIVMSG or NOTICE to the puppet: CTCP queries are
// answered, service notices go to the user's management room, and
// messages from people open (or continue) a DM.
func (p *Puppet) onPrivate(c *Conn, m *ircproto.Message) {
	from := m.Nick()
	if from == "" || m.Source.IsServer() || c.IsMe(from) || p.net.bot.isMe(from) || !c.IsMe(m.Params[0]) {
		return
	}
	if ctcp, ok := m.CTCP(); ok && m.Command == "PRIVMSG" && ctcp.Command != "ACTION" {
		switch ctcp.Command {
		case "VERSION":
			_ = c.TrySend(ircproto.NewMessage("NOTICE", from, ircproto.EncodeCTCP("VERSION", "Isthmus Matrix bridge")))
		case "PING":
			_ = c.TrySend(ircproto.NewMessage("NOTICE", from, ircproto.EncodeCTCP("PING", ctcp.Params)))
		}
		return
	}
	if m.Command == "NOTICE" && p.net.isService(from) {
		p.net.notify(p.mxid, from+": "+ircproto.StripFormatting(m.Params[1]))
		return
	}
	content, ok := p.net.messageContent(m)
	if !ok {
		return
	}
	p.net.later(func() { p.net.handlePM(p, c, m, content) })
}

// handlePM delivers a private message to the user's DM portal with its
// sender, after the PM policy and the invite-spam guard: a PM that would
// open a new room counts against its sender's invite rate, so a spam bot
// messaging thousands of users makes a handful of invites, not thousands.
//
// The "identified" policy reads the sender's account from account-tag, or
// where the connection has no account-tag from what the bot follows of
// the sender's account, else from WHOIS (accounts.go).
func (n *Network) handlePM(p *Puppet, c *Conn, m *ircproto.Message, content *bridge.Content) {
	const notIdentified = "only accepts private messages from users identified to an account"
	switch n.cfg.PrivateMessages.Policy {
	case PMOff:
		n.refusePM(c, m, "does not accept private messages from IRC")
		return
	case PMIdentified:
		if !c.HasCap("account-tag") {
			n.checkIdentified(c, m.Source, func(identified bool) {
				if !identified {
					n.refusePM(c, m, notIdentified)
					return
				}
				n.deliverPM(p, c, m, content)
			})
			return
		}
		if acct, _ := m.Tag("account"); acct == "" || acct == "*" {
			n.refusePM(c, m, notIdentified)
			return
		}
	}
	n.deliverPM(p, c, m, content)
}

// deliverPM queues a PM that passed the policy to the DM portal. Worker
// goroutine.
func (n *Network) deliverPM(p *Puppet, c *Conn, m *ircproto.Message, content *bridge.Content) {
	from := m.Nick()
	key := n.dmKey(from, p.mxid)
	portal, err := n.core.GetPortal(n.ctx, key)
	if err != nil {
		n.log.Err(err).Msg("Failed to look up DM portal")
		return
	}
	if portal == nil || portal.MXID == "" {
		if !n.allowInvite(m.Source) {
			n.log.Info().Str("from", m.Source.String()).Str("user_id", p.mxid.String()).Msg("Dropping PM: sender's invite rate exceeded")
			n.refusePM(c, m, "is not accepting new conversations from you right now; try again later")
			return
		}
	}
	name := from
	n.queue(&bridge.RemoteEvent{
		Kind: bridge.RemoteMessage, Portal: key, Sender: n.ghostSender(from), ID: n.newMessageID(m),
		Timestamp: msgTime(m), Content: content, CreatePortal: true,
		ChatInfo: &bridge.ChatInfo{IsDM: true, Name: &name},
	})
}

// refusePM tells the sender why their PM went nowhere: once per sender
// and reason within refusalWindow, over all puppets, and only when the
// puppet's line budget has room. A flood of PMs, or one spammer writing
// to every puppet, gets one notice, not a flood back.
func (n *Network) refusePM(c *Conn, m *ircproto.Message, why string) {
	key, now := senderKey(n, m.Source)+" "+why, time.Now()
	if !n.firstRefusal(key, now) {
		return
	}
	if !c.TrySend(ircproto.NewMessage("NOTICE", m.Nick(), fmt.Sprintf("%s %s.", c.Nick(), why))) {
		n.unrefuse(key, now)
	}
}

// allowInvite takes one from the sender's invite budget. Senders are
// told apart by user@host, which a spammer changes less easily than a nick.
func (n *Network) allowInvite(src ircproto.Prefix) bool {
	per := n.cfg.PrivateMessages.InvitesPerHour
	if per == 0 {
		return true
	}
	key := senderKey(n, src)
	n.mu.Lock()
	defer n.mu.Unlock()
	b, ok := n.invites[key]
	if !ok {
		if len(n.invites) > 10000 {
			n.invites = map[string]*tokenBucket{} // a full table is forgotten rather than grown
		}
		b = newTokenBucket(float64(per)/3600, per)
		n.invites[key] = b
	}
	return b.tryTake()
}
