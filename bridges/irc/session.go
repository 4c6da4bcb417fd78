package irc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// Puppet is one Matrix user's own IRC connection. Every Matrix user who
// is in a portal or sends a message gets one; a user who logged in has
// the same Puppet as their core session.
type Puppet struct {
	net  *Network
	mxid id.UserID
	conn *connector

	mu          sync.Mutex
	login       *bridge.Login // set when the core knows this as a session
	row         puppetRow
	displayname string
	channels    map[string]bool // folded channels of portals the user is in
	joined      map[string]bool // folded channels the server confirmed
	joinWait    map[string][]chan error
	sent        map[id.EventID]int // lines of a message already sent, for retries
	// refusals holds, by folded target, the server's refusal of the
	// message send is waiting on ("" while none came).
	refusals   map[string]string
	lastActive time.Time
	idle       *time.Timer
	state      bridge.SessionState
	// toldRefusal is set once the user was told that the server refused
	// their password, so reconnects do not tell them again.
	toldRefusal bool
	// nickWanted is the nick the "nick" command is waiting for: the
	// server's refusal is its answer, not a notice.
	nickWanted string
	// invites holds, by folded channel, the wait for the bot's INVITE
	// after a +i refusal (nil once the retry JOIN went out; rejoin.go).
	invites map[string]*time.Timer
	// regain asks for the wanted nick again while the connection has
	// another (nick.go); nil while it has the wanted one.
	regain *nickRegain
	// lastRegain is the regain stopped last: one armed again on the same
	// connection (services renamed the puppet away from the nick it got
	// back) goes on from its tries instead of asking every minute for ever.
	lastRegain *nickRegain
	// toldTaken is the folded nick the user was told is taken, so that
	// every reconnect on a fallback does not tell them again.
	toldTaken string
}

var (
	_ bridge.Session           = (*Puppet)(nil)
	_ bridge.EditHandler       = (*Puppet)(nil)
	_ bridge.MembershipHandler = (*Puppet)(nil)
	_ bridge.PresenceHandler   = (*Puppet)(nil)
	_ bridge.TopicHandler      = (*Puppet)(nil)
	_ bridge.PowerLevelHandler = (*Puppet)(nil)
	_ bridge.DMStarter         = (*Puppet)(nil)
	_ bridge.LogoutHandler     = (*Puppet)(nil)
	_ bridge.CurrentIdentity   = (*Puppet)(nil)
	_ bridge.NickChanger       = (*Puppet)(nil)
)

// CurrentRemoteID is the puppet's nick as a remote ID, so a Matrix op of
// the user becomes MODE +o on their nick of the moment.
func (p *Puppet) CurrentRemoteID() bridge.RemoteUserID {
	if c := p.conn.current(); c != nil {
		return p.net.ghostID(c.Nick())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.net.ghostID(p.row.Nick)
}

func newPuppet(n *Network, user id.UserID, row puppetRow, channels []string) *Puppet {
	p := &Puppet{
		net:      n,
		mxid:     user,
		row:      row,
		channels: make(map[string]bool, len(channels)),
		joined:   map[string]bool{},
	}
	for _, ch := range channels {
		p.channels[ch] = true
	}
	p.conn = newConnector(n, string(user))
	p.conn.config = p.connConfig
	p.conn.onUp = p.onUp
	p.conn.onDown = p.onDown
	p.conn.onRetry = p.onRetry
	return p
}

// puppetCaps are few on purpose: a puppet only needs to know who it is
// talking to. Channel traffic reaches Matrix through the bot.
var puppetCaps = []string{"sasl", "server-time", "message-tags", "account-tag", "multi-prefix", "cap-notify"}

func (p *Puppet) connConfig() *connConfig {
	c := p.net.cfg
	p.mu.Lock()
	row, display := p.row, p.displayname
	p.mu.Unlock()
	nick := p.wantedNick()
	cfg := &connConfig{
		addr:       c.hostPort(),
		tls:        c.TLS,
		skipVerify: c.TLSSkipVerify,
		reg: ircproto.Registration{
			Password: c.Password,
			Nick:     nick,
			Username: renderUsername(c.Puppets.UsernameTemplate, p.mxid),
			Realname: renderRealname(c.Puppets.RealnameTemplate, p.mxid, display),
		},
		caps:         puppetCaps,
		altNick:      func(_ string, attempt int) string { return altNick(nick, attempt, p.net.bot.nickLen()) },
		linesPerSec:  c.Limits.LinesPerSecond,
		lineBurst:    c.Limits.LineBurst,
		fenceTimeout: &p.net.fenceTimeout,
		handler:      p.handle,
		ident:        p.net.ident,
		shared:       p.net.sharedISupport,
		log:          &p.net.log,
		who:          string(p.mxid),
	}
	if row.Password != "" {
		// Not required: a network without SASL gets the password through
		// NickServ after registration instead. The account, not the nick:
		// a connection on a fallback nick still logs in to it.
		cfg.sasl = &ircproto.SASLConfig{Username: row.account(), Password: row.Password}
	}
	return cfg
}

// wantedNick is the chosen nick, else the template's for the display
// name, else (after a restart, before Matrix said the name again) the
// nick the puppet had last.
func (p *Puppet) wantedNick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.row.Chosen && p.row.Nick != "" {
		return p.row.Nick
	}
	if p.displayname == "" && p.row.Nick != "" {
		return p.row.Nick
	}
	return puppetNick(p.net.cfg.Puppets.NickTemplate, p.displayname, p.mxid, p.net.bot.nickLen())
}

func (p *Puppet) setCredentials(row puppetRow) {
	p.mu.Lock()
	changed := row.Nick != p.row.Nick || row.Account != p.row.Account || row.Password != p.row.Password
	p.row = row
	p.toldRefusal = p.toldRefusal && !changed
	p.mu.Unlock()
	if c := p.conn.current(); changed && c != nil {
		// Reconnect so the new nick and password are used from the start.
		p.net.wg.Add(1)
		go func() {
			defer p.net.wg.Done()
			p.conn.stop("Changing identity")
			p.conn.start()
		}()
	}
}

// setLogin keeps a copy of the login: the core goes on writing to the one
// it was given (User, Network) after Login and AutoSession return, while
// this puppet's goroutines already report state with theirs.
func (p *Puppet) setLogin(l *bridge.Login) {
	cp := *l
	p.mu.Lock()
	p.login = &cp
	p.mu.Unlock()
}

// setDisplayName follows the user's Matrix display name; a nick from the
// template changes with it.
func (p *Puppet) setDisplayName(name string) {
	p.mu.Lock()
	if name == "" || name == p.displayname {
		p.mu.Unlock()
		return
	}
	p.displayname = name
	chosen := p.row.Chosen
	p.mu.Unlock()
	c := p.conn.current()
	if c == nil || chosen {
		return
	}
	if nick := p.wantedNick(); !c.IsMe(nick) {
		p.net.wg.Add(1)
		go func() {
			defer p.net.wg.Done()
			_ = c.Send(p.net.ctx, ircproto.NewMessage("NICK", nick))
		}()
	}
}

// ChangeNick is the "nick" command: the nick is stored as chosen (display
// name changes no longer move it; the password stays) and, when the puppet
// is connected, asked for with NICK. The server's answer is awaited behind
// a PING, so a nick in use is the command's error, not a later notice.
func (p *Puppet) ChangeNick(ctx context.Context, nick string) error {
	if !validNick(nick) {
		return fmt.Errorf("%q is not a valid IRC nick", nick)
	}
	p.mu.Lock()
	row := p.row
	p.mu.Unlock()
	row.Nick, row.Chosen = nick, true
	c := p.conn.current()
	if c != nil && !c.IsMe(nick) {
		p.mu.Lock()
		p.nickWanted = nick
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.nickWanted = ""
			p.mu.Unlock()
		}()
		if err := c.Send(ctx, ircproto.NewMessage("NICK", nick)); err != nil {
			return err
		}
		if err := c.fence(ctx); err != nil {
			return err
		}
		if !c.IsMe(nick) {
			return fmt.Errorf("%s refused the nick %s (in use or not allowed); you keep %s", p.net.id, nick, c.Nick())
		}
	}
	if err := p.net.store.saveLogin(ctx, p.mxid, row); err != nil {
		return err
	}
	p.mu.Lock()
	p.row = row
	p.mu.Unlock()
	if c != nil {
		// The nick the user asked for is the one the connection has.
		p.stopRegain(c)
		if c.Err() == nil {
			p.setState(bridge.StateConnected, p.connectedText(c))
		}
	}
	p.touch()
	return nil
}

func (p *Puppet) setState(kind bridge.SessionStateKind, msg string) {
	p.mu.Lock()
	p.state = bridge.SessionState{Kind: kind, Message: msg, Since: time.Now()}
	st, login := p.state, p.login
	p.mu.Unlock()
	if login != nil {
		p.net.core.ReportState(p.net.ctx, login, st)
	}
}

func (p *Puppet) onUp(c *Conn) {
	p.net.adoptCasemap(c, false) // before the nick is indexed by its fold
	wanted := p.wantedNick()
	p.mu.Lock()
	clear(p.joined) // channels are per connection
	if !p.row.Chosen {
		// Remembered for a restart; never the fallback the server gave.
		p.row.Nick = wanted
	}
	chosen := p.row.Chosen
	p.mu.Unlock()
	p.net.setPuppetNick(p, "", c.Nick())
	p.saveLoginNick(c.Nick())
	refusal := c.SASLRefusal()
	p.setState(bridge.StateConnected, p.connectedText(c))
	if !c.IsMe(wanted) {
		// Before the joins: the holder may leave as soon as the puppet
		// shares a channel with them.
		p.armRegain(c)
	}
	if chosen && !c.IsMe(wanted) {
		p.tellTaken(wanted, fmt.Sprintf("The IRC nick %s you chose is taken, so you are connected as %s for now; "+
			"the bridge asks for %s again until it is free.", wanted, c.Nick(), wanted))
	}
	p.mu.Lock()
	var names []string
	for ch := range p.channels {
		names = append(names, ch)
	}
	// Read with the password, from the same row: the connection's SASL
	// config is from the row when dialling began, which a login made
	// during registration has replaced.
	pass, account := p.row.Password, p.row.account()
	tell := refusal != "" && !p.toldRefusal
	p.toldRefusal = p.toldRefusal || tell
	p.mu.Unlock()
	if tell {
		account := c.cfg.sasl.Username
		p.net.notify(p.mxid, fmt.Sprintf("The IRC server refused your account login as %s (%s), so you are connected as %s without being identified. "+
			"If your password changed, log in again with `login %s %s <password>`.", account, refusal, c.Nick(), p.net.id, account))
	}
	p.touch()
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		ctx := p.net.ctx
		if !chosen {
			if err := p.net.store.saveNick(ctx, p.mxid, wanted); err != nil {
				p.log().Warn().Err(err).Msg("Failed to save nick")
			}
		}
		// Without SASL on the server the password goes to NickServ; one
		// SASL refused would be refused there too. The account is named,
		// as the connection may be on a fallback nick.
		if pass != "" && !c.Authenticated() && refusal == "" {
			_ = c.Send(ctx, ircproto.NewMessage("PRIVMSG", "NickServ", "IDENTIFY "+account+" "+pass))
		}
		for _, m := range joinLinesFor(c, names, p.net.bot.keysFor(names)) {
			if err := c.Send(ctx, m); err != nil {
				return
			}
		}
		p.keepNick(c)
	}()
}

func (p *Puppet) onDown(c *Conn, err error) {
	if c != nil {
		p.net.setPuppetNick(p, c.Nick(), "")
	}
	p.mu.Lock()
	clear(p.joined)
	waits := p.joinWait
	p.joinWait = nil
	p.stopInvites()
	p.stopRegainLocked()
	p.lastRegain = nil // the connection is gone; a new one starts afresh
	p.mu.Unlock()
	for _, ws := range waits {
		for _, w := range ws {
			w <- fmt.Errorf("%w: %w", ErrNotConnected, err)
		}
	}
	switch {
	case errors.Is(err, ErrClosed):
		p.setState(bridge.StateDisconnected, "disconnected")
	case errors.Is(err, ErrBanned):
		p.setState(bridge.StateDisconnected, err.Error())
		p.net.notify(p.mxid, fmt.Sprintf("Your IRC connection was refused: %v. Your messages cannot be delivered until the ban is lifted.", err))
	case errors.Is(err, ErrKilled):
		p.setState(bridge.StateDisconnected, err.Error())
		p.net.notify(p.mxid, fmt.Sprintf("Your IRC connection was %v. Reconnecting.", err))
	case errors.Is(err, ErrBadPassword):
		p.setState(bridge.StateBadCredential, err.Error())
	default:
		p.setState(bridge.StateDisconnected, fmt.Sprint(err))
	}
}

// onRetry shows a connection that keeps failing in the user's status,
// rather than "connecting" for as long as the server is unreachable.
func (p *Puppet) onRetry(err error, failures int, wait time.Duration) {
	p.setState(bridge.StateDisconnected, fmt.Sprintf("cannot connect (%d attempts, next in %s): %s",
		failures, wait.Round(time.Second), connectError(err)))
}

// saveLoginNick keeps the core's login (what "status" shows) on the
// current nick. The core holds the old Login, so a copy is changed.
func (p *Puppet) saveLoginNick(nick string) {
	p.mu.Lock()
	old := p.login
	if old == nil || old.RemoteName == nick && old.RemoteID == p.net.ghostID(nick) {
		p.mu.Unlock()
		return
	}
	l := *old
	l.RemoteName, l.RemoteID = nick, p.net.ghostID(nick)
	p.login = &l
	p.mu.Unlock()
	if err := p.net.core.SaveLogin(p.net.ctx, &l); err != nil {
		p.log().Warn().Err(err).Msg("Failed to save login nick")
	}
}

// log returns a logger for this user. It is made when needed: a logger
// kept per puppet would cost every idle puppet its buffer.
func (p *Puppet) log() *zerolog.Logger {
	l := p.net.log.With().Str("user_id", string(p.mxid)).Logger()
	return &l
}

// touch marks the user active and re-arms the idle timer.
func (p *Puppet) touch() {
	idle := p.net.cfg.Puppets.IdleTimeout.D()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastActive = time.Now()
	if idle <= 0 {
		return
	}
	if p.idle == nil {
		p.idle = time.AfterFunc(idle, p.checkIdle)
	} else {
		p.idle.Reset(idle)
	}
}

// checkIdle disconnects a puppet whose user said nothing for the idle
// timeout; the next message brings it back.
func (p *Puppet) checkIdle() {
	idle := p.net.cfg.Puppets.IdleTimeout.D()
	p.mu.Lock()
	quiet := time.Since(p.lastActive)
	p.mu.Unlock()
	if quiet < idle {
		p.mu.Lock()
		p.idle.Reset(idle - quiet)
		p.mu.Unlock()
		return
	}
	p.log().Debug().Msg("Disconnecting idle puppet")
	p.conn.stop("Idle")
	p.setState(bridge.StateDisconnected, "idle")
}

// enterChannel records that the user is in a channel's portal; the puppet
// joins it now if connected, or on connecting.
func (p *Puppet) enterChannel(ctx context.Context, channel string, connect bool) {
	folded := strings.Clone(p.net.fold(channel))
	p.mu.Lock()
	known := p.channels[folded]
	p.channels[folded] = true
	p.mu.Unlock()
	if !known {
		if err := p.net.store.setChannel(ctx, p.mxid, folded, true); err != nil {
			p.log().Warn().Err(err).Msg("Failed to save channel")
		}
	}
	c := p.conn.current()
	switch {
	case c != nil && !known:
		p.net.wg.Add(1)
		go func() {
			defer p.net.wg.Done()
			_ = c.Send(p.net.ctx, p.net.bot.joinMessage(channel))
		}()
	case c == nil && connect:
		p.conn.start()
	}
}

// leaveChannel parts a channel whose portal the user left. A puppet left
// in no channel quits; it comes back for a DM or a new room.
func (p *Puppet) leaveChannel(ctx context.Context, channel, reason string) {
	folded := p.net.fold(channel)
	p.mu.Lock()
	delete(p.channels, folded)
	wasJoined := p.joined[folded]
	empty := len(p.channels) == 0
	p.mu.Unlock()
	if err := p.net.store.setChannel(ctx, p.mxid, folded, false); err != nil {
		p.log().Warn().Err(err).Msg("Failed to forget channel")
	}
	c := p.conn.current()
	if c == nil {
		return
	}
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		if empty {
			p.conn.stop(reason)
			return
		}
		if wasJoined {
			_ = c.Send(p.net.ctx, ircproto.NewMessage("PART", channel, reason))
		}
	}()
}

// ensureJoined returns the connection once it is in channel.
func (p *Puppet) ensureJoined(ctx context.Context, channel string) (*Conn, error) {
	p.enterChannel(ctx, channel, true)
	c, err := p.up(ctx)
	if err != nil {
		return nil, err
	}
	folded := p.net.fold(channel)
	p.mu.Lock()
	if p.joined[folded] {
		p.mu.Unlock()
		return c, nil
	}
	wait := make(chan error, 1)
	first := len(p.joinWait[folded]) == 0
	if p.joinWait == nil {
		p.joinWait = map[string][]chan error{}
	}
	p.joinWait[folded] = append(p.joinWait[folded], wait)
	p.mu.Unlock()
	if first {
		if err := c.Send(ctx, p.net.bot.joinMessage(channel)); err != nil {
			// A wait left behind would make every later message wait
			// for an answer to a JOIN never sent.
			p.dropJoinWait(channel, wait)
			return nil, err
		}
	}
	timeout := time.NewTimer(p.net.joinTimeout)
	defer timeout.Stop()
	var gaveUp error
	select {
	case err := <-wait:
		if errors.Is(err, ErrChannelRefused) {
			// Trying again soon would be refused again, and tell the
			// user again; they may send again once they can get in.
			return nil, fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	case <-timeout.C:
		// A server that answers a JOIN with nothing the bridge reads as
		// an answer would otherwise hold the room's queue, and with it
		// every later event of the room, for good.
		gaveUp = fmt.Errorf("%w: %w: the IRC server did not answer the join of %s", bridge.ErrPermanent, ErrChannelRefused, channel)
	case <-ctx.Done():
		gaveUp = fmt.Errorf("join %s: %w", channel, ctx.Err())
	}
	p.dropJoinWait(channel, wait)
	return nil, gaveUp
}

// dropJoinWait forgets one waiter for channel's JOIN, under the channel's
// key as it is now (a casemapping change may have moved it).
func (p *Puppet) dropJoinWait(channel string, wait chan error) {
	folded := p.net.fold(channel)
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := p.joinWait[folded]
	for i, w := range ws {
		if w == wait {
			p.joinWait[folded] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(p.joinWait[folded]) == 0 {
		delete(p.joinWait, folded)
	}
}

// up waits (a bounded time) for the connection. Messages wait behind it
// in the portal's queue, so they go out in order once it is up.
func (p *Puppet) up(ctx context.Context) (*Conn, error) {
	p.touch()
	wctx, cancel := context.WithTimeout(ctx, p.net.upWait)
	defer cancel()
	c, err := p.conn.wait(wctx)
	if err != nil {
		if permanent(err) {
			return nil, fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
		}
		return nil, err
	}
	return c, nil
}

// joinResult ends waits for a channel join.
func (p *Puppet) joinResult(channel string, err error) {
	// A clone: the key would otherwise keep the whole JOIN line alive.
	folded := strings.Clone(p.net.fold(channel))
	p.mu.Lock()
	if err == nil {
		p.joined[folded] = true
	} else {
		delete(p.joined, folded)
	}
	if t := p.invites[folded]; t != nil {
		t.Stop()
	}
	delete(p.invites, folded)
	ws := p.joinWait[folded]
	delete(p.joinWait, folded)
	p.mu.Unlock()
	for _, w := range ws {
		w <- err
	}
}

// Connect is called by the core at start for every stored session and
// after a login. A puppet with channels to be in connects now (through
// the pacer) when connect_on_join is set; any other waits for its user's
// first message or join.
func (p *Puppet) Connect(ctx context.Context) {
	p.mu.Lock()
	has := len(p.channels) > 0
	p.mu.Unlock()
	if has && p.net.cfg.Puppets.ConnectOnJoin {
		p.setState(bridge.StateConnecting, "")
		p.conn.start()
	}
}

// Disconnect quits and waits for the connection to close.
func (p *Puppet) Disconnect(ctx context.Context) error {
	p.conn.stop("Disconnecting")
	return nil
}

// LogoutRemote forgets the user's channels and nick choice; "logout" on
// IRC means "stop being on IRC until I speak again".
func (p *Puppet) LogoutRemote(ctx context.Context) error {
	p.mu.Lock()
	p.login = nil
	p.channels = map[string]bool{}
	p.row = puppetRow{}
	p.mu.Unlock()
	if err := p.net.store.saveLogin(ctx, p.mxid, puppetRow{}); err != nil {
		return err
	}
	return p.net.store.clearChannels(ctx, p.mxid)
}

// State returns the last state; it does not block.
func (p *Puppet) State() bridge.SessionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Kind == "" {
		return bridge.SessionState{Kind: bridge.StateDisconnected, Message: "connects on first need"}
	}
	return p.state
}

// HandleMatrixPresence sets AWAY from the user's Matrix presence, without
// connecting just for that.
func (p *Puppet) HandleMatrixPresence(ctx context.Context, presence event.Presence, status string) error {
	c := p.conn.current()
	if c == nil {
		return nil
	}
	if presence == event.PresenceOnline {
		return c.Send(ctx, ircproto.NewMessage("AWAY"))
	}
	if status == "" {
		status = "Away"
	}
	return c.Send(ctx, ircproto.NewMessage("AWAY", ircproto.Sanitize(status)))
}

// StartDM binds a Matrix DM with a ghost to that nick.
func (p *Puppet) StartDM(_ context.Context, with bridge.RemoteUserID) (bridge.ChatID, error) {
	if !validNick(p.net.bot.realNick(string(with))) && !validNick(string(with)) {
		return "", fmt.Errorf("%q is not an IRC nick", with)
	}
	return bridge.ChatID(with), nil
}
