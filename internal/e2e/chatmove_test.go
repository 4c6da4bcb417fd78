package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/storage"
)

// A DM partner who changes identity (an IRC nick change) stays in the same
// room: the portal moves to the new chat ID with its message map, on both
// databases (the move copies rows past a foreign key).
func TestDMContinuesInTheSameRoomWhenThePartnerIsRenamed(t *testing.T) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		t.Run("on "+string(typ), func(t *testing.T) {
			w := newWorldWith(t, typ, nil, bridgeworld.Options{})
			w.StartBridge()
			dmContinuesAfterRename(t, w)
		})
	}
}

func dmContinuesAfterRename(t *testing.T, w *world) {
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	joined := map[id.RoomID]bool{}
	// acceptDM waits for a new DM invite, joins it and returns the room.
	acceptDM := func(t *testing.T) id.RoomID {
		var room id.RoomID
		require.Eventually(t, func() bool {
			for r, direct := range alice.Invites() {
				if direct && !joined[r] {
					room = r
					return true
				}
			}
			return false
		}, 20*time.Second, 200*time.Millisecond, "no DM invite")
		alice.Join(room.String())
		joined[room] = true
		return room
	}
	isMember := func(user id.UserID, ms event.Membership) func(*event.Event) bool {
		return func(e *event.Event) bool {
			return e.Type == event.StateMember && e.GetStateKey() == user.String() && e.Content.AsMember().Membership == ms
		}
	}

	t.Run("the renamed partner's next message lands in the same room, and the reply reaches their new ID", func(t *testing.T) {
		alice := in(alice, t)
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:gina", Sender: "gina", Text: "psst", DM: true, ID: "g1"})
		room := acceptDM(t)
		alice.WaitFor(room, "psst", func(e *event.Event) bool { return bridgeworld.Body(e) == "psst" })
		w.remote.Append(remote.Event{Kind: "chat_move", Chat: "dm:alice:gina", Sender: "gina2", Member: "gina", DM: true})
		alice.WaitFor(room, "gina2's ghost joining", isMember(ghostID("gina2"), event.MembershipJoin))
		alice.WaitFor(room, "gina's ghost leaving", isMember(ghostID("gina"), event.MembershipLeave))
		alice.WaitFor(room, "the room renamed", func(e *event.Event) bool {
			return e.Type == event.StateRoomName && e.Content.AsRoomName().Name == "gina2"
		})
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:gina2", Sender: "gina2", Text: "still me", DM: true, ID: "g2"})
		evt := alice.WaitFor(room, "gina2's message in the same room", func(e *event.Event) bool { return bridgeworld.Body(e) == "still me" })
		assert.Equal(t, ghostID("gina2"), evt.Sender)
		assert.Empty(t, alice.Invites(), "no second DM invite")
		_, err := alice.Client.SendText(bridgeworld.Ctx(t), room, "hi again")
		require.NoError(t, err)
		ev := w.waitRemote("the reply", func(e remote.Event) bool { return e.Text == "hi again" })
		assert.Equal(t, "dm:alice:gina2", ev.Chat)
		// The message map moved with the portal: an edit of the message
		// sent before the move still finds it.
		w.remote.Append(remote.Event{Kind: "edit", Chat: "dm:alice:gina2", Sender: "gina2", Target: "g1", Text: "psst!", DM: true})
		alice.WaitFor(room, "the edit of the first message", func(e *event.Event) bool {
			m := e.Content.AsMessage()
			return e.Type == event.EventMessage && m.NewContent != nil && m.NewContent.Body == "psst!"
		})
	})

	t.Run("a rename to someone who already has a DM keeps both rooms and says so", func(t *testing.T) {
		alice := in(alice, t)
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:hugo", Sender: "hugo", Text: "from hugo", DM: true})
		first := acceptDM(t)
		alice.WaitFor(first, "hugo's message", func(e *event.Event) bool { return bridgeworld.Body(e) == "from hugo" })
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:hugo2", Sender: "hugo2", Text: "from hugo2", DM: true})
		second := acceptDM(t)
		alice.WaitFor(second, "hugo2's message", func(e *event.Event) bool { return bridgeworld.Body(e) == "from hugo2" })
		w.remote.Append(remote.Event{Kind: "chat_move", Chat: "dm:alice:hugo", Sender: "hugo2", Member: "hugo", DM: true})
		notice := alice.WaitFor(first, "the notice", func(e *event.Event) bool {
			return e.Sender == bridgeworld.BotMXID() && e.Content.AsMessage().MsgType == event.MsgNotice
		})
		assert.Contains(t, bridgeworld.Body(notice), "hugo is now known as hugo2")
		assert.Contains(t, bridgeworld.Body(notice), second.URI().MatrixToURL(), "a link to the other room")
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:hugo2", Sender: "hugo2", Text: "where am I", DM: true})
		alice.WaitFor(second, "hugo2's next message in its own room", func(e *event.Event) bool { return bridgeworld.Body(e) == "where am I" })
		resp, err := alice.Client.JoinedMembers(bridgeworld.Ctx(t), first)
		require.NoError(t, err)
		assert.Contains(t, resp.Joined, ghostID("hugo"), "the first room is left as it was")
		assert.NotContains(t, resp.Joined, ghostID("hugo2"))
		assert.NotContains(t, alice.Messages(first, ""), "where am I")
	})
}

// in is u failing t instead of the test that made it.
func in(u *user, t *testing.T) *user {
	c := *u
	c.T = t
	return &c
}
