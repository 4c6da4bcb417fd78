package slack

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// Session is one Matrix user's login to one Slack workspace.
type Session struct {
	net   *Network
	user  *bridge.User
	login *bridge.Login
	md    metadata
	api   *slack.Client

	mu     sync.Mutex
	state  bridge.SessionState
	rtm    *slack.RTM
	cancel context.CancelFunc
	done   chan struct{}
	// lastDone is the last run's done, which the next run waits for.
	lastDone chan struct{}

	cache   *workspaceCache
	cursors *cursorBuffer
	// app marks the app mode's bot (app.go): no Matrix user, no login,
	// Socket Mode instead of RTM, channels only.
	app bool
	// revoked is set once the user had the token revoked: the failures
	// that follow are the logout they asked for, not news to tell them.
	revoked bool
	// opened are the DMs StartDM opened (handle_matrix.go).
	opened openedDMs
	// bg counts what the session runs besides its loop (spawn), which the
	// loop waits for before it ends. resume hands work back to the loop
	// from there, so remote events are still queued by the loop alone.
	bg     sync.WaitGroup
	resume chan func(context.Context)

	// pingInterval is how often RTM pings Slack. slack-go drops a
	// connection that answered no ping for four intervals (its "deadman"
	// timer) and reconnects, which catches up: a socket that died without
	// closing costs at most that long.
	pingInterval time.Duration
	presence     presenceSub
}

// rtmPingInterval is the RTM ping interval (https://api.slack.com/rtm,
// "Ping and Pong"): a dead socket is noticed within four of them.
const rtmPingInterval = 30 * time.Second

// presenceResubscribe is the least time between two presence_sub
// messages: membership changes come in bursts (a channel joined brings
// its members), and each presence_sub replaces the whole list.
const presenceResubscribe = 3 * time.Second

func newSession(n *Network, user *bridge.User, l *bridge.Login, md metadata) *Session {
	return &Session{
		net: n, user: user, login: l, md: md,
		api:     newClient(n.cfg, md.Credentials),
		state:   bridge.SessionState{Kind: bridge.StateDisconnected, Since: time.Now()},
		cache:   newWorkspaceCache(),
		cursors: newCursorBuffer(),
		resume:  make(chan func(context.Context)),

		pingInterval: rtmPingInterval,
		presence:     presenceSub{every: presenceResubscribe},
	}
}

// Connect starts the RTM loop in its own goroutine and returns at once.
func (s *Session) Connect(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	prev := s.lastDone
	s.cancel, s.done = cancel, make(chan struct{})
	s.lastDone = s.done
	go func(done chan struct{}) {
		// A run that a timed-out Disconnect left ending still waits for
		// what it spawned (bg), and its spawned work may still hand back
		// to the loop (resume): the new run starts once it has ended.
		if prev != nil {
			<-prev
		}
		s.run(rctx, done)
	}(s.done)
}

// Disconnect stops the RTM loop and waits for it, and for what it
// started (spawn): nothing of the session runs or logs once it returns.
func (s *Session) Disconnect(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.setState(ctx, bridge.StateDisconnected, "disconnected")
	return nil
}

// State returns the last reported state.
func (s *Session) State() bridge.SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Session) setState(ctx context.Context, kind bridge.SessionStateKind, msg string) {
	st := bridge.SessionState{Kind: kind, Message: msg, Since: time.Now()}
	s.mu.Lock()
	same := s.state.Kind == kind && s.state.Message == msg
	s.state = st
	revoked := s.revoked
	s.mu.Unlock()
	switch {
	case same, revoked && kind == bridge.StateBadCredential:
	case s.login == nil: // the app has no login to report on: the log says it
		zerolog.Ctx(ctx).Info().Str("state", string(kind)).Str("detail", msg).Msg("Slack app state changed")
	case s.net.core != nil:
		s.net.core.ReportState(ctx, s.login, st)
	}
}

func (s *Session) badState() bool {
	return s.State().Kind == bridge.StateBadCredential
}

// run owns the RTM connection. slack-go's ManageConnection reconnects
// with backoff by itself (and waits out rate limits on rtm.connect); this
// loop reads its events in order, so remote events are queued in the order
// Slack sent them, and gives up only when Slack says the login is gone.
func (s *Session) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	// What the loop spawned ends with it, whether Disconnect stopped it or
	// Slack ended the login.
	ctx, stop := context.WithCancel(ctx)
	defer s.bg.Wait()
	defer stop()
	if s.app {
		s.runSocketMode(ctx)
		return
	}
	s.runRTM(ctx)
}

// spawn runs f on its own goroutine, which the session's loop waits for
// before it ends; f must return soon once the loop's context is done. Only
// the loop, or what it spawned, may spawn: the WaitGroup's Add never races
// its Wait.
func (s *Session) spawn(f func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// handBack has the session's loop run f, unless the loop ends first. It
// is for spawned work whose remote events must be queued in order with
// the loop's.
func (s *Session) handBack(ctx context.Context, f func(context.Context)) {
	select {
	case s.resume <- f:
	case <-ctx.Done():
	}
}

// runRTM reads the RTM connection's events until the connection or ctx
// ends.
func (s *Session) runRTM(ctx context.Context) {
	log := zerolog.Ctx(ctx)
	opts := []slack.RTMOption{slack.RTMOptionPingInterval(s.pingInterval)}
	if s.md.Cookie != "" {
		// The websocket of an xoxc- session needs the d cookie too.
		opts = append(opts, slack.RTMOptionDialHeaders(http.Header{"Cookie": {"d=" + s.md.Cookie}}))
	}
	rtm := s.api.NewRTM(opts...)
	s.mu.Lock()
	s.rtm = rtm
	s.mu.Unlock()
	managed := make(chan struct{})
	go func() {
		defer close(managed)
		rtm.ManageConnection()
	}()
	s.setState(ctx, bridge.StateConnecting, "connecting")
	flush := time.NewTicker(cursorFlush)
	defer flush.Stop()
	defer s.flushCursors(ctx)
	for {
		select {
		case <-flush.C:
			s.flushCursors(ctx)
		case ev := <-rtm.IncomingEvents:
			s.handleRTM(ctx, ev)
		case f := <-s.resume:
			f(ctx)
		case <-managed:
			// Events sent just before the loop ended (InvalidAuthEvent)
			// may still be buffered: they decide the final state.
			for drained := false; !drained; {
				select {
				case ev := <-rtm.IncomingEvents:
					s.handleRTM(ctx, ev)
				default:
					drained = true
				}
			}
			if !s.badState() {
				s.setState(ctx, bridge.StateDisconnected, "connection closed")
			}
			return
		case <-ctx.Done():
			go func() { _ = rtm.Disconnect() }()
			// Drain until the managed loop is gone: it blocks on sending
			// its last events otherwise.
			timeout := time.After(10 * time.Second)
			for {
				select {
				case <-rtm.IncomingEvents:
				case <-managed:
					return
				case <-timeout:
					log.Warn().Msg("Slack RTM loop did not stop in time")
					return
				}
			}
		}
	}
}

// handleRTM dispatches one RTM event. Connection events change the
// session state; the rest become remote events (handle_slack.go).
func (s *Session) handleRTM(ctx context.Context, ev slack.RTMEvent) {
	log := zerolog.Ctx(ctx)
	log.Trace().Str("event", ev.Type).Msg("Slack RTM event")
	switch data := ev.Data.(type) {
	case *slack.ConnectedEvent:
		log.Info().Str("team_id", s.md.TeamID).Int("connection", data.ConnectionCount).Msg("Slack RTM connected")
		s.setState(ctx, bridge.StateConnected, "")
		// A new connection has no presence subscription.
		s.presence.forget()
		s.syncAndCatchUp(ctx)
	case *slack.ConnectionErrorEvent:
		s.setState(ctx, bridge.StateDisconnected, "reconnecting: "+safeError(data))
	case *slack.DisconnectedEvent:
		if !data.Intentional {
			s.setState(ctx, bridge.StateDisconnected, "connection lost, reconnecting")
		}
	case *slack.InvalidAuthEvent:
		log.Warn().Str("team_id", s.md.TeamID).Msg("Slack refused the login on reconnect")
		s.setState(ctx, bridge.StateBadCredential, "Slack no longer accepts the login")
	case *slack.IncomingEventError, *slack.UnmarshallingErrorEvent, *slack.AckErrorEvent:
		log.Debug().Str("event", ev.Type).Msg("Ignoring RTM error event")
	default:
		if err := s.handleSlackEvent(ctx, ev.Data); err != nil {
			log.Err(err).Str("event", ev.Type).Msg("Failed to handle Slack event")
		}
		s.membershipChanged(ctx, ev.Data)
	}
}

// loggedOut marks the session bad when a Web API call says the login is
// gone, and makes the error permanent so the core tells the user at once
// instead of retrying.
func (s *Session) checkAuth(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if authError(err) {
		s.setState(ctx, bridge.StateBadCredential, "Slack answered "+safeError(err))
		return s.errLoginGone(safeError(err))
	}
	if slackCode(err) == "is_archived" {
		return s.errArchived()
	}
	return err
}

// errLoginGone is what a Matrix user is told when Slack no longer accepts
// the credentials their message would go out with; why is Slack's code,
// if known.
func (s *Session) errLoginGone(why string) error {
	if why != "" {
		why = " (" + why + ")"
	}
	if s.app {
		return &permanentError{msg: "Slack no longer accepts this bridge's app for " + s.md.TeamName + why + "; log in to send as yourself"}
	}
	return &permanentError{msg: "your Slack login for " + s.md.TeamName + " is no longer valid" + why + "; log in again"}
}

// permanentError wraps bridge.ErrPermanent with a message for the user.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }
func (e *permanentError) Unwrap() error { return bridge.ErrPermanent }

// echoSet remembers what the bridge just did on Slack through the Web API
// (an edit, a deletion, a reaction), so that its echo is not bridged back
// to Matrix. The message map covers messages; edits, deletions and
// reactions named by their Slack name have no row to match, hence this
// short-lived set. It belongs to the network: every login in the channel
// (and the app's bot) sees the echo, and each must drop it. It counts per
// session: the same action done twice is two echoes for each.
type echoSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	keys map[string]*echoEntry
}

type echoEntry struct {
	n    int              // actions done
	last time.Time        // when the last was done
	seen map[*Session]int // echoes each session has dropped
	// settled counts the actions whose outcome is known (settle), and
	// results are those outcomes: once every action is settled, only an
	// event showing one of them is an echo.
	settled int
	results map[string]bool
}

func newEchoSet(ttl time.Duration) *echoSet {
	return &echoSet{ttl: ttl, keys: map[string]*echoEntry{}}
}

// add records an action whose echo is coming.
func (e *echoSet) add(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	expire(e.keys, now, e.ttl, func(en *echoEntry) time.Time { return en.last })
	en := e.keys[key]
	if en == nil {
		en = &echoEntry{seen: map[*Session]int{}}
		e.keys[key] = en
	}
	en.n++
	en.last = now
}

// cancel takes back an action that failed: no echo will come.
func (e *echoSet) cancel(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if en := e.keys[key]; en != nil {
		en.n--
	}
}

// settle records what an action that succeeded left on Slack, in any of
// the forms its echo may show.
func (e *echoSet) settle(key string, results ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.keys[key]
	if en == nil {
		return
	}
	en.settled++
	if en.results == nil {
		en.results = map[string]bool{}
	}
	for _, r := range results {
		en.results[r] = true
	}
}

// take reports whether an event seen by session s, showing result, is the
// echo of a recent action, once per action and session. While an action
// is not settled its echo may show anything: the echo may come before the
// answer to the call.
func (e *echoSet) take(s *Session, key, result string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.keys[key]
	if en == nil || time.Since(en.last) > e.ttl || en.seen[s] >= en.n {
		return false
	}
	if en.settled >= en.n && !en.results[result] {
		return false
	}
	en.seen[s]++
	return true
}

// addEcho and isEcho scope echo keys to the session's workspace.
func (s *Session) addEcho(key string)    { s.net.echoes.add(s.md.TeamID + ":" + key) }
func (s *Session) cancelEcho(key string) { s.net.echoes.cancel(s.md.TeamID + ":" + key) }
func (s *Session) settleEcho(key string, results ...string) {
	s.net.echoes.settle(s.md.TeamID+":"+key, results...)
}
func (s *Session) isEcho(key string) bool { return s.isEchoOf(key, "") }

// isEchoOf is isEcho for an event showing result (settleEcho).
func (s *Session) isEchoOf(key, result string) bool {
	return s.net.echoes.take(s, s.md.TeamID+":"+key, result)
}

// presenceSub is the session's RTM presence subscription
// (https://api.slack.com/events/presence_sub): the people in the login's
// conversations, sent again whenever that set changes, at most every
// "every". Each presence_sub replaces the list before it
// (https://api.slack.com/docs/presence-and-status), so the whole set goes
// out each time. The send waits on a goroutine of the session's
// (subscribePresence), which ends with the session's loop.
type presenceSub struct {
	mu      sync.Mutex
	every   time.Duration
	pending bool      // a send is scheduled
	last    time.Time // of the last send
	sent    []string  // what the connection is subscribed to
}

// forget says the connection has no subscription: the next send goes out
// even if the set did not change.
func (p *presenceSub) forget() {
	p.mu.Lock()
	p.sent = nil
	p.mu.Unlock()
}

// membershipChanged asks for the presence of who is now in the login's
// conversations after an event that may change it. A new DM's person is
// asked for once the DM is known (onIMCreated).
func (s *Session) membershipChanged(ctx context.Context, data any) {
	switch data.(type) {
	case *slack.MemberJoinedChannelEvent, *slack.MemberLeftChannelEvent, *slack.ChannelJoinedEvent, *slack.GroupJoinedEvent,
		*slack.ChannelCreatedEvent, *mpimOpenEvent, *slack.GroupOpenEvent:
		s.subscribePresence(ctx)
	}
}

// subscribePresence sends the presence subscription soon: now if the last
// went out long enough ago, else once it has. Calls in between are one
// send, of the set as it is then.
func (s *Session) subscribePresence(ctx context.Context) {
	if s.net.cfg.PresenceSubscriptions == 0 || s.app {
		return
	}
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending {
		return
	}
	p.pending = true
	wait := time.Until(p.last.Add(p.every))
	s.spawn(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			s.sendPresenceSub(ctx)
		case <-ctx.Done():
			p.mu.Lock()
			p.pending = false
			p.mu.Unlock()
		}
	})
}

// sendPresenceSub sends presence_sub with the people in the login's
// conversations, capped by the config, unless the connection has that
// list already. It runs on its own goroutine: the RTM's outgoing queue may
// be full while it reconnects.
func (s *Session) sendPresenceSub(ctx context.Context) {
	p := &s.presence
	p.mu.Lock()
	p.pending, p.last = false, time.Now()
	p.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	ids := s.presenceTargets(ctx)
	p.mu.Lock()
	same := slices.Equal(ids, p.sent) && p.sent != nil
	if !same {
		p.sent = ids
	}
	p.mu.Unlock()
	s.mu.Lock()
	rtm := s.rtm
	s.mu.Unlock()
	if same || rtm == nil || len(ids) == 0 {
		return
	}
	zerolog.Ctx(ctx).Debug().Int("users", len(ids)).Msg("Subscribing to Slack presence")
	sendRTM(ctx, rtm, rtm.NewSubscribeUserPresence(ids))
}

// sendRTM queues a message on the RTM connection, giving up when ctx ends:
// slack-go's queue blocks while it is full, and nothing empties it once
// the connection is gone. The send itself is left to a goroutine that
// runs none of the session's code.
func sendRTM(ctx context.Context, rtm *slack.RTM, msg *slack.OutgoingMessage) {
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		rtm.SendMessage(msg)
	}()
	select {
	case <-sent:
	case <-ctx.Done():
	}
}

// presenceTargets are the other people in the conversations the session
// knows (archived ones aside), sorted, at most the configured number.
func (s *Session) presenceTargets(ctx context.Context) []string {
	s.cache.mu.Lock()
	convs := make([]*convInfo, 0, len(s.cache.convs))
	for _, c := range s.cache.convs {
		if !c.Archived {
			convs = append(convs, c)
		}
	}
	s.cache.mu.Unlock()
	var ids []string
	for _, c := range convs {
		m, err := s.members(ctx, c)
		if err != nil {
			zerolog.Ctx(ctx).Debug().Str("channel", c.ID).Str("error", safeError(err)).Msg("No Slack members for presence")
			continue
		}
		ids = append(ids, m...)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == s.md.UserID || s.net.isAppBot(s.md.TeamID, id) })
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if limit := s.net.cfg.PresenceSubscriptions; limit > 0 && len(ids) > limit {
		ids = ids[:limit]
	}
	return ids
}
