package irc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// bot is the bridge's own IRC connection. It holds every bridged channel,
// and it alone turns channel traffic into Matrix events.
type bot struct {
	net  *Network
	conn *connector
	// isupport is the last server's ISUPPORT, kept across reconnects for
	// nick lengths and channel prefixes while the bot is down.
	isupport atomic.Pointer[ircproto.ISupport]
	nick     atomic.Pointer[string]

	mu       sync.Mutex
	wanted   map[string]wantedChannel // folded → channel to hold
	channels map[string]*channel      // folded → state while joined
	joinWait map[string][]chan error
	rejoins  map[string]*rejoin // folded → retries of a refused join (rejoin.go)

	awayMu sync.Mutex
	away   map[string]string // folded nick → away message ("" not yet known), for users away

	// relayed holds, by Matrix event, how many lines of a relayed message
	// went out before its connection failed, so a retry goes on from there.
	relayed sync.Map // id.EventID → int

	// joinWho holds the WHOs after joins not yet sent (away.go).
	joinWho joinWhoQueue
	batches splitBatches // netsplit and netjoin BATCHes open (membership.go)
}

type wantedChannel struct {
	// key is the channel key in force, as last seen (rejoin.go).
	name, key string
	static    bool // from the config: its portal is made at start
	linked    bool // from the config with a room: an admin links it
	portal    bool // has a portal: a refused join is retried, not dropped
}

func newBot(n *Network) *bot {
	b := &bot{net: n, wanted: map[string]wantedChannel{}, channels: map[string]*channel{}, joinWait: map[string][]chan error{},
		rejoins: map[string]*rejoin{}}
	b.isupport.Store(ircproto.NewISupport())
	nick := n.cfg.Bot.Nick
	b.nick.Store(&nick)
	b.conn = newConnector(n, "bot")
	b.conn.config = b.connConfig
	b.conn.onUp = b.onUp
	b.conn.onDown = b.onDown
	return b
}

// botCaps are what the bot asks for: everything that keeps ghosts right
// without polling. echo-message is left out: the bot says little, and
// what puppets say is recognised by their nick.
var botCaps = []string{"sasl", "server-time", "message-tags", "away-notify", "account-notify", "extended-join",
	"multi-prefix", "userhost-in-names", "cap-notify", "chghost", "account-tag", "batch"}

func (b *bot) connConfig() *connConfig {
	c := b.net.cfg
	cfg := &connConfig{
		addr:         c.hostPort(),
		tls:          c.TLS,
		skipVerify:   c.TLSSkipVerify,
		reg:          ircproto.Registration{Password: c.Password, Nick: c.Bot.Nick, Username: c.Bot.Username, Realname: c.Bot.Realname},
		caps:         botCaps,
		altNick:      func(_ string, attempt int) string { return altNick(c.Bot.Nick, attempt, b.nickLen()) },
		linesPerSec:  c.Limits.LinesPerSecond,
		lineBurst:    c.Limits.LineBurst,
		fenceTimeout: &b.net.fenceTimeout,
		handler:      b.handle,
		ident:        b.net.ident,
		keepCaps:     true,
		log:          &b.net.log,
		who:          "bot",
	}
	if c.SASL != nil {
		cfg.sasl = &ircproto.SASLConfig{Username: c.SASL.Username, Password: c.SASL.Password}
	}
	return cfg
}

// loadChannels decides what the bot holds: the configured channels and
// every channel that has a portal.
func (b *bot) loadChannels(ctx context.Context) error {
	for _, ch := range b.net.cfg.Channels {
		b.wanted[b.net.fold(ch.Channel)] = wantedChannel{name: ch.Channel, key: ch.Key, static: ch.Room == "", linked: ch.Room != ""}
	}
	portals, err := b.net.core.Portals(ctx)
	if err != nil {
		return fmt.Errorf("list portals: %w", err)
	}
	for _, p := range portals {
		if p.Key.Network != b.net.id || p.Key.Receiver != "" {
			continue
		}
		w, ok := b.wanted[string(p.Key.Chat)]
		if !ok {
			w = wantedChannel{name: string(p.Key.Chat)}
		}
		w.portal = true
		b.wanted[string(p.Key.Chat)] = w
	}
	return nil
}

// rekey folds the bot's maps anew from old to now (Network.rekey). It
// returns how a channel key folded under old is keyed under now: through
// the name of a channel the bot holds, else folded again.
func (b *bot) rekey(old, now ircproto.Casemapping) func(string) string {
	b.mu.Lock()
	names := make(map[string]string, 2*len(b.wanted)+len(b.channels))
	for _, w := range b.wanted {
		names[old.Fold(w.name)] = now.Fold(w.name)
	}
	// Second, so that a key held as it is wins over one that two names
	// fold to.
	for k, w := range b.wanted {
		names[k] = now.Fold(w.name)
	}
	for k, ch := range b.channels {
		names[k] = now.Fold(ch.name)
	}
	chanKey := func(k string) string {
		if nk, ok := names[k]; ok {
			return nk
		}
		return now.Fold(k)
	}
	b.wanted = rekeyed(b.wanted, func(_ string, w wantedChannel) string { return now.Fold(w.name) }, mergeWanted)
	b.channels = rekeyed(b.channels, func(_ string, ch *channel) string { return now.Fold(ch.name) }, nil)
	// A channel keeps its portal's key: the portal is keyed as it was
	// made. The bot holds channels across a change only in the moment
	// between losing its connection and onDown, which drops them all.
	nicks := map[string]string{} // member keys, old fold → new
	for _, ch := range b.channels {
		ch.mu.Lock()
		for k, m := range ch.members {
			nicks[k] = now.Fold(m.nick)
		}
		byNick := func(_ string, m *member) string { return now.Fold(m.nick) }
		ch.members = rekeyed(ch.members, byNick, nil)
		ch.names = rekeyed(ch.names, byNick, nil)
		ch.mu.Unlock()
	}
	b.joinWait = rekeyed(b.joinWait, func(k string, _ []chan error) string { return chanKey(k) }, appendWaits)
	b.rejoins = rekeyed(b.rejoins, func(k string, _ *rejoin) string { return chanKey(k) }, nil)
	for k, r := range b.rejoins {
		// The timer would retry under the old key, which finds nothing.
		if r.timer != nil && r.timer.Stop() {
			r.timer = time.AfterFunc(rejoinDelay(r.failures), func() { b.retryJoin(k) })
		}
	}
	b.mu.Unlock()
	// Away users are keyed by folded nick, which cannot be folded anew:
	// they follow their member entries, whose real nicks can. One with no
	// entry is found again by the next WHO or away-notify.
	b.awayMu.Lock()
	away := b.away
	b.away = nil
	for k, msg := range away {
		if nk, ok := nicks[k]; ok {
			if b.away == nil {
				b.away = map[string]string{}
			}
			b.away[nk] = msg
		}
	}
	b.awayMu.Unlock()
	return chanKey
}

// mergeWanted makes one of two entries that a new casemapping folds to
// one channel: a configured channel and its portal, typically.
func mergeWanted(a, b wantedChannel) wantedChannel {
	if !a.static && !a.linked && (b.static || b.linked) {
		a.name = b.name
	}
	if a.key == "" {
		a.key = b.key
	}
	a.static, a.linked, a.portal = a.static || b.static, a.linked || b.linked, a.portal || b.portal
	return a
}

func (b *bot) isStatic(channel string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.wanted[b.net.fold(channel)]
	return w.static || w.linked
}

// hold makes sure the bot is in a channel that has a portal, for portals
// that appeared without the bot asking (a "link" by an admin). It does
// not wait.
func (b *bot) hold(channel string) {
	folded := b.net.fold(channel)
	b.mu.Lock()
	w, wanted := b.wanted[folded]
	_, in := b.channels[folded]
	if !wanted {
		w = wantedChannel{name: channel}
	}
	w.portal = true
	b.wanted[folded] = w
	b.mu.Unlock()
	c := b.conn.current()
	if in || c == nil {
		return
	}
	b.net.wg.Add(1)
	go func() {
		defer b.net.wg.Done()
		_ = c.Send(b.net.ctx, b.joinMessage(channel))
	}()
}

func (b *bot) chanTypes() string { return b.isupport.Load().ChanTypes() }

func (b *bot) nickLen() int {
	if n := b.isupport.Load().NickLen(); n > 0 {
		return n
	}
	return ircproto.DefaultNickLen
}

func (b *bot) isMe(nick string) bool {
	return b.isupport.Load().EqualFold(nick, *b.nick.Load())
}

func (b *bot) onUp(c *Conn) {
	is := c.ISupport()
	b.isupport.Store(is)
	// Before the joins below: their answers are looked up by fold.
	b.net.adoptCasemap(c, true)
	nick := c.Nick()
	b.nick.Store(&nick)
	b.net.log.Info().Str("nick", nick).Msg("Bot connected to IRC")
	if why := c.SASLRefusal(); why != "" {
		b.net.log.Warn().Str("account", c.cfg.sasl.Username).Str("reason", why).Msg("The IRC server refused the bot's SASL login; it is connected unidentified")
	}
	if !c.HasCap("away-notify") && b.net.cfg.Membership.AwayPoll > 0 {
		b.net.wg.Add(1)
		go func() {
			defer b.net.wg.Done()
			b.pollAway(c)
		}()
	}
	pass := b.net.cfg.Bot.NickServPassword
	b.mu.Lock()
	var names, keys []string
	for _, w := range b.wanted {
		names, keys = append(names, w.name), append(keys, w.key)
	}
	b.mu.Unlock()
	// Joining may wait on the token bucket; the reader must not.
	b.net.wg.Add(1)
	go func() {
		defer b.net.wg.Done()
		ctx := b.net.ctx
		if pass != "" && !c.Authenticated() {
			_ = c.Send(ctx, ircproto.NewMessage("PRIVMSG", "NickServ", "IDENTIFY "+pass))
		}
		for _, m := range joinLinesFor(c, names, keys) {
			if err := c.Send(ctx, m); err != nil {
				return
			}
		}
	}()
}

func (b *bot) onDown(_ *Conn, err error) {
	b.mu.Lock()
	for k, ch := range b.channels {
		ch.mu.Lock()
		ch.gen++ // stops a drip in progress
		if ch.split != nil {
			ch.split.Stop()
			ch.split = nil
		}
		ch.mu.Unlock()
		delete(b.channels, k)
	}
	for k, ws := range b.joinWait {
		for _, w := range ws {
			w <- fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
		delete(b.joinWait, k)
	}
	b.stopRejoins()
	b.mu.Unlock()
	if !errors.Is(err, ErrClosed) {
		b.net.log.Warn().Err(err).Msg("Bot lost its IRC connection")
	}
}

// join makes the bot hold a channel and returns what the portal should
// start with, once the server sent the member list.
func (b *bot) join(ctx context.Context, name string) (*bridge.ChatInfo, error) {
	folded := b.net.fold(name)
	b.mu.Lock()
	w, ok := b.wanted[folded]
	if !ok {
		w = wantedChannel{name: name}
		b.wanted[folded] = w
	}
	b.mu.Unlock()
	c, err := b.conn.wait(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	ch := b.channels[folded]
	var wait chan error
	if ch == nil || !ch.isSynced() {
		wait = make(chan error, 1)
		b.joinWait[folded] = append(b.joinWait[folded], wait)
	}
	b.mu.Unlock()
	if wait != nil {
		params := []string{w.name}
		if w.key != "" {
			params = append(params, w.key)
		}
		if err := c.Send(ctx, ircproto.NewMessage("JOIN", params...)); err != nil {
			return nil, err
		}
		select {
		case err := <-wait:
			if err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b.mu.Lock()
	ch = b.channels[folded]
	b.mu.Unlock()
	if ch == nil {
		return nil, ErrNotConnected
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	_, levels := b.snapshot(ch)
	info := withRoomModes(ch, levels.into(&bridge.ChatInfo{Name: &ch.name}))
	if ch.topic != "" {
		topic := ch.topic
		info.Topic = &topic
	}
	return info, nil
}

func (ch *channel) isSynced() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.synced
}

func (b *bot) channel(name string) *channel {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.channels[b.net.fold(name)]
}

// allChannels lists the channels the bot is in, to look at one by one
// without holding b.mu.
func (b *bot) allChannels() []*channel {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := make([]*channel, 0, len(b.channels))
	for _, ch := range b.channels {
		all = append(all, ch)
	}
	return all
}

// channelsWith returns the channels a nick is in, as far as the bot sees.
func (b *bot) channelsWith(nick string) []*channel {
	folded := b.net.fold(nick)
	var out []*channel
	for _, ch := range b.allChannels() {
		ch.mu.Lock()
		_, in := ch.members[folded]
		ch.mu.Unlock()
		if in {
			out = append(out, ch)
		}
	}
	return out
}

// realNick returns how a folded nick is written, when the bot shares a
// channel with them.
func (b *bot) realNick(folded string) string {
	for _, ch := range b.allChannels() {
		ch.mu.Lock()
		m, ok := ch.members[folded]
		ch.mu.Unlock()
		if ok {
			return m.nick
		}
	}
	return folded
}

// relay posts for a Matrix user who cannot have a puppet (the network's
// puppet limit is reached): "<name> text", through the bot.
func (b *bot) relay(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := b.conn.wait(wctx)
	if err != nil {
		return nil, err
	}
	target := string(msg.Portal.Key.Chat)
	if msg.Portal.Key.Receiver != "" {
		return nil, fmt.Errorf("%w: private messages need your own IRC connection, and the network is full", bridge.ErrPermanent)
	}
	name := msg.SenderName
	if name == "" {
		name = msg.Sender.MXID.Localpart()
	}
	out := b.net.outgoing(ctx, msg, msg.Content)
	action := out.action
	text := out.text
	if action {
		text = name + " " + text
	} else {
		text = "<" + name + "> " + text
	}
	sp := ircproto.Splitter{Command: out.command, Target: target, PrefixLen: c.prefixLen(), LineLen: c.ISupport().LineLen(), Action: action}
	lines, err := b.net.fitLines(sp, text, msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
	}
	// As a puppet's send does: a retry after a failed connection goes on
	// from the first line not written, and a message written just before
	// the connection died is reported, not counted as delivered.
	key := msg.Event.ID
	done := 0
	if v, ok := b.relayed.Load(key); ok {
		done = v.(int)
	}
	for i := done; i < len(lines); i++ {
		if err := c.Send(ctx, lines[i]); err != nil {
			b.relayed.Store(key, i)
			return nil, err
		}
	}
	b.relayed.Delete(key)
	if err := c.fence(ctx); err != nil && ctx.Err() == nil {
		// As for a puppet's message (Puppet.send).
		b.net.log.Warn().Err(err).Str("target", target).Msg("No answer after a relayed message; reporting it as maybe lost")
		return nil, errMaybeLost
	}
	return &bridge.MessageResult{ID: bridge.MessageID("mx-" + msg.Event.ID.String())}, nil
}
