package irc

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// Channel keys and refused joins. The bot remembers each wanted channel's
// key (from the config, then from every MODE +k/-k and 324 it sees), and
// the bot and every puppet join with it: a channel keyed after it was
// bridged stays joinable, also after a reconnect or an idle puppet's
// comeback. A bridged channel the bot cannot get back into stays wanted
// and is retried with backoff; its room is told once.

// rejoinBase and rejoinMax bound the wait between retries of a refused
// join: a ban or +i is usually lifted by hand, so minutes are soon enough,
// and retrying faster would only flood the channel's ops with failed joins.
// Tests shorten rejoinBase.
var (
	rejoinBase = 10 * time.Second
	rejoinMax  = 5 * time.Minute
)

// rejoin is the retry state of a wanted channel the server refused.
type rejoin struct {
	failures int
	told     bool // the room was told; it is told again only once the bot is back
	timer    *time.Timer
}

// rejoinDelay doubles from rejoinBase up to rejoinMax, with ±25 % jitter
// so that retries of many channels spread out.
func rejoinDelay(failures int) time.Duration {
	return doubling(rejoinBase, rejoinMax, failures, rand.Float64()) //nolint:gosec // jitter needs no crypto
}

// hiddenKey reports a key parameter that stands for a key the server does
// not show (InspIRCd's "<key>" to non-members), or no key at all.
func hiddenKey(key string) bool {
	return key == "" || key == "*" || key == "<key>"
}

// learnKey follows the key of a wanted channel from a MODE line or, when
// full is set, from RPL_CHANNELMODEIS, which lists every mode set: a 324
// without +k means the channel has no key.
func (b *bot) learnKey(channel string, changes []ircproto.ModeChange, full bool) {
	key, seen := "", false
	for _, c := range changes {
		if c.Mode != 'k' {
			continue
		}
		if c.Add && hiddenKey(c.Param) {
			return
		}
		key, seen = "", true
		if c.Add {
			key = c.Param
		}
	}
	if !seen && !full {
		return
	}
	folded := b.net.fold(channel)
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.wanted[folded]; ok && w.key != key {
		w.key = key
		b.wanted[folded] = w
	}
}

// keyFor returns the key to join a channel with ("" for none known).
func (b *bot) keyFor(channel string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wanted[b.net.fold(channel)].key
}

// keysFor returns the keys for channels, in order.
func (b *bot) keysFor(channels []string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	keys := make([]string, len(channels))
	for i, ch := range channels {
		keys[i] = b.wanted[b.net.fold(ch)].key
	}
	return keys
}

// joinMessage is a JOIN of one channel with its key, if it has one.
func (b *bot) joinMessage(channel string) *ircproto.Message {
	if key := b.keyFor(channel); key != "" {
		return ircproto.NewMessage("JOIN", channel, key)
	}
	return ircproto.NewMessage("JOIN", channel)
}

// joinLines packs channels into JOIN lines of at most ~400 bytes and at
// most maxTargets channels (the server's TARGMAX for JOIN; 0 for no
// limit), keyed channels first as the protocol requires. A server that
// does not list JOIN in TARGMAX gets whole lists: comma lists in JOIN are
// as old as RFC 1459, and one line per channel would make a bot with many
// channels wait on its line rate.
func joinLines(names, keys []string, maxTargets int) []*ircproto.Message {
	type ck struct{ name, key string }
	var keyed, open []ck
	for i, n := range names {
		if keys[i] != "" {
			keyed = append(keyed, ck{n, keys[i]})
		} else {
			open = append(open, ck{n, ""})
		}
	}
	all := append(keyed, open...)
	var out []*ircproto.Message
	for len(all) > 0 {
		var chans, ks []string
		size := 0
		i := 0
		for ; i < len(all); i++ {
			add := len(all[i].name) + len(all[i].key) + 2
			if i > 0 && (size+add > 400 || maxTargets > 0 && i >= maxTargets) {
				break
			}
			size += add
			chans = append(chans, all[i].name)
			if all[i].key != "" {
				ks = append(ks, all[i].key)
			}
		}
		all = all[i:]
		params := []string{strings.Join(chans, ",")}
		if len(ks) > 0 {
			params = append(params, strings.Join(ks, ","))
		}
		out = append(out, ircproto.NewMessage("JOIN", params...))
	}
	return out
}

// joinLinesFor is joinLines under the TARGMAX of connection c.
func joinLinesFor(c *Conn, names, keys []string) []*ircproto.Message {
	limit, _ := c.ISupport().TargMax("JOIN")
	return joinLines(names, keys, limit)
}

// finishJoin wakes those waiting for the bot to be in a channel. A
// refusal of a channel with a portal (or from the config) keeps it wanted
// and retries later, telling its room once; one that nobody bridged yet
// (a user's first request) is forgotten, and the request fails.
func (b *bot) finishJoin(folded string, err error) {
	b.mu.Lock()
	if _, in := b.channels[folded]; in && err != nil {
		// A 403 or the like for a channel the bot is in answered
		// something other than a JOIN.
		b.mu.Unlock()
		return
	}
	ws := b.joinWait[folded]
	delete(b.joinWait, folded)
	w, wanted := b.wanted[folded]
	r := b.rejoins[folded]
	var back, tell bool
	switch {
	case err == nil:
		if wanted && !w.portal {
			// Joined for a request: its portal is made now.
			w.portal = true
			b.wanted[folded] = w
		}
		if r != nil {
			if r.timer != nil {
				r.timer.Stop()
			}
			back = r.told
			delete(b.rejoins, folded)
		}
	case wanted && (w.portal || w.static || w.linked):
		if r == nil {
			r = &rejoin{}
			b.rejoins[folded] = r
		}
		r.failures++
		tell, r.told = !r.told, true
		if r.timer != nil {
			r.timer.Stop()
		}
		delay := rejoinDelay(r.failures)
		r.timer = time.AfterFunc(delay, func() { b.retryJoin(folded) })
		b.net.log.Info().Str("channel", w.name).Stringer("retry_in", delay).Msg("Will retry joining channel")
	default:
		delete(b.wanted, folded)
	}
	b.mu.Unlock()
	for _, wt := range ws {
		wt <- err
	}
	switch {
	case tell:
		reason := strings.TrimPrefix(err.Error(), ErrChannelRefused.Error()+": ")
		b.tellRoom(w.name, fmt.Sprintf("The bridge cannot get into %s on IRC: %s. Messages from IRC do not reach this room "+
			"until it can; it keeps trying, and says so here once it is back.", w.name, reason))
	case back:
		b.tellRoom(w.name, fmt.Sprintf("The bridge is back in %s on IRC.", w.name))
	}
}

// retryJoin sends the JOIN of a refused channel again, unless the bot has
// left it behind, is in it, or is down (its connecting joins everything).
func (b *bot) retryJoin(folded string) {
	if b.net.ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	w, wanted := b.wanted[folded]
	_, in := b.channels[folded]
	b.mu.Unlock()
	c := b.conn.current()
	if !wanted || in || c == nil {
		return
	}
	_ = c.Send(b.net.ctx, b.joinMessage(w.name))
}

// stopRejoins stops pending retries when the connection goes: the next
// connection joins every wanted channel at once. What was told is kept,
// so a channel still refused then is not told again.
func (b *bot) stopRejoins() {
	for _, r := range b.rejoins {
		if r.timer != nil {
			r.timer.Stop()
			r.timer = nil
		}
	}
}

// tellRoom posts a notice of the bridge bot in a channel's portal; a
// channel without a portal has nobody to tell.
func (b *bot) tellRoom(channel, text string) {
	n := b.net
	n.queue(&bridge.RemoteEvent{
		Kind: bridge.RemoteMessage, Portal: n.channelKey(channel), Timestamp: time.Now(),
		ID:      bridge.MessageID(fmt.Sprintf("irc-%d-%d", n.epoch, n.seq.Add(1))),
		Content: &bridge.Content{MsgType: event.MsgNotice, Body: text},
	})
}

// mayInvite reports whether the bot has the rank to invite someone into
// channel.
func (b *bot) mayInvite(channel string) bool {
	modes, in, _ := b.memberView(channel, *b.nick.Load())
	return in && levelFor(modes) >= levelOp
}

// inviteTimeout bounds the wait for the bot's INVITE after a puppet was
// refused a +i channel.
const inviteTimeout = 10 * time.Second

// askInvite handles a puppet's JOIN refused for +i: when the bot is an op
// there, it invites the puppet, which joins again on the INVITE (see
// invited). It is tried once per refusal streak; false means the refusal
// stands.
func (p *Puppet) askInvite(c *Conn, channel, reason string) bool {
	folded := p.net.fold(channel)
	bc := p.net.bot.conn.current()
	may := bc != nil && p.net.bot.mayInvite(channel) // before p.mu: it takes the bot's locks
	p.mu.Lock()
	t, asked := p.invites[folded]
	if asked && t != nil {
		// The refusal of a second JOIN sent before the first was
		// answered (connecting and a message both join): the INVITE
		// asked for covers it.
		p.mu.Unlock()
		return true
	}
	if asked || !may || !p.channels[folded] {
		delete(p.invites, folded)
		p.mu.Unlock()
		return false
	}
	if p.invites == nil {
		p.invites = map[string]*time.Timer{}
	}
	p.invites[folded] = time.AfterFunc(inviteTimeout, func() {
		if p.net.ctx.Err() != nil {
			return // the network stopped: nobody to tell
		}
		p.mu.Lock()
		t, pending := p.invites[folded]
		if pending && t != nil {
			delete(p.invites, folded)
		}
		p.mu.Unlock()
		if pending && t != nil {
			p.joinRefused(channel, reason)
		}
	})
	p.mu.Unlock()
	nick := c.Nick()
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		_ = bc.Send(p.net.ctx, ircproto.NewMessage("INVITE", nick, channel))
	}()
	return true
}

// invited joins a channel the bot invited the puppet into after a +i
// refusal; other invites are not the bridge's to act on.
func (p *Puppet) invited(c *Conn, channel string) {
	folded := p.net.fold(channel)
	p.mu.Lock()
	t, pending := p.invites[folded]
	if pending && t != nil {
		t.Stop()
		p.invites[folded] = nil
	}
	p.mu.Unlock()
	if !pending || t == nil {
		return
	}
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		_ = c.Send(p.net.ctx, p.net.bot.joinMessage(channel))
	}()
}

// joinRefused fails the waits for a channel the server would not let the
// puppet into, and tells the user.
func (p *Puppet) joinRefused(channel, reason string) {
	p.joinResult(channel, fmt.Errorf("%w %s: %s", ErrChannelRefused, channel, reason))
	p.net.notify(p.mxid, fmt.Sprintf("You cannot join %s on IRC: %s", channel, reason))
}

// stopInvites forgets the waits for INVITEs, with the connection they
// were for. Call with p.mu held.
func (p *Puppet) stopInvites() {
	for _, t := range p.invites {
		if t != nil {
			t.Stop()
		}
	}
	clear(p.invites)
}

// joining reports whether the bot wants channel and is not in it: a
// refusal naming it answers the bot's JOIN.
func (b *bot) joining(channel string) bool {
	folded := b.net.fold(channel)
	b.mu.Lock()
	defer b.mu.Unlock()
	_, wanted := b.wanted[folded]
	_, in := b.channels[folded]
	return wanted && !in
}

// joining reports whether the puppet should be in channel and is not
// (yet): a refusal naming it answers the puppet's JOIN.
func (p *Puppet) joining(channel string) bool {
	folded := p.net.fold(channel)
	p.mu.Lock()
	defer p.mu.Unlock()
	return (p.channels[folded] || len(p.joinWait[folded]) > 0) && !p.joined[folded]
}

// wantsChannel reports whether the user's rooms bridge channel.
func (p *Puppet) wantsChannel(channel string) bool {
	folded := p.net.fold(channel)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.channels[folded]
}
