package bridgeworld

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// User is a Matrix user of the world's homeserver.
type User struct {
	T      *testing.T
	ID     id.UserID
	Token  string
	Client *mautrix.Client
}

// NewUser creates a Matrix user with a logged-in client.
func (w *World) NewUser(localpart string) *User {
	uid, tok := w.HS.CreateUser(w.T, localpart, "password-"+localpart)
	client, err := mautrix.NewClient(w.HS.URL, id.UserID(uid), tok)
	require.NoError(w.T, err)
	return &User{T: w.T, ID: id.UserID(uid), Token: tok, Client: client}
}

// BotMXID is the bridge bot.
func BotMXID() id.UserID { return id.NewUserID("isthmusbot", Domain) }

// Body is a message event's body, "" for anything else.
func Body(evt *event.Event) string {
	if m := evt.Content.AsMessage(); m != nil {
		return m.Body
	}
	return ""
}

// ManagementRoom opens a DM with the bot and waits for its greeting.
func (u *User) ManagementRoom() id.RoomID {
	u.T.Helper()
	resp, err := u.Client.CreateRoom(Ctx(u.T), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{BotMXID()}})
	require.NoError(u.T, err)
	u.WaitFor(resp.RoomID, "bot greeting", func(evt *event.Event) bool {
		return evt.Sender == BotMXID() && strings.Contains(Body(evt), "management room")
	})
	return resp.RoomID
}

// Command sends a management command and returns the bot's reply.
func (u *User) Command(room id.RoomID, text string) string {
	u.T.Helper()
	sent, err := u.Client.SendText(Ctx(u.T), room, text)
	require.NoError(u.T, err)
	var reply string
	u.WaitFor(room, "reply to "+strings.Fields(text)[0], func(evt *event.Event) bool {
		if evt.Sender == BotMXID() && evt.Type == event.EventMessage && u.after(room, sent.EventID, evt.ID) {
			reply = Body(evt)
			return true
		}
		return false
	})
	return reply
}

// after reports whether then comes after first in the room timeline.
func (u *User) after(room id.RoomID, first, then id.EventID) bool {
	fi, ti := -1, -1
	for i, e := range u.Timeline(room) {
		if e.ID == first {
			fi = i
		}
		if e.ID == then {
			ti = i
		}
	}
	return fi >= 0 && ti > fi
}

// Timeline returns the room's last 500 events, oldest first, parsed.
func (u *User) Timeline(room id.RoomID) []*event.Event {
	resp, err := u.Client.Messages(Ctx(u.T), room, "", "", mautrix.DirectionBackward, nil, 500)
	require.NoError(u.T, err)
	out := make([]*event.Event, 0, len(resp.Chunk))
	for i := len(resp.Chunk) - 1; i >= 0; i-- {
		evt := resp.Chunk[i]
		_ = evt.Content.ParseRaw(evt.Type)
		out = append(out, evt)
	}
	return out
}

// WaitFor polls the room until an event matches, failing after 20 s.
func (u *User) WaitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	u.T.Helper()
	return u.WaitForWithin(room, what, 20*time.Second, match)
}

// WaitForWithin is WaitFor with its own time limit. On timeout it prints
// the room's timeline, which is what a failing test needs to be read.
func (u *User) WaitForWithin(room id.RoomID, what string, limit time.Duration, match func(*event.Event) bool) *event.Event {
	u.T.Helper()
	var last []*event.Event
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		last = u.Timeline(room)
		for _, evt := range last {
			if match(evt) {
				return evt
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var b strings.Builder
	for _, evt := range last {
		fmt.Fprintf(&b, "  %s %s %s %v\n", evt.Type.Type, evt.Sender, evt.GetStateKey(), evt.Content.Raw)
	}
	u.T.Fatalf("timed out waiting for %s in %s; timeline:\n%s", what, room, b.String())
	return nil
}

// Messages returns the bodies of m.room.message events, by sender when one
// is given.
func (u *User) Messages(room id.RoomID, sender id.UserID) []string {
	var out []string
	for _, evt := range u.Timeline(room) {
		if evt.Type == event.EventMessage && (sender == "" || evt.Sender == sender) {
			out = append(out, Body(evt))
		}
	}
	return out
}

// Join joins a room by alias or ID.
func (u *User) Join(aliasOrID string) id.RoomID {
	u.T.Helper()
	resp, err := u.Client.JoinRoom(Ctx(u.T), aliasOrID, nil)
	require.NoError(u.T, err)
	return resp.RoomID
}

// Invites returns the rooms the user is invited to, with whether the
// invite is marked is_direct.
func (u *User) Invites() map[id.RoomID]bool {
	resp, err := u.Client.SyncRequest(Ctx(u.T), 0, "", "", false, event.PresenceOffline)
	require.NoError(u.T, err)
	out := map[id.RoomID]bool{}
	for r, inv := range resp.Rooms.Invite {
		direct := false
		for _, evt := range inv.State.Events {
			if evt.Type == event.StateMember && evt.GetStateKey() == u.ID.String() {
				_ = evt.Content.ParseRaw(evt.Type)
				direct = evt.Content.AsMember().IsDirect
			}
		}
		out[r] = direct
	}
	return out
}

// JoinSpaceInvite waits for the user's invite to a space, joins it and
// returns it. Other invites seen meanwhile are joined too.
func (u *User) JoinSpaceInvite() id.RoomID {
	u.T.Helper()
	seen := map[id.RoomID]bool{}
	var space id.RoomID
	require.Eventually(u.T, func() bool {
		for r := range u.Invites() {
			if seen[r] {
				continue
			}
			seen[r] = true
			u.Join(r.String())
			var create event.CreateEventContent
			if u.Client.StateEvent(Ctx(u.T), r, event.StateCreate, "", &create) == nil && create.Type == event.RoomTypeSpace {
				space = r
				return true
			}
		}
		return false
	}, 20*time.Second, 200*time.Millisecond, "%s was not invited to a space", u.ID)
	return space
}

// InSpace says whether the space lists the room as a child.
func (u *User) InSpace(space, room id.RoomID) bool {
	var child event.SpaceChildEventContent
	err := u.Client.StateEvent(Ctx(u.T), space, event.StateSpaceChild, room.String(), &child)
	return err == nil && len(child.Via) > 0
}
