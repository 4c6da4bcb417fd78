package gitter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// Session is one Matrix user's Gitter login.
type Session struct {
	net    *Network
	user   *bridge.User
	login  *bridge.Login
	me     gitterapi.User
	client *gitterapi.Client

	mu      sync.Mutex
	state   bridge.SessionState
	rooms   map[string]*roomState // by Gitter room ID
	faye    *gitterapi.FayeConn   // nil while not connected
	cancel  context.CancelFunc    // stops everything; nil when not running
	runCtx  context.Context       // the running session's context: streams live in it
	done    chan struct{}
	revoked bool
	// dirty holds positions not yet written, by room: advance runs per
	// message, the database write only every Network.positionFlush.
	dirty map[string]string
	// opening counts the one-to-one rooms StartDM is opening, by the other
	// user's ID: the core binds them to the Matrix room the user made, so
	// they are followed without making a portal of their own.
	opening map[string]int
	// wg counts the goroutines of the current run (streams, Faye), which
	// run waits for before it reports itself done.
	wg sync.WaitGroup
}

type roomState struct {
	room   gitterapi.Room
	cancel context.CancelFunc
	// last is the newest message ID handed to the core; IDs sort in time
	// order, so anything at or below it was seen (or is an edit).
	last string
	// read is the newest message known read by the user, on either side:
	// a receipt from Matrix or a marker from Gitter at or below it is an
	// echo of the other and goes no further.
	read string
}

func (n *Network) newSession(user *bridge.User, login *bridge.Login, client *gitterapi.Client, me gitterapi.User) *Session {
	return &Session{
		net: n, user: user, login: login, me: me, client: client,
		rooms: map[string]*roomState{}, opening: map[string]int{}, dirty: map[string]string{},
	}
}

// Connect starts the session's goroutines and returns at once.
func (s *Session) Connect(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.runCtx = ctx
	s.done = make(chan struct{})
	s.revoked = false
	s.net.register(s)
	go s.run(ctx, s.done)
}

// Disconnect stops every stream and waits for the goroutines to end.
func (s *Session) Disconnect(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.runCtx = nil, nil
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	s.net.unregister(s)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State does not block.
func (s *Session) State() bridge.SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Session) report(ctx context.Context, kind bridge.SessionStateKind, msg string) {
	st := bridge.SessionState{Kind: kind, Message: msg, Since: time.Now()}
	s.mu.Lock()
	if s.revoked && kind != bridge.StateBadCredential {
		s.mu.Unlock()
		return
	}
	same := s.state.Kind == kind && s.state.Message == msg
	s.state = st
	s.mu.Unlock()
	if !same {
		s.net.core.ReportState(ctx, s.login, st)
	}
}

// revoke handles a refused token anywhere: the login is marked bad (the
// core tells the user) and everything stops until they log in again.
func (s *Session) revoke(ctx context.Context) {
	s.mu.Lock()
	already := s.revoked
	s.revoked = true
	cancel := s.cancel
	s.mu.Unlock()
	if already {
		return
	}
	s.report(ctx, bridge.StateBadCredential, "Gitter refused the token (401)")
	if cancel != nil {
		cancel()
	}
}

// retryLoop runs fn until ctx ends, sleeping with exponential backoff
// after failures. A run that lasted a while resets the backoff. A refused
// token stops the whole session; stop(err) says when to give up otherwise.
func (s *Session) retryLoop(ctx context.Context, what string, fn func(ctx context.Context) error, stop func(error) bool) {
	log := zerolog.Ctx(ctx)
	backoff := s.net.minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, gitterapi.ErrUnauthorized) {
			s.revoke(ctx)
			return
		}
		if stop != nil && stop(err) {
			if err != nil {
				log.Info().Err(err).Str("what", what).Msg("Gitter connection ended for good")
			}
			return
		}
		if time.Since(started) > time.Minute {
			backoff = s.net.minBackoff
		}
		log.Warn().Err(err).Str("what", what).Dur("backoff", backoff).Msg("Gitter connection failed, retrying")
		if errors.Is(err, gitterapi.ErrRehandshake) {
			continue // the server asked us to come back at once
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, s.net.maxBackoff)
	}
}

// run syncs the user's rooms (retrying until it works), then keeps one
// stream per room and one Faye connection until ctx ends.
func (s *Session) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	// Deferred calls run last first: every goroutine has ended, and will
	// move no position any more, when the last positions are written.
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		s.flushPositions(fctx)
	}()
	defer s.wg.Wait()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.flushLoop(ctx)
	}()
	s.report(ctx, bridge.StateConnecting, "")
	synced := false
	s.retryLoop(ctx, "room sync", func(ctx context.Context) error {
		if err := s.sync(ctx); err != nil {
			s.report(ctx, bridge.StateDisconnected, "cannot reach Gitter: "+err.Error())
			return err
		}
		synced = true
		return nil
	}, func(err error) bool { return err == nil })
	if !synced {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.retryLoop(ctx, "faye", s.runFaye, nil)
	}()
	s.report(ctx, bridge.StateConnected, "")
	<-ctx.Done()
}

// sync checks the token, lists the user's rooms and starts them.
func (s *Session) sync(ctx context.Context) error {
	me, err := s.client.CurrentUser(ctx)
	if err != nil {
		return err
	}
	s.me = *me
	s.net.register(s)
	rooms, err := s.client.UserRooms(ctx, me.ID)
	if err != nil {
		return err
	}
	for _, r := range rooms {
		if err := s.addRoom(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// addRoom makes sure the room has a portal the user is invited to, with
// its members as ghosts, and starts following it; a one-to-one room that
// StartDM is opening is only followed.
func (s *Session) addRoom(ctx context.Context, r gitterapi.Room) error {
	return s.followRoom(ctx, r, !s.isOpening(r))
}

func (s *Session) followRoom(ctx context.Context, r gitterapi.Room, announce bool) error {
	s.mu.Lock()
	if _, ok := s.rooms[r.ID]; ok {
		s.rooms[r.ID].room = r
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	last, err := s.position(ctx, r.ID)
	if err != nil {
		return err
	}
	if announce {
		var members []gitterapi.User
		if r.UserCount <= s.net.cfg.MaxMemberSync {
			if members, err = s.client.AllRoomUsers(ctx, r.ID); err != nil {
				return err
			}
		}
		if err := s.queue(ctx, &bridge.RemoteEvent{
			Kind:         bridge.RemoteChatInfo,
			Portal:       s.portalKey(r),
			ChatInfo:     s.chatInfo(r, members),
			CreatePortal: true,
		}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if _, dup := s.rooms[r.ID]; dup || s.runCtx == nil {
		// Added meanwhile (Faye and a Matrix join race), or disconnected.
		s.mu.Unlock()
		return nil
	}
	// The stream lives as long as the session, not as the caller's ctx
	// (a Matrix join handler's ctx ends with the event).
	rctx, cancel := context.WithCancel(s.runCtx)
	s.rooms[r.ID] = &roomState{room: r, cancel: cancel, last: last}
	faye := s.faye
	s.mu.Unlock()
	if faye != nil {
		// Not inline: addRoom may run on the Faye reader (a room joined
		// on Gitter), and a subscription's answer needs that reader.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.subscribeRoom(rctx, faye, r.ID)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.retryLoop(rctx, "stream "+r.ID, func(ctx context.Context) error {
			return s.client.StreamMessages(ctx, r.ID,
				func(ctx context.Context) error { return s.catchUp(ctx, r.ID) },
				func(m *gitterapi.Message) error { return s.onMessage(ctx, r.ID, m) })
		}, func(err error) bool {
			// Gone from the room: Faye's room list says so too.
			return errors.Is(err, gitterapi.ErrForbidden) || errors.Is(err, gitterapi.ErrNotFound)
		})
	}()
	return nil
}

func (s *Session) isOpening(r gitterapi.Room) bool {
	if !r.OneToOne || r.User == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opening[r.User.ID] > 0
}

// dropRoom stops following a room the user left on Gitter.
func (s *Session) dropRoom(roomID string) (gitterapi.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.rooms[roomID]
	if !ok {
		return gitterapi.Room{}, false
	}
	rs.cancel()
	delete(s.rooms, roomID)
	return rs.room, true
}

func (s *Session) room(roomID string) (gitterapi.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.rooms[roomID]
	if !ok {
		return gitterapi.Room{}, false
	}
	return rs.room, true
}

func (s *Session) roomByURI(uri string) (gitterapi.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range s.rooms {
		if rs.room.URI != "" && strings.EqualFold(rs.room.URI, uri) {
			return rs.room, true
		}
	}
	return gitterapi.Room{}, false
}

// InChat tells the core which portals this session reaches; it does not
// block on I/O. The empty chat is "somewhere on this network", which the
// core asks about when a Matrix user starts a DM (there is no chat yet):
// a Gitter user has one login per network, so that is always this one.
func (s *Session) InChat(chat bridge.ChatID) bool {
	if chat == "" {
		return true
	}
	_, ok := s.room(string(chat))
	return ok
}

// lastSeen and advance keep the room's position in memory, and
// flushPositions in the database. advance is called after the core
// journaled the message, and the database lags by at most positionFlush:
// a crash in between makes the next catch-up repeat those messages, which
// the core's message map drops, rather than lose any. Writing once per
// flush instead of once per message halves the database writes a message
// costs (the core journals it once already).
func (s *Session) lastSeen(roomID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs, ok := s.rooms[roomID]; ok {
		return rs.last
	}
	return ""
}

func (s *Session) advance(roomID, msgID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs, ok := s.rooms[roomID]; ok && msgID > rs.last {
		rs.last = msgID
	}
	if msgID > s.dirty[roomID] {
		s.dirty[roomID] = msgID
	}
}

// position is where a room's catch-up starts: the newest of what waits to
// be written and what was.
func (s *Session) position(ctx context.Context, roomID string) (string, error) {
	s.mu.Lock()
	pending := s.dirty[roomID]
	s.mu.Unlock()
	stored, err := s.net.store.position(ctx, s.user.MXID, roomID)
	return max(pending, stored), err
}

func (s *Session) flushLoop(ctx context.Context) {
	t := time.NewTicker(s.net.positionFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.flushPositions(ctx)
		}
	}
}

// flushPositions writes the positions that moved; ones that fail to write
// stay pending for the next flush.
func (s *Session) flushPositions(ctx context.Context) {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return
	}
	batch := s.dirty
	s.dirty = make(map[string]string, len(batch))
	s.mu.Unlock()
	for roomID, msgID := range batch {
		if err := s.net.store.setPosition(ctx, s.user.MXID, roomID, msgID); err != nil {
			if ctx.Err() == nil {
				zerolog.Ctx(ctx).Warn().Err(err).Str("remote_id", roomID).Msg("Failed to save stream position")
			}
			s.mu.Lock()
			if msgID > s.dirty[roomID] {
				s.dirty[roomID] = msgID
			}
			s.mu.Unlock()
		}
	}
}

// readUpTo records that the user read a room up to msgID and reports
// whether that is news. With remote true the position is the room's last
// message (Gitter says "all read", not up to where).
func (s *Session) readUpTo(roomID, msgID string, remote bool) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.rooms[roomID]
	if !ok {
		return "", false
	}
	if remote {
		msgID = rs.last
	}
	if msgID == "" || msgID <= rs.read {
		return "", false
	}
	rs.read = msgID
	return msgID, true
}

func (s *Session) queue(ctx context.Context, ev *bridge.RemoteEvent) error {
	return s.net.core.QueueRemoteEvent(ctx, ev)
}
