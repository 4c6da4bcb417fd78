package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"
)

func (br *Bridge) userFor(ctx context.Context, mxid id.UserID) (*User, error) {
	room, err := br.store.managementRoom(ctx, mxid)
	if err != nil {
		return nil, err
	}
	return &User{MXID: mxid, ManagementRoom: room, Permission: br.Config.Bridge.Permissions.For(mxid)}, nil
}

func (br *Bridge) loadSessions(ctx context.Context) error {
	logins, err := br.store.logins(ctx)
	if err != nil {
		return err
	}
	for _, l := range logins {
		ne, ok := br.networks[l.Network]
		if !ok {
			br.Log.Warn().Str("network", string(l.Network)).Str("user_id", l.User.String()).Msg("Stored login for a network that is no longer configured")
			continue
		}
		user, err := br.userFor(ctx, l.User)
		if err != nil {
			return err
		}
		sctx := br.sessionCtx(l)
		sess, err := ne.net.LoadSession(sctx, user, l)
		if err != nil {
			br.Log.Err(err).Str("network", string(l.Network)).Str("user_id", l.User.String()).Msg("Failed to load session")
			continue
		}
		br.addSession(l, sess)
		sess.Connect(sctx)
	}
	return nil
}

func (br *Bridge) sessionCtx(l *Login) context.Context {
	return br.Log.With().
		Str("network", string(l.Network)).
		Str("user_id", l.User.String()).
		Str("login_id", string(l.ID)).
		Logger().WithContext(br.ctx)
}

// addSession adds a login's session and returns the one it replaces, for
// the caller to disconnect: two logins of the same account at once (a
// command and a provisioning retry) must not leave one running untracked.
func (br *Bridge) addSession(l *Login, s Session) *sessionEntry {
	br.sessMu.Lock()
	defer br.sessMu.Unlock()
	list := br.sessions[l.User]
	for i, e := range list {
		if e.login.Network == l.Network && e.login.ID == l.ID {
			list[i] = &sessionEntry{login: l, sess: s}
			metricSessions.WithLabelValues(string(l.Network), string(e.currentState().Kind)).Dec()
			metricSessions.WithLabelValues(string(l.Network), string(StateConnecting)).Inc()
			return e
		}
	}
	br.sessions[l.User] = append(list, &sessionEntry{login: l, sess: s})
	metricSessions.WithLabelValues(string(l.Network), string(StateConnecting)).Inc()
	return nil
}

func (br *Bridge) removeSession(l *Login) *sessionEntry {
	br.sessMu.Lock()
	defer br.sessMu.Unlock()
	list := br.sessions[l.User]
	for i, e := range list {
		if e.login.Network == l.Network && e.login.ID == l.ID {
			br.sessions[l.User] = append(list[:i:i], list[i+1:]...)
			metricSessions.WithLabelValues(string(l.Network), string(e.currentState().Kind)).Dec()
			return e
		}
	}
	return nil
}

func (e *sessionEntry) currentState() SessionState {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Kind == "" {
		return SessionState{Kind: StateConnecting}
	}
	return e.state
}

// userSessions returns the user's sessions on a network.
func (br *Bridge) userSessions(user id.UserID, nid NetworkID) []*sessionEntry {
	br.sessMu.RLock()
	defer br.sessMu.RUnlock()
	var out []*sessionEntry
	for _, e := range br.sessions[user] {
		if e.login.Network == nid {
			out = append(out, e)
		}
	}
	return out
}

// sessionFor picks the user's session that reaches a portal's chat.
func (br *Bridge) sessionFor(user id.UserID, key PortalKey) *sessionEntry {
	for _, e := range br.userSessions(user, key.Network) {
		if cm, ok := e.sess.(ChatMember); ok && !cm.InChat(key.Chat) {
			continue
		}
		return e
	}
	return nil
}

// sessionsForPortal lists sessions that can speak for a portal: the
// receiver's for a DM, anyone's that reaches the chat otherwise.
func (br *Bridge) sessionsForPortal(key PortalKey, receiver id.UserID) []*sessionEntry {
	if receiver != "" {
		if e := br.sessionFor(receiver, key); e != nil {
			return []*sessionEntry{e}
		}
		return nil
	}
	br.sessMu.RLock()
	var users []id.UserID
	for u := range br.sessions {
		users = append(users, u)
	}
	br.sessMu.RUnlock()
	var out []*sessionEntry
	for _, u := range users {
		if e := br.sessionFor(u, key); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// ReportState is called by sessions when their connection state changes.
// Bad credentials and logouts are told to the user in their management room.
func (br *Bridge) ReportState(ctx context.Context, l *Login, st SessionState) {
	if st.Since.IsZero() {
		st.Since = time.Now()
	}
	var entry *sessionEntry
	br.sessMu.RLock()
	for _, e := range br.sessions[l.User] {
		if e.login.Network == l.Network && e.login.ID == l.ID {
			entry = e
		}
	}
	br.sessMu.RUnlock()
	if entry == nil {
		return
	}
	entry.mu.Lock()
	prev := entry.state
	entry.state = st
	entry.mu.Unlock()
	if prev.Kind == "" {
		prev.Kind = StateConnecting
	}
	if prev.Kind != st.Kind {
		metricSessions.WithLabelValues(string(l.Network), string(prev.Kind)).Dec()
		metricSessions.WithLabelValues(string(l.Network), string(st.Kind)).Inc()
	}
	zerolog.Ctx(ctx).Info().Str("state", string(st.Kind)).Str("detail", st.Message).Msg("Session state changed")
	if prev.Kind != st.Kind && (st.Kind == StateBadCredential || st.Kind == StateLoggedOut) {
		br.Notify(ctx, l.User, fmt.Sprintf("Your %s session (%s) stopped: %s. Log in again with `login %s ...`.",
			l.Network, l.RemoteName, st.Message, l.Network))
	}
}

// SaveLogin stores changed login metadata (a refreshed token, a new nick).
func (br *Bridge) SaveLogin(ctx context.Context, l *Login) error {
	return br.store.saveLogin(ctx, l)
}

// Notify sends a notice to a user's management room, when they have one.
func (br *Bridge) Notify(ctx context.Context, user id.UserID, text string) {
	room, err := br.store.managementRoom(ctx, user)
	if err != nil || room == "" {
		zerolog.Ctx(ctx).Warn().Err(err).Str("user_id", user.String()).Msg("No management room to notify")
		return
	}
	if _, err := br.AS.BotIntent().SendNotice(ctx, room, text); err != nil {
		zerolog.Ctx(ctx).Err(err).Str("user_id", user.String()).Msg("Failed to notify user")
	}
}

func (br *Bridge) doublePuppetDropped(ctx context.Context, user id.UserID, reason string) {
	br.Notify(ctx, user, "Your Matrix account is no longer used for double puppeting: "+reason+
		". Send `login-matrix <access token>` to set it up again.")
}

// login logs a user in to a network with what they gave (a token, a nick),
// stores the login and connects its session, replacing an earlier session
// of the same login. The error is shown to the user: adapters keep
// credentials out of it.
func (br *Bridge) login(ctx context.Context, user *User, nid NetworkID, args []string) (*Login, error) {
	login, sess, err := br.networks[nid].net.Login(ctx, user, args)
	if err != nil {
		return nil, err
	}
	// Set only when the adapter left them out: it may already be
	// reporting state through this login from another goroutine.
	if login.User != user.MXID || login.Network != nid {
		login.User, login.Network = user.MXID, nid
	}
	if err := br.store.saveLogin(ctx, login); err != nil {
		return nil, err
	}
	if old := br.addSession(login, sess); old != nil && old.sess != sess {
		_ = old.sess.Disconnect(ctx)
	}
	sess.Connect(br.sessionCtx(login))
	return login, nil
}

// logout ends a user's sessions on a network (only the one login when
// loginID is set) and forgets them; it returns how many it ended. With
// revoke the credentials are invalidated remotely first, and a login whose
// revocation fails is kept, so the user can try again.
func (br *Bridge) logout(ctx context.Context, user id.UserID, nid NetworkID, loginID LoginID, revoke bool) (int, error) {
	done := 0
	for _, e := range br.userSessions(user, nid) {
		if loginID != "" && e.login.ID != loginID {
			continue
		}
		if revoke {
			r, ok := e.sess.(Revoker)
			if !ok {
				return done, fmt.Errorf("%s cannot revoke a login; log out without `revoke` and revoke it on %s itself", nid, nid)
			}
			if err := r.Revoke(ctx); err != nil {
				return done, fmt.Errorf("could not revoke your %s login %s, which stays: %w", nid, nonEmpty(e.login.RemoteName, string(e.login.ID)), err)
			}
		}
		if lh, ok := e.sess.(LogoutHandler); ok {
			if err := lh.LogoutRemote(ctx); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("Adapter logout failed")
			}
		}
		_ = e.sess.Disconnect(ctx)
		br.removeSession(e.login)
		if err := br.store.deleteLogin(ctx, e.login); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}
