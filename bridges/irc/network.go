package irc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/puppet"
)

func init() { bridge.RegisterKind(kind{}) }

type kind struct{}

func (kind) Kind() string { return "irc" }

func (kind) ExampleConfig() string { return exampleConfig }

// NewNetworks decodes networks.irc; it does no I/O.
func (kind) NewNetworks(section []byte, common bridge.CommonConfig) ([]bridge.Network, error) {
	cfgs, err := decodeConfigs(section)
	if err != nil {
		return nil, err
	}
	out := make([]bridge.Network, 0, len(cfgs))
	for _, c := range cfgs {
		n, err := newNetwork(c, common.Domain)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// core is what the adapter needs of the bridge. *bridge.Bridge has it;
// adapter tests record events with a fake instead of a homeserver.
type core interface {
	QueueRemoteEvent(ctx context.Context, ev *bridge.RemoteEvent) error
	ReportState(ctx context.Context, l *bridge.Login, st bridge.SessionState)
	Notify(ctx context.Context, user id.UserID, text string)
	SaveLogin(ctx context.Context, l *bridge.Login) error
	GetPortal(ctx context.Context, key bridge.PortalKey) (*bridge.Portal, error)
	Portals(ctx context.Context) ([]*bridge.Portal, error)
}

// Network is one configured IRC network.
type Network struct {
	cfg    Config
	id     bridge.NetworkID
	domain string
	ghosts *puppet.Namer

	log   zerolog.Logger
	core  core
	mx    matrixView
	store *store
	pacer *pacer
	ident *identServer
	// identOnce releases ident once, on the first Stop.
	identOnce sync.Once
	bot       *bot

	// casemap is the server's CASEMAPPING, used for every key (ghost IDs,
	// channel IDs, every map by folded name) so that case variants are
	// one thing. See adoptCasemap for where it comes from.
	casemap atomic.Int32
	// casemapMu serialises adopting a casemapping with the re-keying it
	// brings; savedCasemap is what the network's row holds ("" for none).
	casemapMu    sync.Mutex
	savedCasemap string

	mu      sync.Mutex
	puppets map[id.UserID]*Puppet
	byNick  map[string]nickHolder // folded nick → puppet, while registered
	invites map[string]*tokenBucket
	refused map[string]time.Time // sender and reason → when told (refusals.go)
	// accounts answers the "identified" PM policy without account-tag.
	accounts accountLookups
	shared   map[string]*ircproto.ISupport // by ISUPPORT tokens
	work     chan func()                   // see later
	seq      atomic.Uint64
	epoch    int64
	// upWait is how long a message waits for its puppet's connection
	// before the attempt fails and the core retries it; tests shorten it.
	upWait time.Duration
	// joinTimeout bounds the wait for the answer to a puppet's JOIN.
	joinTimeout time.Duration
	// regainWait is the first wait before a puppet on a fallback nick
	// asks for its own again (0: a minute); tests shorten it.
	regainWait time.Duration
	// fenceTimeout, when set, bounds a connection's wait for the PONG
	// after a message (Conn.fence), in nanoseconds; tests shorten it while
	// the bot may be connecting.
	fenceTimeout atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ bridge.Network       = (*Network)(nil)
	_ bridge.ChatResolver  = (*Network)(nil)
	_ bridge.RelayHandler  = (*Network)(nil)
	_ bridge.AutoSessioner = (*Network)(nil)
)

func newNetwork(c Config, domain string) (*Network, error) {
	namer, err := puppet.NewNamer(c.GhostTemplate, c.Name, domain)
	if err != nil {
		return nil, fmt.Errorf("networks.irc %s: ghost_template: %w", c.Name, err)
	}
	if c.DisplayName == "" {
		c.DisplayName = c.Name
	}
	n := &Network{
		cfg:         c,
		id:          bridge.NetworkID(c.Name),
		domain:      domain,
		ghosts:      namer,
		puppets:     map[id.UserID]*Puppet{},
		byNick:      map[string]nickHolder{},
		invites:     map[string]*tokenBucket{},
		shared:      map[string]*ircproto.ISupport{},
		upWait:      90 * time.Second,
		joinTimeout: 30 * time.Second,
	}
	n.casemap.Store(int32(ircproto.CasemapRFC1459))
	return n, nil
}

// Info is constant.
func (n *Network) Info() bridge.NetworkInfo {
	return bridge.NetworkInfo{
		ID:            n.id,
		Kind:          "irc",
		DisplayName:   n.cfg.DisplayName,
		GhostTemplate: n.cfg.GhostTemplate,
		AliasTemplate: n.cfg.AliasTemplate,
		Protocol:      "irc",
		// The bot relays only for users past limits.max_puppets; everyone
		// else gets a session of their own through AutoSession.
		Relay: true,
	}
}

// Start migrates the adapter's tables, starts the ident server and the
// bot. It returns without waiting for IRC: the bot connects in the
// background.
func (n *Network) Start(ctx context.Context, br *bridge.Bridge) error {
	return n.start(ctx, br, &asView{br: br}, br.DB("irc_version", upgradeTable), br.Config.Homeserver.Address)
}

func (n *Network) start(ctx context.Context, c core, mx matrixView, db *dbutil.Database, homeserver string) error {
	n.log = zerolog.Ctx(ctx).With().Str("network", string(n.id)).Logger()
	n.core, n.mx = c, mx
	n.store = &store{db: db, network: n.id}
	if err := n.store.upgrade(ctx); err != nil {
		return err
	}
	if err := n.loadCasemap(ctx); err != nil {
		return err
	}
	if n.cfg.MediaURL == "" {
		n.cfg.MediaURL = homeserver
	}
	n.ctx, n.cancel = context.WithCancel(n.log.WithContext(context.WithoutCancel(ctx)))
	n.epoch = time.Now().UnixMilli()
	n.pacer = newPacer(n.cfg.Limits.ConnectsPerSecond, n.cfg.Limits.ConnectsInFlight)
	if n.cfg.Ident.Enabled {
		addr := net.JoinHostPort(n.cfg.Ident.Address, strconv.Itoa(n.cfg.Ident.Port))
		ident, err := shareIdent(*zerolog.Ctx(ctx), addr)
		if err != nil {
			n.cancel()
			return err
		}
		n.ident = ident
	}
	n.work = make(chan func(), 1024)
	n.wg.Add(1)
	go n.worker()
	n.bot = newBot(n)
	if err := n.bot.loadChannels(ctx); err != nil {
		n.cancel()
		n.identOnce.Do(n.ident.release)
		return err
	}
	n.bot.conn.start()
	return nil
}

// Stop quits every puppet and the bot.
func (n *Network) Stop(ctx context.Context) error {
	if n.cancel == nil {
		return nil
	}
	n.mu.Lock()
	all := make([]*Puppet, 0, len(n.puppets))
	for _, p := range n.puppets {
		all = append(all, p)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.conn.stop("Bridge shutting down")
		}()
	}
	wg.Wait()
	n.bot.conn.stop("Bridge shutting down")
	n.cancel()
	// After every connection closed, so none is left in another
	// network's server; once, however often Stop is called.
	n.identOnce.Do(n.ident.release)
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("irc %s: stop: %w", n.id, ctx.Err())
	}
}

// fold casefolds a nick or channel under the server's casemapping.
func (n *Network) fold(s string) string {
	return ircproto.Casemapping(n.casemap.Load()).Fold(s)
}

// The casemapping is the server's, but it is only known once a connection
// has registered, while names are folded from the start: config channels
// at Start, and puppets the core starts right after it, which may register
// before the bot. Three things keep keys right:
//
//   - loadCasemap: the last casemapping seen is kept in the network's
//     row, so after the first run the network starts with the right one
//     and nothing needs re-keying at all.
//   - adoptCasemap: every connection that registers brings its server's,
//     the bot's or, while the bot is not up, a puppet's; so a puppet that
//     registers first indexes its nick under the right fold.
//   - rekey: when the casemapping changes (the first run; a server
//     upgraded to another one, as InspIRCd 4 went to ascii), every map
//     keyed by folded names is folded anew from the names it holds, so no
//     entry is left under a key nothing looks up any more.
//
// Persisting alone would leave the first run wrong; re-keying alone would
// let every restart fold under rfc1459 until a connection registered.

// loadCasemap starts the network with the casemapping last seen.
func (n *Network) loadCasemap(ctx context.Context) error {
	saved, err := n.store.casemap(ctx)
	if err != nil {
		return err
	}
	if cm, ok := ircproto.ParseCasemapping(saved); ok {
		n.casemap.Store(int32(cm))
		n.savedCasemap = saved
	}
	return nil
}

// adoptCasemap takes the casemapping of c, a connection that has just
// registered, before its handler sees anything. The bot's server decides
// while the bot is up, so that a puppet on a leaf that differs does not
// fold the bot's channels anew under its feet. Reader goroutine.
func (n *Network) adoptCasemap(c *Conn, fromBot bool) {
	if !fromBot && n.bot.conn.current() != nil {
		return
	}
	now := c.ISupport().Casemapping()
	n.casemapMu.Lock()
	defer n.casemapMu.Unlock()
	if old := ircproto.Casemapping(n.casemap.Load()); old != now {
		n.log.Info().Stringer("was", old).Stringer("casemapping", now).Msg("Folding names under the IRC server's casemapping")
		n.casemap.Store(int32(now))
		n.rekey(old, now)
	}
	if now.String() == n.savedCasemap {
		return
	}
	n.savedCasemap = now.String()
	n.later(func() {
		if err := n.store.saveCasemap(n.ctx, now.String()); err != nil {
			n.log.Warn().Err(err).Msg("Failed to save the IRC server's casemapping")
		}
	})
}

// rekey folds every map keyed by folded names anew, from old to now (the
// casemapping in force already). Channel keys without a name beside them
// (a puppet's channels) are translated through the names the bot holds:
// those are every portal's and configured channel's. Locks are taken one
// at a time, in the orders the rest of the package uses.
//
// Left alone are waits with the old key in a timer's closure, which end
// by themselves: an account WHOIS (accountTimeout) and a puppet's wait for
// the bot's INVITE (inviteTimeout). Both exist only on a connection that
// registered, which adopted its casemapping first, so they outlive a
// change only on a network whose servers disagree.
func (n *Network) rekey(old, now ircproto.Casemapping) {
	chanKey := n.bot.rekey(old, now)
	n.mu.Lock()
	n.byNick = rekeyed(n.byNick, func(_ string, e nickHolder) string { return now.Fold(e.nick) }, nil)
	// Who was told of a refusal and invite budgets: forgetting them tells
	// a sender once more at worst, and a key folded anew could not be
	// told from one that was not.
	n.refused = nil
	n.invites = map[string]*tokenBucket{}
	puppets := make([]*Puppet, 0, len(n.puppets))
	for _, p := range n.puppets {
		puppets = append(puppets, p)
	}
	n.mu.Unlock()
	n.accounts.mu.Lock()
	n.accounts.known = nil // a cache: asked again at worst
	n.accounts.mu.Unlock()
	for _, p := range puppets {
		if moved := p.rekey(chanKey); len(moved) > 0 {
			n.later(func() { p.saveMovedChannels(moved) })
		}
	}
}

// rekey folds the puppet's maps by channel anew; it returns the channels
// whose key changed, old then new, for their rows to follow.
func (p *Puppet) rekey(chanKey func(string) string) (moved [][2]string) {
	either := func(a, b bool) bool { return a || b }
	key := func(k string, _ bool) string { return chanKey(k) }
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.channels {
		if nk := chanKey(k); nk != k {
			moved = append(moved, [2]string{k, nk})
		}
	}
	p.channels = rekeyed(p.channels, key, either)
	p.joined = rekeyed(p.joined, key, either)
	p.joinWait = rekeyed(p.joinWait, func(k string, _ []chan error) string { return chanKey(k) }, appendWaits)
	p.refusals = rekeyed(p.refusals, func(k, _ string) string { return chanKey(k) }, nil)
	return moved
}

// saveMovedChannels rewrites the rows of channels whose key rekey changed,
// so the puppet joins the right channel after a restart.
func (p *Puppet) saveMovedChannels(moved [][2]string) {
	ctx := p.net.ctx
	for _, m := range moved {
		p.mu.Lock()
		still := p.channels[m[1]]
		p.mu.Unlock()
		err := p.net.store.setChannel(ctx, p.mxid, m[0], false)
		if err == nil && still {
			err = p.net.store.setChannel(ctx, p.mxid, m[1], true)
		}
		if err != nil {
			p.log().Warn().Err(err).Msg("Failed to save channel under the server's casemapping")
		}
	}
}

func appendWaits(a, b []chan error) []chan error { return append(a, b...) }

// rekeyed returns m with every entry under key(k, v). Entries that land on
// one key are merged (merge(kept, other)), or the first one kept when
// merge is nil. A nil map stays nil.
func rekeyed[V any](m map[string]V, key func(string, V) string, merge func(V, V) V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		nk := key(k, v)
		if have, ok := out[nk]; ok {
			if merge != nil {
				out[nk] = merge(have, v)
			}
			continue
		}
		out[nk] = v
	}
	return out
}

// ghostID is the remote ID of an IRC user: the casefolded nick, so that
// "Alice" and "alice" are one ghost. Display names carry the real nick.
func (n *Network) ghostID(nick string) bridge.RemoteUserID {
	return bridge.RemoteUserID(n.fold(nick))
}

func (n *Network) ghostSender(nick string) bridge.Sender {
	return bridge.Sender{ID: n.ghostID(nick), Profile: &bridge.Profile{Name: nick}}
}

func (n *Network) channelKey(channel string) bridge.PortalKey {
	return bridge.PortalKey{Network: n.id, Chat: bridge.ChatID(n.fold(channel))}
}

func (n *Network) dmKey(nick string, user id.UserID) bridge.PortalKey {
	return bridge.PortalKey{Network: n.id, Chat: bridge.ChatID(n.fold(nick)), Receiver: string(user)}
}

// newMessageID makes an ID for an IRC message without a msgid tag: IRC
// has none, and the core needs one per message to map replies and edits.
func (n *Network) newMessageID(m *ircproto.Message) bridge.MessageID {
	if id, ok := m.Tag("msgid"); ok && id != "" {
		return bridge.MessageID(id)
	}
	return bridge.MessageID(fmt.Sprintf("irc-%d-%d", n.epoch, n.seq.Add(1)))
}

// sharedISupport hands out one ISUPPORT per distinct token list: every
// puppet on a network hears the same one, and it is never changed in
// place (connections swap in a clone when a server sends more).
func (n *Network) sharedISupport(key string, is *ircproto.ISupport) *ircproto.ISupport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.shared[key]; ok {
		return s
	}
	if len(n.shared) < 16 {
		n.shared[key] = is
	}
	return is
}

// nickHolder is a puppet with its nick as the server wrote it, which a
// new casemapping folds anew (rekey).
type nickHolder struct {
	p    *Puppet
	nick string
}

// puppetByNick returns the puppet registered with nick, nil for IRC users.
func (n *Network) puppetByNick(nick string) *Puppet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byNick[n.fold(nick)].p
}

// setPuppetNick records a puppet's nick as the server confirmed it.
func (n *Network) setPuppetNick(p *Puppet, old, nick string) {
	n.mu.Lock()
	if old != "" && n.byNick[n.fold(old)].p == p {
		delete(n.byNick, n.fold(old))
	}
	if nick != "" {
		n.byNick[n.fold(nick)] = nickHolder{p: p, nick: nick}
	}
	n.mu.Unlock()
}

// puppetFor returns the user's puppet, creating it on first need. It
// returns nil when limits.max_puppets is reached and the user has none.
func (n *Network) puppetFor(ctx context.Context, user id.UserID) (*Puppet, error) {
	n.mu.Lock()
	p, ok := n.puppets[user]
	if ok {
		n.mu.Unlock()
		return p, nil
	}
	if limit := n.cfg.Limits.MaxPuppets; limit > 0 && len(n.puppets) >= limit {
		n.mu.Unlock()
		return nil, ErrTooManyPuppets
	}
	n.mu.Unlock()
	row, err := n.store.puppet(ctx, user)
	if err != nil {
		return nil, err
	}
	channels, err := n.store.channels(ctx, user)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.puppets[user]; ok {
		return p, nil
	}
	p = newPuppet(n, user, row, channels)
	n.puppets[user] = p
	return p, nil
}

// existingPuppet returns the user's puppet without creating one.
func (n *Network) existingPuppet(user id.UserID) *Puppet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.puppets[user]
}

// AutoSession gives every Matrix user who speaks in or joins a portal
// their own puppet, as a session the core knows (so edits, membership,
// presence and DMs reach it), without a "login". Past limits.max_puppets
// it answers nil, and the bot relays for the user instead.
func (n *Network) AutoSession(ctx context.Context, user *bridge.User) (*bridge.Login, bridge.Session, error) {
	p, err := n.puppetFor(ctx, user.MXID)
	if errors.Is(err, ErrTooManyPuppets) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	nick := p.wantedNick()
	meta, _ := json.Marshal(loginMetadata{Nick: nick, Auto: true})
	l := &bridge.Login{User: user.MXID, Network: n.id, RemoteID: n.ghostID(nick), RemoteName: nick, Metadata: meta}
	p.setLogin(l)
	return l, p, nil
}

// loginMetadata is what the core stores with an IRC login. The password
// lives in the adapter's table, not here, so "status" output and the
// login table never carry it.
type loginMetadata struct {
	Nick string `json:"nick,omitempty"`
	Auto bool   `json:"auto,omitempty"` // made by AutoSession, not "login"
}

// Login handles "login <network> [nick [password]]": it picks the nick
// (empty keeps the template's) and the NickServ/SASL password, and turns
// the user's puppet into a session the core knows, so edits, DMs and
// presence work for them.
func (n *Network) Login(ctx context.Context, user *bridge.User, args []string) (*bridge.Login, bridge.Session, error) {
	if len(args) > 2 {
		return nil, nil, fmt.Errorf("usage: login %s [nick [password]]", n.id)
	}
	if len(args) >= 1 && !validNick(args[0]) {
		// Not quoted: a password typed where the nick goes would stay
		// in the room's history in the answer, after the core redacted
		// the command.
		return nil, nil, fmt.Errorf("the nick given is not a valid IRC nick (letters, digits and []\\`_^{|}-, not starting with a digit or -); usage: login %s [nick [password]]", n.id)
	}
	p, err := n.puppetFor(ctx, user.MXID)
	if err != nil {
		return nil, nil, err
	}
	row := puppetRow{}
	if len(args) >= 1 {
		row.Nick, row.Chosen, row.Account = args[0], true, args[0]
	}
	if len(args) == 2 {
		row.Password = args[1]
	}
	if err := n.store.saveLogin(ctx, user.MXID, row); err != nil {
		return nil, nil, err
	}
	p.setCredentials(row)
	nick := p.wantedNick()
	meta, _ := json.Marshal(loginMetadata{Nick: nick})
	l := &bridge.Login{User: user.MXID, Network: n.id, RemoteID: n.ghostID(nick), RemoteName: nick, Metadata: meta}
	p.setLogin(l)
	return l, p, nil
}

// LoadSession restores a login's puppet without connecting.
func (n *Network) LoadSession(ctx context.Context, user *bridge.User, l *bridge.Login) (bridge.Session, error) {
	p, err := n.puppetFor(ctx, user.MXID)
	if err != nil {
		return nil, err
	}
	p.setLogin(l)
	return p, nil
}

// ResolveChat creates portals on demand for "#irc_{network}_#channel":
// the bot joins the channel, and its name, topic and ops become the room's.
func (n *Network) ResolveChat(ctx context.Context, chat string) (bridge.ChatID, *bridge.ChatInfo, error) {
	if chat == "" || strings.ContainsAny(chat, " ,\x07") {
		return "", nil, bridge.ErrPortalNotFound
	}
	if !strings.ContainsRune(n.bot.chanTypes(), rune(chat[0])) {
		return "", nil, bridge.ErrPortalNotFound
	}
	if !n.bot.isStatic(chat) && !n.dynamicAllowed(chat) {
		return "", nil, bridge.ErrPortalNotFound
	}
	jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	info, err := n.bot.join(jctx, chat)
	if err != nil {
		return "", nil, fmt.Errorf("join %s: %w", chat, err)
	}
	return n.channelKey(chat).Chat, info, nil
}

// dynamicAllowed applies dynamic_channels: deny wins over allow, and an
// empty allow list allows everything.
func (n *Network) dynamicAllowed(channel string) bool {
	d := n.cfg.DynamicChannels
	if !d.Enabled {
		return false
	}
	folded := n.fold(channel)
	for _, pat := range d.Deny {
		if ok, _ := path.Match(n.fold(pat), folded); ok {
			return false
		}
	}
	if len(d.Allow) == 0 {
		return true
	}
	for _, pat := range d.Allow {
		if ok, _ := path.Match(n.fold(pat), folded); ok {
			return true
		}
	}
	return false
}

// HandleRelayMessage posts for a user who has no puppet because the
// network's puppet limit is reached: through the bot, with their name.
func (n *Network) HandleRelayMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	return n.bot.relay(ctx, msg)
}

// later runs f on the network's worker, in the order given. Puppet
// readers hand it what takes database or homeserver calls (PMs, notices
// to users): deep calls would grow the reader's stack, and a grown stack
// is what an idle puppet would then keep paying for.
func (n *Network) later(f func()) {
	select {
	case n.work <- f:
	case <-n.ctx.Done():
	}
}

func (n *Network) worker() {
	defer n.wg.Done()
	for {
		select {
		case f := <-n.work:
			f()
		case <-n.ctx.Done():
			return
		}
	}
}

// notify tells a Matrix user something about their IRC connection, in
// their management room.
func (n *Network) notify(user id.UserID, text string) {
	n.later(func() {
		n.core.Notify(n.ctx, user, fmt.Sprintf("[%s] %s", n.cfg.DisplayName, text))
	})
}

// queue hands an event to the core; it logs rather than returns, because
// the IRC reader has nobody to return to.
func (n *Network) queue(ev *bridge.RemoteEvent) {
	if err := n.core.QueueRemoteEvent(n.ctx, ev); err != nil && n.ctx.Err() == nil {
		n.log.Err(err).Str("kind", string(ev.Kind)).Str("portal", ev.Portal.String()).Msg("Failed to queue IRC event")
	}
}
