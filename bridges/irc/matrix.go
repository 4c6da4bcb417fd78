package irc

import (
	"context"
	"fmt"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// matrixView reads the Matrix state the core has no call for. It only
// reads; everything the adapter does on Matrix goes through the core.
type matrixView interface {
	// DisplayName is a user's display name in a room, "" when unknown.
	DisplayName(ctx context.Context, room id.RoomID, user id.UserID) string
	// JoinedGhosts returns which of the namer's ghosts are in a room, so
	// a member sync can skip those already there.
	JoinedGhosts(ctx context.Context, room id.RoomID, ghosts *puppet.Namer) (map[id.UserID]bool, error)
	// EventText returns an event's plain text, for reply quotes.
	EventText(ctx context.Context, room id.RoomID, evt id.EventID) (string, error)
}

// asView implements matrixView over the bridge's appservice: the state
// store the core feeds with every event, and the bot for event texts.
type asView struct{ br *bridge.Bridge }

func (v *asView) DisplayName(ctx context.Context, room id.RoomID, user id.UserID) string {
	if m, err := v.br.AS.StateStore.TryGetMember(ctx, room, user); err == nil && m != nil {
		return m.Displayname
	}
	return ""
}

func (v *asView) JoinedGhosts(ctx context.Context, room id.RoomID, ghosts *puppet.Namer) (map[id.UserID]bool, error) {
	members, err := v.br.AS.StateStore.GetAllMembers(ctx, room)
	if err != nil {
		return nil, fmt.Errorf("read members of %s: %w", room, err)
	}
	out := map[id.UserID]bool{}
	for user, m := range members {
		if _, ok := ghosts.RemoteID(user); ok && m != nil && m.Membership == event.MembershipJoin {
			out[user] = true
		}
	}
	return out, nil
}

func (v *asView) EventText(ctx context.Context, room id.RoomID, evtID id.EventID) (string, error) {
	evt, err := v.br.AS.BotIntent().GetEvent(ctx, room, evtID)
	if err != nil {
		return "", err
	}
	_ = evt.Content.ParseRaw(evt.Type)
	if m := evt.Content.AsMessage(); m != nil {
		m.RemoveReplyFallback()
		return m.Body, nil
	}
	return "", nil
}
