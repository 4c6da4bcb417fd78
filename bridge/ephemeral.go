package bridge

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// HandleEphemeral takes typing, presence and receipt events. They are best
// effort: not journaled, and handed to a worker so the homeserver's request
// never waits on an adapter (a rate-limited typing call would otherwise hold
// back every Matrix message behind it). When the worker is behind, new ones
// are dropped: they are superseded soon anyway.
func (br *Bridge) HandleEphemeral(ctx context.Context, evt *event.Event) {
	select {
	case br.ephemeral <- evt:
	default:
		zerolog.Ctx(ctx).Debug().Str("type", evt.Type.Type).Msg("Dropped an ephemeral event: worker behind")
	}
}

// runEphemeral handles queued ephemeral events until the bridge stops.
func (br *Bridge) runEphemeral(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-br.ephemeral:
			br.handleEphemeral(ctx, evt)
		}
	}
}

func (br *Bridge) handleEphemeral(ctx context.Context, evt *event.Event) {
	switch evt.Type {
	case event.EphemeralEventTyping:
		br.matrixTyping(ctx, evt)
	case event.EphemeralEventPresence:
		br.matrixPresence(ctx, evt)
	case event.EphemeralEventReceipt:
		br.matrixReceipts(ctx, evt)
	}
}

// matrixReceipts sends read receipts of users with a session as remote
// read markers, for bridged messages only.
func (br *Bridge) matrixReceipts(ctx context.Context, evt *event.Event) {
	_ = evt.Content.ParseRaw(evt.Type)
	receipts := evt.Content.AsReceipt()
	if receipts == nil {
		return
	}
	portal, err := br.store.portalByRoom(ctx, evt.RoomID)
	if err != nil || portal == nil {
		return
	}
	for eventID, byType := range *receipts {
		// Only public read receipts: m.read.private must stay private.
		for rtype, users := range byType {
			if rtype != event.ReceiptTypeRead {
				continue
			}
			for user := range users {
				if _, _, ghost := br.ghostOf(user); ghost || user == br.AS.BotMXID() {
					continue
				}
				e := br.sessionFor(user, portal.Key)
				if e == nil {
					continue
				}
				rh, ok := e.sess.(ReadReceiptHandler)
				if !ok {
					continue
				}
				msg, err := br.store.messageByEventID(ctx, eventID)
				if err != nil || msg == nil {
					continue
				}
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := rh.HandleMatrixReadReceipt(rctx, portal, msg); err != nil {
					zerolog.Ctx(ctx).Debug().Err(err).Msg("Failed to send read receipt")
				}
				cancel()
			}
		}
	}
}

// matrixTyping turns the room's full typing list into per-user start/stop
// changes and sends those of users with a session.
func (br *Bridge) matrixTyping(ctx context.Context, evt *event.Event) {
	_ = evt.Content.ParseRaw(evt.Type)
	content := evt.Content.AsTyping()
	if content == nil {
		return
	}
	now := map[id.UserID]bool{}
	for _, u := range content.UserIDs {
		now[u] = true
	}
	br.typingMu.Lock()
	prev := br.typing[evt.RoomID]
	br.typing[evt.RoomID] = now
	br.typingMu.Unlock()
	changes := map[id.UserID]bool{}
	for u := range now {
		if !prev[u] {
			changes[u] = true
		}
	}
	for u := range prev {
		if !now[u] {
			changes[u] = false
		}
	}
	if len(changes) == 0 {
		return
	}
	portal, err := br.store.portalByRoom(ctx, evt.RoomID)
	if err != nil || portal == nil {
		return
	}
	for u, typing := range changes {
		if _, _, ghost := br.ghostOf(u); ghost || u == br.AS.BotMXID() {
			continue
		}
		e := br.sessionFor(u, portal.Key)
		if e == nil {
			continue
		}
		if th, ok := e.sess.(TypingHandler); ok {
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := th.HandleMatrixTyping(tctx, portal, typing); err != nil {
				zerolog.Ctx(ctx).Debug().Err(err).Msg("Failed to send typing")
			}
			cancel()
		}
	}
}

// matrixPresence sends a user's presence to every session they have that
// can show it (AWAY on IRC, presence on Slack).
func (br *Bridge) matrixPresence(ctx context.Context, evt *event.Event) {
	_ = evt.Content.ParseRaw(evt.Type)
	content := evt.Content.AsPresence()
	if content == nil || evt.Sender == "" {
		return
	}
	if _, _, ghost := br.ghostOf(evt.Sender); ghost {
		return
	}
	br.sessMu.RLock()
	entries := append([]*sessionEntry(nil), br.sessions[evt.Sender]...)
	br.sessMu.RUnlock()
	for _, e := range entries {
		if ph, ok := e.sess.(PresenceHandler); ok {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := ph.HandleMatrixPresence(pctx, content.Presence, content.StatusMessage); err != nil {
				zerolog.Ctx(ctx).Debug().Err(err).Msg("Failed to send presence")
			}
			cancel()
		}
	}
}
