package irc

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// roomModes are the channel modes that shape the Matrix room: +i and +k
// make it invite-only, +s and +p keep it out of the directory, +m lets
// only the voiced talk, and +t keeps the topic to ops.
const roomModes = "ikspmt"

// applyRoomModes applies changes of roomModes to the channel's flags and
// reports whether one that Matrix sees (all but +t) changed. A 324 reply
// lists every mode set, so reset starts from none. Call with ch.mu held.
func applyRoomModes(ch *channel, is *ircproto.ISupport, changes []ircproto.ModeChange, reset bool) bool {
	if ch.flags == nil || reset {
		ch.flags = map[byte]bool{}
	}
	changed := reset
	for _, c := range changes {
		if strings.IndexByte(roomModes, c.Mode) < 0 || is.ChanModes().Type(c.Mode) == ircproto.ModePrefix {
			continue
		}
		if ch.flags[c.Mode] != c.Add {
			ch.flags[c.Mode] = c.Add
			if c.Mode != 't' {
				changed = true
			}
		}
	}
	return changed
}

// roomModeInfo maps channel flags to the room's join rule, directory
// listing and the level needed to talk.
func roomModeInfo(flags map[byte]bool) *bridge.ChatInfo {
	rule := event.JoinRulePublic
	if flags['i'] || flags['k'] {
		rule = event.JoinRuleInvite
	}
	listed := !flags['s'] && !flags['p']
	talk := 0
	if flags['m'] {
		talk = levelVoice
	}
	return &bridge.ChatInfo{JoinRule: rule, Listed: &listed, EventsDefault: &talk}
}

// withRoomModes adds the room mode fields to info once the channel's modes
// are known. Call with ch.mu held.
func withRoomModes(ch *channel, info *bridge.ChatInfo) *bridge.ChatInfo {
	if !ch.flagsKnown {
		return info
	}
	m := roomModeInfo(ch.flags)
	info.JoinRule, info.Listed, info.EventsDefault = m.JoinRule, m.Listed, m.EventsDefault
	return info
}

// memberView is what the bot sees of nick in channel: their membership
// modes, whether they are in it, and whether the topic is locked (+t).
func (b *bot) memberView(channel, nick string) (modes string, in, topicLocked bool) {
	ch := b.channel(channel)
	if ch == nil {
		return "", false, false
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	m, ok := ch.members[b.net.fold(nick)]
	if ok {
		modes = m.modes
	}
	return modes, ok, ch.flags['t']
}

// HandleMatrixTopic sets the channel topic as the user. In a +t channel
// only ops may, so a puppet that is not one is refused here and the core
// puts the Matrix topic back.
func (p *Puppet) HandleMatrixTopic(ctx context.Context, portal *bridge.Portal, _ *bridge.User, topic string) error {
	if portal.Key.Receiver != "" {
		return nil
	}
	channel := string(portal.Key.Chat)
	c, err := p.ensureJoined(ctx, channel)
	if err != nil {
		return err
	}
	if modes, _, locked := p.net.bot.memberView(channel, c.Nick()); locked && levelFor(modes) < levelHalfop {
		return fmt.Errorf("%w: %s is +t on IRC and you (%s) are not a channel operator there, so only ops can change its topic",
			bridge.ErrRefused, channel, c.Nick())
	}
	return p.sendChannelChange(ctx, c, channel, ircproto.NewMessage("TOPIC", channel, ircproto.Sanitize(topic)))
}

// HandleMatrixPowerLevels turns Matrix level changes of ghosts into
// MODE +o/-o (op level and up), +h/-h (halfop level, where PREFIX has h)
// and +v/-v (voice level), sent by the user's puppet. Ops may change any
// of these; a halfop only voice, as InspIRCd and ngIRCd allow. A puppet
// without the rank is refused before anything is sent, so the core puts
// all the levels back rather than some.
func (p *Puppet) HandleMatrixPowerLevels(ctx context.Context, portal *bridge.Portal, _ *bridge.User, changes map[bridge.RemoteUserID]int) error {
	if portal.Key.Receiver != "" || len(changes) == 0 {
		return nil
	}
	channel := string(portal.Key.Chat)
	c, err := p.ensureJoined(ctx, channel)
	if err != nil {
		return err
	}
	is := c.ISupport()
	modes, _, _ := p.net.bot.memberView(channel, c.Nick())
	mcs := p.net.bot.rankChanges(is, channel, changes)
	if err := mayChangeRanks(levelFor(modes), c.Nick(), channel, mcs); err != nil {
		return err
	}
	return p.sendChannelChange(ctx, c, channel, modeLines(channel, mcs, is.Modes(), is.LineLen(), c.prefixLen())...)
}

// modeLines packs membership mode changes into MODE lines of at most per
// changes each (ISUPPORT MODES; 0 is no limit) and of at most lineLen
// bytes once the server has put a prefix of up to prefixLen bytes in
// front (0 is 512). One line for a member's "-o+h" means the bot sees one
// MODE and Matrix one level change, not a drop to 0 on the way.
func modeLines(channel string, changes []ircproto.ModeChange, per, lineLen, prefixLen int) []*ircproto.Message {
	if per <= 0 {
		per = len(changes)
	}
	if lineLen <= 0 {
		lineLen = ircproto.MaxLineBytes
	}
	// ":prefix MODE #chan " and CRLF; each change adds its letter (and at
	// most one sign) and " nick".
	fixed := 1 + prefixLen + len(" MODE ") + len(channel) + 1 + 2
	var out []*ircproto.Message
	for len(changes) > 0 {
		var modes strings.Builder
		params := []string{channel, ""}
		size, sign := fixed, byte(0)
		n := 0
		for _, mc := range changes {
			s := byte('-')
			if mc.Add {
				s = '+'
			}
			cost := 1 + 1 + len(mc.Param)
			if s != sign {
				cost++
			}
			if n == per || (n > 0 && size+cost > lineLen) {
				break
			}
			if s != sign {
				sign = s
				modes.WriteByte(s)
			}
			modes.WriteByte(mc.Mode)
			params = append(params, mc.Param)
			size += cost
			n++
		}
		params[1] = modes.String()
		out = append(out, ircproto.NewMessage("MODE", params...))
		changes = changes[n:]
	}
	return out
}

// mayChangeRanks refuses, with bridge.ErrRefused, mode changes that a
// member at level (from their own channel modes) may not make: voice
// takes a halfop, anything else an op.
func mayChangeRanks(level int, me, channel string, changes []ircproto.ModeChange) error {
	if level >= levelOp {
		return nil
	}
	if level < levelHalfop {
		return fmt.Errorf("%w: you (%s) are not a channel operator in %s on IRC, so you cannot give or take ops or voice there",
			bridge.ErrRefused, me, channel)
	}
	for _, mc := range changes {
		if mc.Mode != 'v' {
			return fmt.Errorf("%w: you (%s) are a half-operator in %s on IRC, so you can give or take voice there but not ops or half-ops",
				bridge.ErrRefused, me, channel)
		}
	}
	return nil
}

// mayRemove refuses a kick or ban of target by me in channel, with
// bridge.ErrRefused, unless the bot sees me with the rank for it. Servers
// with halfop in PREFIX (InspIRCd, ngIRCd) let halfops kick and ban, but
// only members ranked below halfop; ops and up may remove anyone not
// ranked above them in PREFIX order (an op cannot kick an owner). Where
// PREFIX has no halfop nobody holds h, so it takes an op.
func (b *bot) mayRemove(is *ircproto.ISupport, channel, me, target string, ban bool) error {
	verb := "kick"
	if ban {
		verb = "ban"
	}
	modes, _, _ := b.memberView(channel, me)
	theirs, _, _ := b.memberView(channel, target)
	switch {
	case levelFor(modes) < levelHalfop:
		return fmt.Errorf("%w: you (%s) are not a channel operator in %s on IRC, so you cannot %s anyone there",
			bridge.ErrRefused, me, channel, verb)
	case levelFor(modes) < levelOp && levelFor(theirs) >= levelHalfop:
		return fmt.Errorf("%w: you (%s) are a half-operator in %s on IRC, and half-operators cannot %s %s, who is one too or an operator",
			bridge.ErrRefused, me, channel, verb, target)
	case theirs != "" && is.Rank(theirs[0]) >= 0 && is.Rank(theirs[0]) < is.Rank(modes[0]):
		return fmt.Errorf("%w: %s outranks you (%s) in %s on IRC, so you cannot %s them",
			bridge.ErrRefused, target, me, channel, verb)
	}
	return nil
}

// rankChanges works out the MODE changes that bring ghosts to their new
// Matrix levels, from the modes the bot sees them with, in a stable order.
func (b *bot) rankChanges(is *ircproto.ISupport, channel string, levels map[bridge.RemoteUserID]int) []ircproto.ModeChange {
	ids := make([]string, 0, len(levels))
	for id := range levels {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	halfop := is.Rank('h') >= 0
	var out []ircproto.ModeChange
	for _, id := range ids {
		level := levels[bridge.RemoteUserID(id)]
		nick := b.realNick(id)
		modes, _, _ := b.memberView(channel, nick)
		out = append(out, rankDelta(modes, nick, level, halfop)...)
	}
	return out
}

// rankModes are the ranks the bridge gives and takes, highest first.
const rankModes = "ohv"

// rankDelta is the +o/-o/+h/-h/+v/-v that take a member with modes to
// level: the one rank that level stands for is given, ranks above it
// are taken, and ranks below it are kept if held (a new op keeps their
// voice) but not given. One below voice level loses all three. Without
// halfop on the server, the halfop level is voice.
func rankDelta(modes, nick string, level int, halfop bool) []ircproto.ModeChange {
	var top byte
	switch {
	case level >= levelOp:
		top = 'o'
	case level >= levelHalfop && halfop:
		top = 'h'
	case level >= levelVoice:
		top = 'v'
	}
	topAt := strings.IndexByte(rankModes, top)
	if top == 0 {
		topAt = len(rankModes)
	}
	var out []ircproto.ModeChange
	for i := range len(rankModes) {
		mode := rankModes[i]
		has := strings.IndexByte(modes, mode) >= 0
		want := i == topAt || i > topAt && has
		if has != want {
			out = append(out, ircproto.ModeChange{Add: want, Mode: mode, Param: nick})
		}
	}
	return out
}
