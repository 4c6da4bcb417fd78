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

func TestEachLoginHasASpaceOfItsPortals(t *testing.T) {
	w := newWorldWith(t, storage.SQLite, nil, bridgeworld.Options{Bridge: map[string]any{"spaces": true}})
	w.StartBridge()
	alice, bob, admin := w.NewUser("alice"), w.NewUser("bob"), w.NewUser("admin")
	require.Contains(t, alice.Command(alice.ManagementRoom(), "login loop alice"), "Logged in")
	require.Contains(t, bob.Command(bob.ManagementRoom(), "login loop bob"), "Logged in")

	room := joinPortal(alice, "spaced")
	aliceSpace := alice.JoinSpaceInvite()
	bob.Join(room.String())
	bobSpace := bob.JoinSpaceInvite()

	t.Run("joining a portal puts it in the user's own space", func(t *testing.T) {
		assert.NotEqual(t, aliceSpace, bobSpace, "each login has a space of its own")
		waitChild(t, alice, aliceSpace, room)
		waitChild(t, bob, bobSpace, room)
		var name event.RoomNameEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), aliceSpace, event.StateRoomName, "", &name))
		assert.Contains(t, name.Name, "alice", "the space is named after the login")
	})

	t.Run("a DM portal is in the receiver's space only", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:gina", Sender: "gina", Text: "psst", DM: true})
		var dm id.RoomID
		require.Eventually(t, func() bool {
			for r, direct := range alice.Invites() {
				if direct {
					dm = r
					return true
				}
			}
			return false
		}, 20*time.Second, 200*time.Millisecond, "no DM invite")
		waitChild(t, alice, aliceSpace, dm)
		assert.False(t, bob.InSpace(bobSpace, dm), "bob's space lists alice's DM")
		// A sync naming another logged-in member does not bring them into
		// the receiver's DM portal.
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "dm:alice:gina", Sender: "gina", DM: true, Member: "bob"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:gina", Sender: "gina", Text: "after the sync", DM: true})
		alice.Join(dm.String())
		alice.WaitFor(dm, "gina's later message", func(e *event.Event) bool { return bridgeworld.Body(e) == "after the sync" })
		_, invited := bob.Invites()[dm]
		assert.False(t, invited, "bob was invited to alice's DM")
	})

	t.Run("a login synced into an existing portal is invited once, and the portal joins their space", func(t *testing.T) {
		carol := w.NewUser("carol")
		require.Contains(t, carol.Command(carol.ManagementRoom(), "login loop carol"), "Logged in")
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "spaced", Sender: "alice", Member: "carol"})
		require.Eventually(t, func() bool { _, ok := carol.Invites()[room]; return ok }, 20*time.Second, 200*time.Millisecond,
			"carol was not invited to the portal")
		carolSpace := carol.JoinSpaceInvite() // joins the portal too
		waitChild(t, carol, carolSpace, room)
		_, err := carol.Client.LeaveRoom(bridgeworld.Ctx(t), room)
		require.NoError(t, err)
		// Her leave has reached the bridge once it reaches the remote side.
		w.waitRemote("carol's leave", func(e remote.Event) bool { return e.Kind == "leave" && e.Sender == "carol" && e.Chat == "spaced" })
		// A second sync must not pull her back: she left on purpose.
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "spaced", Sender: "alice", Member: "carol"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "spaced", Sender: "dave", Text: "after the sync"})
		alice.WaitFor(room, "a message after the second sync", func(e *event.Event) bool { return bridgeworld.Body(e) == "after the sync" })
		_, invited := carol.Invites()[room]
		assert.False(t, invited, "carol was invited again after leaving")
	})

	t.Run("an unlinked portal leaves the spaces", func(t *testing.T) {
		assert.Contains(t, admin.Command(admin.ManagementRoom(), "unlink "+room.String()), "Unlinked")
		require.Eventually(t, func() bool { return !alice.InSpace(aliceSpace, room) && !bob.InSpace(bobSpace, room) },
			20*time.Second, 200*time.Millisecond, "the unlinked room is still listed")
	})
}

func waitChild(t *testing.T, u *user, space, room id.RoomID) {
	t.Helper()
	require.Eventually(t, func() bool { return u.InSpace(space, room) }, 20*time.Second, 200*time.Millisecond,
		"%s is not in %s's space", room, u.ID)
}
