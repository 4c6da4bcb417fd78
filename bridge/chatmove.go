package bridge

import (
	"cmp"
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// chatMoves keeps the events of a chat's new key behind its move
// (RemoteChatMove). Remote queues are per key, so an event for the new key
// could otherwise run before the move and open a second room: while a move
// is queued or running, events for its new key are queued on the queue the
// move is on, and run after it.
type chatMoves struct {
	mu sync.Mutex
	to map[string]*moveRoute // by the new key's String
}

type moveRoute struct {
	from  PortalKey // the key moving here
	queue string    // the queue the move and the events after it are on
	n     int       // events on that queue holding this route, the move included
}

// route picks the queue of a remote event, and returns the routes the
// event holds until done is called with them.
func (m *chatMoves) route(ev *RemoteEvent) (queue string, holds []string) {
	key := ev.Portal.String()
	queue = key
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.to[key]; ok {
		r.n++
		queue = r.queue
		holds = append(holds, key)
	}
	if ev.Kind == RemoteChatMove && ev.NewChat != "" && ev.NewChat != ev.Portal.Chat {
		dst := ev.Portal
		dst.Chat = ev.NewChat
		d := dst.String()
		if m.to == nil {
			m.to = map[string]*moveRoute{}
		}
		r, ok := m.to[d]
		if !ok {
			r = &moveRoute{}
			m.to[d] = r
		}
		r.from, r.queue = ev.Portal, queue
		r.n++
		holds = append(holds, d)
	}
	return queue, holds
}

// done releases the routes an event held, once it is handled (or given
// up on, or left for the next start).
func (m *chatMoves) done(holds []string) {
	if len(holds) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range holds {
		if r, ok := m.to[d]; ok {
			if r.n--; r.n <= 0 {
				delete(m.to, d)
			}
		}
	}
}

// source returns the key a queued move is bringing to key.
func (m *chatMoves) source(key PortalKey) (PortalKey, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.to[key.String()]
	if !ok {
		return PortalKey{}, false
	}
	return r.from, true
}

// movingPortal returns the portal a queued move is bringing to key, seen
// under that key, or nil. Moves can chain (A → B → C), so it follows them
// back to the key that has the room.
func (br *Bridge) movingPortal(ctx context.Context, key PortalKey) (*Portal, error) {
	for range 8 {
		from, ok := br.moves.source(key)
		if !ok {
			return nil, nil
		}
		p, err := br.store.portalByKey(ctx, from)
		if err != nil {
			return nil, err
		}
		if p != nil && p.MXID != "" {
			moved := *p
			moved.Key = key
			return &moved, nil
		}
		key = from
	}
	return nil, nil
}

// remoteChatMove hands a portal's room to the chat's new key. Each step is
// safe to repeat, and the key changes last, so a retry or a replay after a
// crash finishes what was started; a replay after the key changed finds no
// portal under the old key and does nothing.
func (br *Bridge) remoteChatMove(ctx context.Context, ev *RemoteEvent) error {
	if ev.NewChat == "" {
		return fmt.Errorf("%w: chat move without a new chat ID", ErrPermanent)
	}
	if ev.NewChat == ev.Portal.Chat {
		return nil
	}
	old, err := br.store.portalByKey(ctx, ev.Portal)
	if err != nil {
		return err
	}
	if old == nil || old.MXID == "" {
		zerolog.Ctx(ctx).Debug().Msg("Chat move of a chat without a portal, ignored")
		return nil
	}
	to := ev.Portal
	to.Chat = ev.NewChat
	log := zerolog.Ctx(ctx).With().Str("room_id", old.MXID.String()).Str("new_chat", string(to.Chat)).Logger()
	ctx = log.WithContext(ctx)
	if existing, err := br.store.portalByKey(ctx, to); err != nil {
		return err
	} else if existing != nil && existing.MXID != "" {
		// Merging two rooms' histories is not ours to do: the user is told
		// where the conversation goes on.
		return br.tellMovedElsewhere(ctx, old, existing, ev)
	}
	if ev.Sender.ID != "" || ev.Sender.Matrix != "" {
		if _, err := br.senderIntent(ctx, old, ev.Sender, true); err != nil {
			return err
		}
	}
	if m := ev.Member; m != nil && (m.ID != ev.Sender.ID || m.Matrix != ev.Sender.Matrix) {
		leaving, leavingID, err := br.memberIntentID(ctx, old, m)
		if err != nil {
			return err
		}
		if br.AS.StateStore.IsMembership(ctx, old.MXID, leavingID, event.MembershipJoin, event.MembershipInvite) {
			if _, err := leaving.LeaveRoom(ctx, old.MXID, &mautrix.ReqLeave{Reason: m.Reason}); err != nil && !isNotInRoom(err) {
				return fmt.Errorf("leave: %w", err)
			}
		}
	}
	if ev.ChatInfo != nil {
		if err := br.remoteChatInfo(ctx, old, ev); err != nil {
			return err
		}
	}
	// The old key's events before the move are handled; their journal rows
	// go now, so a replay after a crash cannot bring them back under a key
	// that has no room any more (and would open a new one).
	if err := br.reaper.flush(ctx); err != nil {
		return err
	}
	moved := *old
	moved.Key = to
	br.moveBridgeInfo(ctx, old, &moved)
	// A Matrix message being sent in the room now must not be recorded
	// under the key that is going away.
	unlock := br.portalIO.lock(old.Key)
	defer unlock()
	if err := br.store.rekeyPortal(ctx, old.Key, to); err != nil {
		return err
	}
	log.Info().Str("old_chat", string(old.Key.Chat)).Msg("Portal moved to the chat's new ID")
	return nil
}

// moveBridgeInfo points the room's bridge info (which clients show) at the
// new chat ID. It is cosmetic: a failure is logged, not retried.
func (br *Bridge) moveBridgeInfo(ctx context.Context, old, moved *Portal) {
	oldKey, _ := br.bridgeInfo(old)
	newKey, info := br.bridgeInfo(moved)
	bot := br.AS.BotIntent()
	for _, t := range []event.Type{event.StateBridge, event.StateHalfShotBridge} {
		if _, err := bot.SendStateEvent(ctx, old.MXID, t, newKey, info); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("type", t.Type).Msg("Failed to update the room's bridge info")
			return
		}
		if _, err := bot.SendStateEvent(ctx, old.MXID, t, oldKey, map[string]any{}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("type", t.Type).Msg("Failed to clear the room's old bridge info")
		}
	}
}

// tellMovedElsewhere tells the people in a portal that the person they
// talked with is now known by an ID that has a room of its own.
func (br *Bridge) tellMovedElsewhere(ctx context.Context, old, existing *Portal, ev *RemoteEvent) error {
	was := old.Name
	if ev.Member != nil && was == "" {
		was = string(ev.Member.ID)
	}
	now := string(ev.NewChat)
	if ev.Sender.Profile != nil && ev.Sender.Profile.Name != "" {
		now = ev.Sender.Profile.Name
	} else if ev.Sender.ID != "" {
		now = string(ev.Sender.ID)
	}
	text := fmt.Sprintf("%s is now known as %s. You already have a chat with %s, where their messages now arrive: %s",
		cmp.Or(was, "The other side"), now, now, existing.MXID.URI().MatrixToURL())
	content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: text}
	_, err := br.AS.BotIntent().SendMessageEvent(ctx, old.MXID, event.EventMessage, content, mautrix.ReqSendEvent{
		TransactionID: eventTxnID(ctx, old, "move", ev),
	})
	if err != nil {
		return fmt.Errorf("send moved notice: %w", err)
	}
	zerolog.Ctx(ctx).Info().Str("other_room", existing.MXID.String()).Msg("Chat moved to an ID that already has a room; told the user")
	return nil
}
