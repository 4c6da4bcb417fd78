package bridge

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// HandleEphemeral takes typing, presence and receipt events. They are best
// effort: not journaled, and sent on without waiting for the room's queue.
func (br *Bridge) HandleEphemeral(ctx context.Context, evt *event.Event) {
	switch evt.Type {
	case event.EphemeralEventTyping:
		br.matrixTyping(ctx, evt)
	case event.EphemeralEventPresence:
		br.matrixPresence(ctx, evt)
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
