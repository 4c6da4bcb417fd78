package irc

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"maunium.net/go/mautrix/id"
)

// channel is what the bot knows of one channel it is in. Events for the
// channel are queued to the core while mu is held, so Matrix sees them in
// the order the bot saw them, even those queued by the drip-feed and
// netsplit timers running beside the reader.
type channel struct {
	name   string
	key    bridge.PortalKey
	static bool // from the config: may create its portal

	mu      sync.Mutex
	members map[string]*member // by folded nick
	names   map[string]*member // NAMES being gathered until 366; nil otherwise
	topic   string
	flags   map[byte]bool // which of roomModes are set
	// flagsKnown is set once a 324 reply listed the channel's modes.
	flagsKnown bool
	synced     bool // a NAMES list has come since the bot joined
	gen        int  // bumped by each sync, so a newer one stops an older drip
	split      *time.Timer
}

// member is one nick in a channel.
type member struct {
	nick  string
	modes string // membership modes, highest first ("ov")
	// account is the services account the nick is logged in to, "" for
	// none, when accountKnown: learned from extended-join or ACCOUNT on a
	// connection with account-notify, which keeps it current for as long
	// as the bot shares a channel with the nick.
	account      string
	accountKnown bool
	// userHost is the member's user@host (lowercased) from the JOIN or
	// ACCOUNT that told the account: the account stands only for a PM
	// from that same user@host, not for whoever holds the nick by the time
	// a PM overtakes the bot's view (a QUIT not yet read, a nick taken).
	userHost string
}

func newChannel(n *Network, name string, static bool) *channel {
	return &channel{name: name, key: n.channelKey(name), static: static, members: map[string]*member{}}
}

// Power levels for channel ranks. Ops get 50, not 100: the bridge bot is
// 100 in every portal and Matrix never lets a user change the level of
// someone at their own level, so ops at 100 could never be demoted when
// they lose +o on IRC. 50 is Matrix's moderator, which is what an op is.
const (
	levelOp     = 50
	levelHalfop = 25
	levelVoice  = 10
)

// levelFor maps a member's highest membership mode to a power level.
// Owner (q) and admin (a) are ops for Matrix's purposes.
func levelFor(modes string) int {
	if modes == "" {
		return 0
	}
	switch modes[0] {
	case 'q', 'a', 'o', 'Y', 'y':
		return levelOp
	case 'h':
		return levelHalfop
	case 'v':
		return levelVoice
	}
	return 0
}

// netsplitQuit matches the QUIT reason servers give users lost in a
// netsplit: the two server names ("hub.example.net leaf.example.net").
// It is the fallback for servers that do not wrap a split in a netsplit
// BATCH.
var netsplitQuit = regexp.MustCompile(`^[A-Za-z0-9*.-]+\.[A-Za-z0-9.-]+ [A-Za-z0-9*.-]+\.[A-Za-z0-9.-]+$`)

func isNetsplit(reason string) bool { return netsplitQuit.MatchString(reason) }

// IRCv3 batch types (https://ircv3.net/specs/batches/netsplit) that
// servers with the batch capability wrap around the QUITs of a netsplit
// and the JOINs of the users coming back.
const (
	batchNetsplit = "netsplit"
	batchNetjoin  = "netjoin"
)

// maxOpenBatches bounds the batches remembered on one connection, against
// a server that opens them and never closes them.
const maxOpenBatches = 64

// splitBatches are the netsplit and netjoin batches open on the bot's
// connection, by reference tag. Batch references belong to a connection,
// so a new connection starts with none.
type splitBatches struct {
	mu   sync.Mutex
	conn *Conn
	open map[string]string // reference → batchNetsplit or batchNetjoin
}

// onBatch opens or closes a batch: "BATCH +ref type [params]" or
// "BATCH -ref". Only netsplit and netjoin batches are remembered; the
// lines of any other kind are handled as if unbatched.
func (b *bot) onBatch(c *Conn, m *ircproto.Message) {
	ref := m.Params[0]
	if len(ref) < 2 {
		return
	}
	s := &b.batches
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c || s.open == nil {
		s.conn, s.open = c, map[string]string{}
	}
	switch ref[0] {
	case '+':
		if typ := m.Param(1); typ == batchNetsplit || typ == batchNetjoin {
			if len(s.open) >= maxOpenBatches {
				s.open = map[string]string{}
			}
			s.open[ref[1:]] = typ
		}
	case '-':
		delete(s.open, ref[1:])
	}
}

// batchOf returns the type of the netsplit or netjoin batch m belongs
// to, or "".
func (b *bot) batchOf(c *Conn, m *ircproto.Message) string {
	ref, ok := m.Tag("batch")
	if !ok {
		return ""
	}
	s := &b.batches
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return ""
	}
	return s.open[ref]
}

// splitQuit reports whether a QUIT is part of a netsplit: inside a
// netsplit batch, or, from servers without batches, by its reason.
func (b *bot) splitQuit(c *Conn, m *ircproto.Message) bool {
	return b.batchOf(c, m) == batchNetsplit || isNetsplit(m.Param(0))
}

// netjoin takes a JOIN that is part of a netjoin batch into the bot's
// view without a Matrix join of its own: the users coming back after a
// split are one reconcile per channel once the burst has settled, as
// their leaving was. It reports false, doing nothing, for any other JOIN.
// Call with ch.mu held.
func (b *bot) netjoin(c *Conn, ch *channel, m *ircproto.Message) bool {
	if b.batchOf(c, m) != batchNetjoin {
		return false
	}
	b.deferSplit(ch)
	return true
}

// joinAccount is the account a JOIN says its user is logged in to ("" for
// none), and whether it says so: with extended-join, JOIN carries the
// account, and only with account-notify does it stay true later.
func joinAccount(c *Conn, m *ircproto.Message) (account string, known bool) {
	if len(m.Params) < 3 || !c.HasCap("extended-join") || !c.HasCap("account-notify") {
		return "", false
	}
	if account = m.Params[1]; account == "*" {
		account = ""
	}
	return account, true
}

// userHost is a source's user@host, lowercased, as the account caches
// compare it.
func userHost(src ircproto.Prefix) string { return strings.ToLower(src.User + "@" + src.Host) }

// onAccount follows account-notify: "ACCOUNT name" when a user logs in,
// "ACCOUNT *" when they log out, sent for users sharing a channel.
func (b *bot) onAccount(c *Conn, m *ircproto.Message) {
	account := m.Params[0]
	if account == "*" {
		account = ""
	}
	nick := b.net.fold(m.Nick())
	for _, ch := range b.channelsWith(nick) {
		ch.mu.Lock()
		if mem, ok := ch.members[nick]; ok {
			mem.account, mem.accountKnown, mem.userHost = account, c.HasCap("account-notify"), userHost(m.Source)
		}
		ch.mu.Unlock()
	}
}

// memberSender is who a member is for the core: an IRC user's ghost, or a
// puppet's Matrix user, which the core leaves alone when reconciling.
func (n *Network) memberSender(nick string) bridge.Sender {
	if p := n.puppetByNick(nick); p != nil {
		return bridge.Sender{ID: n.ghostID(nick), Matrix: p.mxid}
	}
	return n.ghostSender(nick)
}

// snapshot lists the channel's members as the core wants them, with
// their power levels: ghosts' by remote ID, puppets' (Matrix users) by
// MXID. The bot itself is left out: it is not a ghost. Call with ch.mu
// held.
func (b *bot) snapshot(ch *channel) ([]bridge.Sender, ranks) {
	nicks := make([]string, 0, len(ch.members))
	for _, m := range ch.members {
		if b.isMe(m.nick) {
			continue
		}
		nicks = append(nicks, m.nick)
	}
	sort.Strings(nicks)
	members := make([]bridge.Sender, 0, len(nicks))
	r := newRanks()
	for _, nick := range nicks {
		s := b.net.memberSender(nick)
		members = append(members, s)
		r.set(s, levelFor(ch.members[b.net.fold(nick)].modes))
	}
	return members, r
}

// ranks are members' Matrix levels from their channel modes.
type ranks struct {
	ghosts map[bridge.RemoteUserID]int
	matrix map[id.UserID]int
}

func newRanks() ranks {
	return ranks{ghosts: map[bridge.RemoteUserID]int{}, matrix: map[id.UserID]int{}}
}

func (r ranks) set(s bridge.Sender, level int) {
	if s.Matrix != "" {
		r.matrix[s.Matrix] = level
	} else {
		r.ghosts[s.ID] = level
	}
}

func (r ranks) empty() bool { return len(r.ghosts) == 0 && len(r.matrix) == 0 }

// into puts the ranks into a chat info, leaving an empty kind out.
func (r ranks) into(info *bridge.ChatInfo) *bridge.ChatInfo {
	if len(r.ghosts) > 0 {
		info.PowerLevels = r.ghosts
	}
	if len(r.matrix) > 0 {
		info.MatrixPowerLevels = r.matrix
	}
	return info
}

// startSync makes the portal's ghosts match the channel: missing ghosts
// join one by one at membership.join_rate (a 2,000-member channel would
// otherwise arrive as one burst), then one member list reconciles the rest
// (ghosts that left while we were away leave) and sets power levels.
func (b *bot) startSync(ch *channel) {
	ch.mu.Lock()
	ch.gen++
	gen := ch.gen
	ch.mu.Unlock()
	b.net.wg.Add(1)
	go func() {
		defer b.net.wg.Done()
		b.drip(ch, gen)
	}()
}

func (b *bot) drip(ch *channel, gen int) {
	n := b.net
	ctx := n.ctx
	portal := b.waitPortal(ch, gen)
	if portal == nil {
		return
	}
	// Ghosts already in the room (after a bridge restart, most of them)
	// need no join event; the reconcile at the end still covers them.
	ghostJoined, err := n.mx.JoinedGhosts(ctx, portal.MXID, n.ghosts)
	if err != nil {
		n.log.Debug().Err(err).Msg("Failed to read joined ghosts; joining all")
	}
	ch.mu.Lock()
	var todo []string
	for _, m := range ch.members {
		if b.isMe(m.nick) || n.puppetByNick(m.nick) != nil {
			continue
		}
		if ghostJoined[n.ghosts.MXID(string(n.ghostID(m.nick)))] {
			continue
		}
		todo = append(todo, m.nick)
	}
	ch.mu.Unlock()
	sort.Strings(todo)
	interval := time.Duration(float64(time.Second) / n.cfg.Membership.JoinRate)
	for _, nick := range todo {
		if !sleepCtx(ctx, interval) {
			return
		}
		ch.mu.Lock()
		if ch.gen != gen {
			ch.mu.Unlock()
			return
		}
		if m, ok := ch.members[n.fold(nick)]; ok {
			n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteJoin, Portal: ch.key, Sender: n.ghostSender(m.nick)})
		}
		ch.mu.Unlock()
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.gen != gen {
		return
	}
	members, levels := b.snapshot(ch)
	n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: ch.key,
		ChatInfo: withRoomModes(ch, levels.into(&bridge.ChatInfo{Members: members}))})
}

// waitPortal returns the channel's portal once it has a room, or nil when
// a newer sync took over. A static channel gets its room made now; one
// asked for through an alias gets its room from the core just after the
// bot joined, so the sync waits rather than racing the core to make it;
// one configured with a room waits for an admin's "link".
func (b *bot) waitPortal(ch *channel, gen int) *bridge.Portal {
	n := b.net
	if p, err := n.core.GetPortal(n.ctx, ch.key); err == nil && p != nil && p.MXID != "" {
		return p
	}
	if ch.static {
		n.log.Info().Str("channel", ch.name).Msg("Creating the portal of a configured channel")
		name := ch.name
		n.queue(&bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: ch.key, CreatePortal: true,
			ChatInfo: &bridge.ChatInfo{Name: &name}})
	} else if b.isStatic(ch.name) {
		n.log.Info().Str("channel", ch.name).Msg("Configured channel has no portal yet; link it to its room with the link command")
	}
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, 5*time.Second) {
		if !sleepCtx(n.ctx, delay) {
			return nil
		}
		ch.mu.Lock()
		stale := ch.gen != gen
		ch.mu.Unlock()
		if stale {
			return nil
		}
		if p, err := n.core.GetPortal(n.ctx, ch.key); err == nil && p != nil && p.MXID != "" {
			return p
		}
	}
}

// netsplitQuit handles a QUIT that looks like a netsplit: the user is
// removed from the bot's view at once, but Matrix hears of it only when
// the split has settled, as one reconcile per channel rather than one
// leave per user. Users who come back in time never leave Matrix at all.
// Call with ch.mu held.
func (b *bot) deferSplit(ch *channel) {
	delay := b.net.cfg.Membership.NetsplitDelay.D()
	if ch.split != nil {
		ch.split.Reset(delay)
		return
	}
	ch.split = time.AfterFunc(delay, func() {
		ch.mu.Lock()
		ch.split = nil
		ch.mu.Unlock()
		b.startSync(ch)
	})
}

// applyModes applies membership mode changes and returns the power levels
// that changed. Call with ch.mu held.
func (b *bot) applyModes(ch *channel, is *ircproto.ISupport, changes []ircproto.ModeChange) ranks {
	levels := newRanks()
	for _, c := range changes {
		if is.ChanModes().Type(c.Mode) != ircproto.ModePrefix || c.Param == "" {
			continue
		}
		m, ok := ch.members[b.net.fold(c.Param)]
		if !ok {
			continue
		}
		if c.Add {
			if !strings.ContainsRune(m.modes, rune(c.Mode)) {
				m.modes = sortModes(is, m.modes+string(c.Mode))
			}
		} else {
			m.modes = strings.ReplaceAll(m.modes, string(c.Mode), "")
		}
		if !b.isMe(m.nick) {
			levels.set(b.net.memberSender(m.nick), levelFor(m.modes))
		}
	}
	return levels
}

// sortModes orders membership modes by rank, highest first.
func sortModes(is *ircproto.ISupport, modes string) string {
	b := []byte(modes)
	sort.Slice(b, func(i, j int) bool { return is.Rank(b[i]) < is.Rank(b[j]) })
	return string(b)
}
