package irc

import (
	"sort"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// Ghost presence follows IRC away. On joining a channel the bot asks WHO
// once, for who is away already. With away-notify the server then says
// when someone goes away or comes back (onAway). Without it (ngIRCd) the
// bot polls: every membership.away_poll it sends WHO for each channel it
// holds, spread over the interval, and reads the H (here) or G (gone)
// flag of each RPL_WHOREPLY. A user newly seen away is asked WHOIS, when
// the bot's line budget has room, for the away message (RPL_AWAY).
// Matrix hears only of changes.

// pollAway runs while c is the bot's connection and lacks away-notify.
// WHO lines wait for the token bucket like any other, and are spaced so
// they take at most half of the bot's line rate.
func (b *bot) pollAway(c *Conn) {
	interval := b.net.cfg.Membership.AwayPoll.D()
	minGap := time.Duration(2 / b.net.cfg.Limits.LinesPerSecond * float64(time.Second))
	ctx := b.net.ctx
	for {
		chans := b.channelNames()
		gap := max(interval/time.Duration(max(len(chans), 1)), minGap)
		if len(chans) == 0 {
			gap = interval
		}
		for i := 0; i < max(len(chans), 1); i++ {
			if !sleepCtx(ctx, gap) {
				return
			}
			select {
			case <-c.Done():
				return
			default:
			}
			if c.HasCap("away-notify") {
				return // offered later (CAP NEW): the server tells us now
			}
			if i < len(chans) {
				if err := c.Send(ctx, ircproto.NewMessage("WHO", chans[i])); err != nil {
					return
				}
			}
		}
	}
}

// whoAfterJoin asks WHO of a channel the bot has just got the member
// list of, whatever the server offers: away-notify tells only of changes,
// so users already away when the bot came (or went away while it was
// disconnected) are found here, by onWhoReply as in a poll. The WHOs of
// many joins (a reconnect to hundreds of channels) go out one at a time,
// spaced like pollAway's, so relayed lines never wait behind all of them;
// the first goes out at once. Called on the reader.
func (b *bot) whoAfterJoin(c *Conn, channel string) {
	q := &b.joinWho
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conn != c {
		// A new connection: what the old one had left is its joins', and
		// its sender stops.
		q.conn, q.channels, q.running = c, nil, false
	}
	q.channels = append(q.channels, channel)
	if q.running {
		return
	}
	q.running = true
	b.net.wg.Add(1)
	go func() {
		defer b.net.wg.Done()
		b.sendJoinWhos(c)
	}()
}

// joinWhoQueue is the bot's WHOs after joins not yet sent, for one
// connection, and whether a goroutine is sending them.
type joinWhoQueue struct {
	mu       sync.Mutex
	conn     *Conn
	channels []string
	running  bool
	last     time.Time // when the last WHO went out
}

// sendJoinWhos sends the queued WHOs on c, at least two line intervals
// apart, until the queue is empty or c is no longer the queue's.
func (b *bot) sendJoinWhos(c *Conn) {
	q := &b.joinWho
	minGap := time.Duration(2 / b.net.cfg.Limits.LinesPerSecond * float64(time.Second))
	for {
		q.mu.Lock()
		if q.conn != c || len(q.channels) == 0 {
			if q.conn == c {
				q.running = false
			}
			q.mu.Unlock()
			return
		}
		wait := time.Until(q.last.Add(minGap))
		q.mu.Unlock()
		if wait > 0 && !sleepCtx(b.net.ctx, wait) {
			return
		}
		q.mu.Lock()
		if q.conn != c || len(q.channels) == 0 {
			q.mu.Unlock()
			continue
		}
		channel := q.channels[0]
		q.channels = q.channels[1:]
		q.mu.Unlock()
		err := c.Send(b.net.ctx, ircproto.NewMessage("WHO", channel))
		q.mu.Lock()
		q.last = time.Now()
		q.mu.Unlock()
		if err != nil {
			q.mu.Lock()
			if q.conn == c {
				q.channels, q.running = nil, false
			}
			q.mu.Unlock()
			return
		}
	}
}

// channelNames lists the channels the bot holds and knows the members of.
func (b *bot) channelNames() []string {
	var names []string
	for _, ch := range b.allChannels() {
		if ch.isSynced() {
			names = append(names, ch.name)
		}
	}
	sort.Strings(names)
	return names
}

// onWhoReply reads the away flag of one RPL_WHOREPLY:
// "<me> <channel> <user> <host> <server> <nick> <H|G>[*][@%+] :<hops> <realname>".
func (b *bot) onWhoReply(c *Conn, m *ircproto.Message) {
	nick, flags := m.Params[5], m.Params[6]
	if c.IsMe(nick) || b.net.puppetByNick(nick) != nil {
		return
	}
	away := strings.HasPrefix(flags, "G")
	b.setAway(nick, away, "")
	if away && b.awayMessage(nick) == "" {
		// The message is only in WHOIS. Ask when there is room, never
		// ahead of lines waiting for the bucket; else on the next round.
		c.TrySend(ircproto.NewMessage("WHOIS", nick))
	}
}

// awayMessage is the away message known for nick, "" when none is.
func (b *bot) awayMessage(nick string) string {
	b.awayMu.Lock()
	defer b.awayMu.Unlock()
	return b.away[b.net.fold(nick)]
}

// onAwayReply takes the away message from RPL_AWAY ("<me> <nick> :<message>"),
// which answers the WHOIS above, for a user already known to be away.
func (b *bot) onAwayReply(_ *Conn, m *ircproto.Message) {
	nick, msg := m.Params[1], m.Params[2]
	folded := b.net.fold(nick)
	b.awayMu.Lock()
	_, away := b.away[folded]
	b.awayMu.Unlock()
	if away && b.net.puppetByNick(nick) == nil {
		b.setAway(nick, true, msg)
	}
}

// onAway turns away-notify into ghost presence.
func (b *bot) onAway(c *Conn, m *ircproto.Message) {
	nick := m.Nick()
	if c.IsMe(nick) || b.net.puppetByNick(nick) != nil {
		return
	}
	msg := m.Param(0)
	b.setAway(nick, msg != "", msg)
}

// maxAway bounds the table of away users; a full one is forgotten rather
// than grown (those still away are found again by the next poll).
const maxAway = 10000

// setAway records whether nick is away, with the message when known, and
// tells Matrix when that changed. Only away users are kept: anyone else
// is taken to be here, so the first WHO of a channel says nothing of
// those who are. Users who quit stay in the table, so that one back
// under the same nick and no longer away is seen coming back.
func (b *bot) setAway(nick string, away bool, msg string) {
	folded := b.net.fold(nick)
	b.awayMu.Lock()
	old, was := b.away[folded]
	switch {
	case away && (!was || msg != "" && msg != old):
		if b.away == nil || len(b.away) >= maxAway {
			b.away = map[string]string{}
		}
		b.away[strings.Clone(folded)] = msg
	case !away && was:
		delete(b.away, folded)
	default:
		b.awayMu.Unlock()
		return
	}
	b.awayMu.Unlock()
	p := &bridge.Presence{State: event.PresenceOnline}
	if away {
		p = &bridge.Presence{State: event.PresenceUnavailable, Status: msg}
	}
	b.net.queue(&bridge.RemoteEvent{Kind: bridge.RemotePresence, Portal: bridge.PortalKey{Network: b.net.id},
		Sender: b.net.ghostSender(nick), Presence: p})
}

// awayRenamed follows an away user to their new nick, which is a new
// ghost: it is told the away state, since no poll or away-notify would.
func (b *bot) awayRenamed(old, nick string) {
	folded := b.net.fold(old)
	if folded == b.net.fold(nick) {
		return
	}
	b.awayMu.Lock()
	msg, away := b.away[folded]
	delete(b.away, folded)
	b.awayMu.Unlock()
	if away {
		b.setAway(nick, true, msg)
	}
}
