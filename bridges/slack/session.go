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

	cache   *workspaceCache
	echoes  *echoSet
	uploads *uploadSet
}

func newSession(n *Network, user *bridge.User, l *bridge.Login, md metadata) *Session {
	return &Session{
		net: n, user: user, login: l, md: md,
		api:     newClient(n.cfg, md.Credentials),
		state:   bridge.SessionState{Kind: bridge.StateDisconnected, Since: time.Now()},
		cache:   newWorkspaceCache(),
		echoes:  newEchoSet(time.Minute),
		uploads: newUploadSet(10 * time.Minute),
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
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(rctx, s.done)
}

// Disconnect stops the RTM loop and waits for it.
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
	s.mu.Unlock()
	if !same && s.net.core != nil {
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
	log := zerolog.Ctx(ctx)
	opts := []slack.RTMOption{slack.RTMOptionPingInterval(30 * time.Second)}
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
	for {
		select {
		case ev := <-rtm.IncomingEvents:
			s.handleRTM(ctx, ev)
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
	switch data := ev.Data.(type) {
	case *slack.ConnectedEvent:
		log.Info().Str("team_id", s.md.TeamID).Int("connection", data.ConnectionCount).Msg("Slack RTM connected")
		s.setState(ctx, bridge.StateConnected, "")
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
		return &permanentError{msg: "your Slack login for " + s.md.TeamName + " is no longer valid (" + safeError(err) + "); log in again"}
	}
	if slackCode(err) == "is_archived" {
		return s.errArchived()
	}
	return err
}

// permanentError wraps bridge.ErrPermanent with a message for the user.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }
func (e *permanentError) Unwrap() error { return bridge.ErrPermanent }

// echoSet remembers what this session just did through the Web API, so the
// RTM echo of it (an edit, a deletion, a reaction) is not bridged back to
// Matrix. The message map covers messages; edits, deletions and reactions
// named by their Slack name have no row to match, hence this short-lived
// set. It counts: the same action done twice expects two echoes.
type echoSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	keys map[string]echoCount
}

type echoCount struct {
	n    int
	last time.Time
}

func newEchoSet(ttl time.Duration) *echoSet {
	return &echoSet{ttl: ttl, keys: map[string]echoCount{}}
}

func (e *echoSet) add(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for k, c := range e.keys {
		if now.Sub(c.last) > e.ttl {
			delete(e.keys, k)
		}
	}
	c := e.keys[key]
	e.keys[key] = echoCount{n: c.n + 1, last: now}
}

// take reports whether key was added recently and not taken since, and
// takes it once.
func (e *echoSet) take(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.keys[key]
	if !ok || time.Since(c.last) > e.ttl {
		delete(e.keys, key)
		return false
	}
	if c.n <= 1 {
		delete(e.keys, key)
	} else {
		e.keys[key] = echoCount{n: c.n - 1, last: c.last}
	}
	return true
}

// uploadSet holds the Matrix messages of files uploaded to Slack whose
// sharing message has not come back yet, by Slack file ID (see sendFile).
type uploadSet struct {
	mu      sync.Mutex
	ttl     time.Duration
	pending map[string]pendingUpload
}

type pendingUpload struct {
	msg   *bridge.MatrixMessage
	since time.Time
}

func newUploadSet(ttl time.Duration) *uploadSet {
	return &uploadSet{ttl: ttl, pending: map[string]pendingUpload{}}
}

func (u *uploadSet) add(fileID string, msg *bridge.MatrixMessage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	for k, p := range u.pending {
		if now.Sub(p.since) > u.ttl {
			delete(u.pending, k)
		}
	}
	u.pending[fileID] = pendingUpload{msg: msg, since: now}
}

// take returns and forgets the Matrix message of an upload, nil when the
// file is not one this session uploaded.
func (u *uploadSet) take(fileID string) *bridge.MatrixMessage {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, ok := u.pending[fileID]
	delete(u.pending, fileID)
	if !ok {
		return nil
	}
	return p.msg
}

// subscribePresence asks RTM for the presence of the people in this
// login's conversations (https://api.slack.com/events/presence_sub),
// capped by the config.
func (s *Session) subscribePresence(ids []string) {
	limit := s.net.cfg.PresenceSubscriptions
	if limit == 0 || len(ids) == 0 {
		return
	}
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == s.md.UserID })
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	s.mu.Lock()
	rtm := s.rtm
	s.mu.Unlock()
	if rtm != nil {
		rtm.SendMessage(rtm.NewSubscribeUserPresence(ids))
	}
}
