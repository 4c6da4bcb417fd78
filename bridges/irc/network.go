package irc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
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
	bot   *bot

	// casemap is the bot's server's CASEMAPPING, used for every key
	// (ghost IDs, channel IDs) so that case variants are one thing.
	casemap atomic.Int32

	mu      sync.Mutex
	puppets map[id.UserID]*Puppet
	byNick  map[string]*Puppet // folded nick → puppet, while registered
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
		byNick:      map[string]*Puppet{},
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
	if n.cfg.MediaURL == "" {
		n.cfg.MediaURL = homeserver
	}
	n.ctx, n.cancel = context.WithCancel(n.log.WithContext(context.WithoutCancel(ctx)))
	n.epoch = time.Now().UnixMilli()
	n.pacer = newPacer(n.cfg.Limits.ConnectsPerSecond, n.cfg.Limits.ConnectsInFlight)
	if n.cfg.Ident.Enabled {
		n.ident = newIdentServer(n.log)
		addr := fmt.Sprintf("%s:%d", n.cfg.Ident.Address, n.cfg.Ident.Port)
		if err := n.ident.listen(n.ctx, addr); err != nil {
			n.cancel()
			return err
		}
	}
	n.work = make(chan func(), 1024)
	n.wg.Add(1)
	go n.worker()
	n.bot = newBot(n)
	if err := n.bot.loadChannels(ctx); err != nil {
		n.cancel()
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

// puppetByNick returns the puppet registered with nick, nil for IRC users.
func (n *Network) puppetByNick(nick string) *Puppet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byNick[n.fold(nick)]
}

// setPuppetNick records a puppet's nick as the server confirmed it.
func (n *Network) setPuppetNick(p *Puppet, old, nick string) {
	n.mu.Lock()
	if old != "" && n.byNick[n.fold(old)] == p {
		delete(n.byNick, n.fold(old))
	}
	if nick != "" {
		n.byNick[n.fold(nick)] = p
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
		row.Nick, row.Chosen = args[0], true
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
