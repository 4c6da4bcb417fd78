package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/storage"
)

func TestMessagesCrossBothWays(t *testing.T) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		t.Run("on "+string(typ), func(t *testing.T) {
			w := newWorldWith(t, typ, nil, bridgeworld.Options{})
			w.StartBridge()
			messagesCrossBothWays(t, w)
		})
	}
}

func messagesCrossBothWays(t *testing.T, w *world) {
	alice := w.NewUser("alice")
	room := joinPortal(alice, "general")

	t.Run("a remote message appears from a ghost with its profile", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "profile", Sender: "carol", Name: "Carol Remote"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "hello from remote"})
		evt := alice.WaitFor(room, "carol's message", func(e *event.Event) bool { return bridgeworld.Body(e) == "hello from remote" })
		assert.Equal(t, ghostID("carol"), evt.Sender)
		name, err := alice.Client.GetDisplayName(bridgeworld.Ctx(t), ghostID("carol"))
		require.NoError(t, err)
		assert.Equal(t, "Carol Remote", name.DisplayName)
	})

	t.Run("a Matrix user without a login is relayed by the bot with their name", func(t *testing.T) {
		_, err := alice.Client.SendText(bridgeworld.Ctx(t), room, "relay me")
		require.NoError(t, err)
		ev := w.waitRemote("relayed message", func(e remote.Event) bool { return strings.Contains(e.Text, "relay me") })
		assert.Equal(t, "relaybot", ev.Sender)
		assert.Equal(t, "<alice> relay me", ev.Text)
	})

	mgmt := alice.ManagementRoom()
	reply := alice.Command(mgmt, "login loop alice")
	require.Contains(t, reply, "Logged in to loop")

	var sent *mautrix.RespSendEvent
	t.Run("a logged-in user's message is sent as them and not echoed back", func(t *testing.T) {
		var err error
		sent, err = alice.Client.SendText(bridgeworld.Ctx(t), room, "as myself")
		require.NoError(t, err)
		ev := w.waitRemote("alice's message", func(e remote.Event) bool { return e.Text == "as myself" })
		assert.Equal(t, "alice", ev.Sender)
		// The remote echoes everything; give the bridge time to (wrongly) relay it back.
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "marker"})
		alice.WaitFor(room, "marker", func(e *event.Event) bool { return bridgeworld.Body(e) == "marker" })
		var copies int
		for _, b := range alice.Messages(room, "") {
			if b == "as myself" {
				copies++
			}
		}
		assert.Equal(t, 1, copies, "the message must appear exactly once in Matrix")
	})

	t.Run("a Matrix edit reaches the remote side as an edit of the same message", func(t *testing.T) {
		orig := w.waitRemote("original", func(e remote.Event) bool { return e.Text == "as myself" })
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: "as myself, edited"}
		content.SetEdit(sent.EventID)
		_, err := alice.Client.SendMessageEvent(bridgeworld.Ctx(t), room, event.EventMessage, content)
		require.NoError(t, err)
		ev := w.waitRemote("edit", func(e remote.Event) bool { return e.Kind == "edit" })
		assert.Equal(t, orig.ID, ev.Target)
		assert.Equal(t, "as myself, edited", ev.Text)
	})

	var carolMsg *event.Event
	t.Run("a Matrix reaction reaches the remote side", func(t *testing.T) {
		carolMsg = alice.WaitFor(room, "carol's message", func(e *event.Event) bool { return bridgeworld.Body(e) == "hello from remote" })
		_, err := alice.Client.SendReaction(bridgeworld.Ctx(t), room, carolMsg.ID, "👍")
		require.NoError(t, err)
		ev := w.waitRemote("reaction", func(e remote.Event) bool { return e.Kind == "reaction" })
		assert.Equal(t, "👍", ev.Reaction)
		assert.Equal(t, "alice", ev.Sender)
	})

	t.Run("a Matrix redaction deletes the remote message", func(t *testing.T) {
		doomed, err := alice.Client.SendText(bridgeworld.Ctx(t), room, "doomed")
		require.NoError(t, err)
		orig := w.waitRemote("original", func(e remote.Event) bool { return e.Text == "doomed" })
		redaction, err := alice.Client.RedactEvent(bridgeworld.Ctx(t), room, doomed.EventID)
		require.NoError(t, err)
		// Dendrite v0.13.8 never sends redactions to appservices (its PR
		// #3445 adds that); Synapse does. Deliver the real redaction event
		// the way Synapse would.
		w.PushTransaction(map[string]any{
			"type": "m.room.redaction", "room_id": room, "sender": alice.ID, "event_id": redaction.EventID,
			"redacts": doomed.EventID, "content": map[string]any{"redacts": doomed.EventID}, "origin_server_ts": time.Now().UnixMilli(),
		})
		ev := w.waitRemote("delete", func(e remote.Event) bool { return e.Kind == "delete" })
		assert.Equal(t, orig.ID, ev.Target)
	})

	t.Run("redacting someone else's message does not delete it remotely", func(t *testing.T) {
		carols := alice.WaitFor(room, "carol's message", func(e *event.Event) bool { return bridgeworld.Body(e) == "hello from remote" })
		// Homeservers deliver such redactions even when they refuse to
		// apply them (no power); the bridge must not act on them.
		w.PushTransaction(map[string]any{
			"type": "m.room.redaction", "room_id": room, "sender": alice.ID, "event_id": "$fake-redaction-" + token(),
			"redacts": carols.ID, "content": map[string]any{"redacts": carols.ID}, "origin_server_ts": time.Now().UnixMilli(),
		})
		// Events of a room are handled in order: once this arrives, the
		// redaction has been handled.
		_, err := alice.Client.SendText(bridgeworld.Ctx(t), room, "after the redaction")
		require.NoError(t, err)
		w.waitRemote("marker", func(e remote.Event) bool { return e.Text == "after the redaction" })
		for _, ev := range w.remote.Log() {
			if ev.Kind == "delete" {
				assert.NotEqual(t, "m1", ev.Target, "carol's message was deleted on the remote side")
			}
		}
	})

	t.Run("a replayed remote message is not bridged twice", func(t *testing.T) {
		first := w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "only once"})[0]
		alice.WaitFor(room, "only once", func(e *event.Event) bool { return bridgeworld.Body(e) == "only once" })
		// The same remote message (same ID) delivered again, as after a reconnect.
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "only once", ID: first.ID})
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "marker 2"})
		alice.WaitFor(room, "marker 2", func(e *event.Event) bool { return bridgeworld.Body(e) == "marker 2" })
		var copies int
		for _, b := range alice.Messages(room, ghostID("carol")) {
			if b == "only once" {
				copies++
			}
		}
		assert.Equal(t, 1, copies)
	})

	t.Run("remote edits, reactions and deletes reach Matrix", func(t *testing.T) {
		msg := w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "typo"})[0]
		mxMsg := alice.WaitFor(room, "typo", func(e *event.Event) bool { return bridgeworld.Body(e) == "typo" })
		w.remote.Append(remote.Event{Kind: "edit", Chat: "general", Sender: "carol", Target: msg.ID, Text: "fixed"})
		edit := alice.WaitFor(room, "edit", func(e *event.Event) bool {
			c := e.Content.AsMessage()
			return c != nil && c.NewContent != nil && c.NewContent.Body == "fixed"
		})
		assert.Equal(t, mxMsg.ID, edit.Content.AsMessage().RelatesTo.GetReplaceID())
		w.remote.Append(remote.Event{Kind: "reaction", Chat: "general", Sender: "carol", Target: msg.ID, Reaction: "🎉"})
		react := alice.WaitFor(room, "reaction", func(e *event.Event) bool {
			return e.Type == event.EventReaction && e.Content.AsReaction().RelatesTo.EventID == mxMsg.ID
		})
		assert.Equal(t, ghostID("carol"), react.Sender)
		assert.Equal(t, "🎉", react.Content.AsReaction().RelatesTo.Key)
		w.remote.Append(remote.Event{Kind: "delete", Chat: "general", Sender: "carol", Target: msg.ID})
		alice.WaitFor(room, "redaction", func(e *event.Event) bool { return e.Type == event.EventRedaction && e.Redacts == mxMsg.ID })
	})
}

func TestMembershipCrossesBothWays(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	room := joinPortal(alice, "lobby")

	t.Run("joining the portal joins the remote channel", func(t *testing.T) {
		ev := w.waitRemote("join", func(e remote.Event) bool { return e.Kind == "join" && e.Sender == "alice" })
		assert.Equal(t, "lobby", ev.Chat)
	})

	t.Run("remote joins and leaves move ghosts", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "join", Chat: "lobby", Sender: "dave"})
		alice.WaitFor(room, "dave joins", func(e *event.Event) bool {
			return e.Type == event.StateMember && e.GetStateKey() == ghostID("dave").String() && e.Content.AsMember().Membership == event.MembershipJoin
		})
		w.remote.Append(remote.Event{Kind: "leave", Chat: "lobby", Sender: "dave"})
		alice.WaitFor(room, "dave leaves", func(e *event.Event) bool {
			return e.Type == event.StateMember && e.GetStateKey() == ghostID("dave").String() && e.Content.AsMember().Membership == event.MembershipLeave
		})
	})

	t.Run("a remote kick removes the ghost with the reason", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "join", Chat: "lobby", Sender: "erin"})
		alice.WaitFor(room, "erin joins", func(e *event.Event) bool {
			return e.GetStateKey() == ghostID("erin").String() && e.Content.AsMember().Membership == event.MembershipJoin
		})
		w.remote.Append(remote.Event{Kind: "kick", Chat: "lobby", Sender: "carol", Member: "erin", Text: "spam"})
		kick := alice.WaitFor(room, "erin kicked", func(e *event.Event) bool {
			return e.GetStateKey() == ghostID("erin").String() && e.Content.AsMember().Membership == event.MembershipLeave
		})
		assert.NotEqual(t, ghostID("erin"), kick.Sender, "a kick, not a leave")
		assert.Contains(t, kick.Content.AsMember().Reason, "carol", "the bot names the remote kicker")
	})

	t.Run("leaving the portal parts the remote channel", func(t *testing.T) {
		_, err := alice.Client.LeaveRoom(bridgeworld.Ctx(t), room)
		require.NoError(t, err)
		w.waitRemote("leave", func(e remote.Event) bool { return e.Kind == "leave" && e.Sender == "alice" })
	})
}

func TestPresenceAndTyping(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	room := joinPortal(alice, "presence")
	w.remote.Append(remote.Event{Kind: "message", Chat: "presence", Sender: "frank", Text: "hi"})
	alice.WaitFor(room, "frank", func(e *event.Event) bool { return bridgeworld.Body(e) == "hi" })

	t.Run("remote presence becomes ghost presence", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "presence", Sender: "frank", Presence: "unavailable", Text: "lunch"})
		require.Eventually(t, func() bool {
			p, err := alice.Client.GetPresence(bridgeworld.Ctx(t), ghostID("frank"))
			return err == nil && p.Presence == event.PresenceUnavailable && p.StatusMsg == "lunch"
		}, 20*time.Second, 100*time.Millisecond)
	})

	t.Run("remote typing shows as the ghost typing", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "typing", Chat: "presence", Sender: "frank", Typing: true})
		require.Eventually(t, func() bool {
			resp, err := alice.Client.SyncRequest(bridgeworld.Ctx(t), 0, "", "", false, event.PresenceOnline)
			if err != nil {
				return false
			}
			for _, evt := range resp.Rooms.Join[room].Ephemeral.Events {
				if evt.Type == event.EphemeralEventTyping {
					_ = evt.Content.ParseRaw(evt.Type)
					for _, u := range evt.Content.AsTyping().UserIDs {
						if u == ghostID("frank") {
							return true
						}
					}
				}
			}
			return false
		}, 20*time.Second, 200*time.Millisecond)
	})

	// Dendrite sends no ephemeral events to appservices; Synapse does, in
	// "ephemeral" (stable) or "de.sorunome.msc2409.ephemeral".
	t.Run("Matrix typing reaches the remote side, start and stop", func(t *testing.T) {
		w.PushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": []id.UserID{alice.ID}},
		}}})
		w.waitRemote("typing start", func(e remote.Event) bool { return e.Kind == "typing" && e.Sender == "alice" && e.Typing })
		w.PushRaw(map[string]any{"events": []any{}, "de.sorunome.msc2409.ephemeral": []any{map[string]any{
			"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": []id.UserID{}},
		}}})
		w.waitRemote("typing stop", func(e remote.Event) bool { return e.Kind == "typing" && e.Sender == "alice" && !e.Typing })
	})

	t.Run("a Matrix read receipt becomes a remote read marker", func(t *testing.T) {
		hi := w.waitRemote("frank's message", func(e remote.Event) bool { return e.Text == "hi" && e.Sender == "frank" })
		mx := alice.WaitFor(room, "frank", func(e *event.Event) bool { return bridgeworld.Body(e) == "hi" })
		w.PushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.receipt", "room_id": room,
			"content": map[string]any{mx.ID.String(): map[string]any{"m.read": map[string]any{alice.ID.String(): map[string]any{"ts": time.Now().UnixMilli()}}}},
		}}})
		ev := w.waitRemote("read marker", func(e remote.Event) bool { return e.Kind == "read_marker" && e.Sender == "alice" })
		assert.Equal(t, hi.ID, ev.Target)
	})

	t.Run("Matrix presence reaches the remote side", func(t *testing.T) {
		w.PushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.presence", "sender": alice.ID, "content": map[string]any{"presence": "unavailable", "status_msg": "in a meeting"},
		}}})
		ev := w.waitRemote("presence", func(e remote.Event) bool { return e.Kind == "presence" && e.Sender == "alice" })
		assert.Equal(t, "unavailable", ev.Presence)
		assert.Equal(t, "in a meeting", ev.Text)
	})
}

func TestDoublePuppetShowsRemoteMessagesAsTheUser(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	require.Contains(t, alice.Command(mgmt, "login-matrix "+alice.Token), "Double puppeting is on")
	room := joinPortal(alice, "dp")

	// Alice writes from the native remote client, not through the bridge.
	w.remote.Append(remote.Event{Kind: "message", Chat: "dp", Sender: "alice", Text: "from my phone"})
	evt := alice.WaitFor(room, "alice's remote message", func(e *event.Event) bool { return bridgeworld.Body(e) == "from my phone" })
	assert.Equal(t, alice.ID, evt.Sender, "shown as alice's own account, not a ghost")

	// The Matrix echo of that event must not go back to the remote side.
	w.remote.Append(remote.Event{Kind: "message", Chat: "dp", Sender: "carol", Text: "marker"})
	alice.WaitFor(room, "marker", func(e *event.Event) bool { return bridgeworld.Body(e) == "marker" })
	time.Sleep(500 * time.Millisecond)
	for _, ev := range w.remote.SentViaAPI() {
		assert.NotEqual(t, "from my phone", ev.Text, "double-puppeted message echoed back to the remote side")
	}
	assert.NotContains(t, alice.Messages(room, ghostID("alice")), "from my phone")
}

func TestRemoteDMInvitesTheUser(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:gina", Sender: "gina", Text: "psst", DM: true})
	var room id.RoomID
	require.Eventually(t, func() bool {
		resp, err := alice.Client.SyncRequest(bridgeworld.Ctx(t), 0, "", "", false, event.PresenceOffline)
		if err != nil {
			return false
		}
		for r, inv := range resp.Rooms.Invite {
			for _, evt := range inv.State.Events {
				if evt.Type == event.StateMember && evt.GetStateKey() == alice.ID.String() {
					_ = evt.Content.ParseRaw(evt.Type)
					if evt.Content.AsMember().IsDirect {
						room = r
						return true
					}
				}
			}
		}
		return false
	}, 20*time.Second, 200*time.Millisecond, "no is_direct invite")
	_, err := alice.Client.JoinRoomByID(bridgeworld.Ctx(t), room)
	require.NoError(t, err)
	alice.WaitFor(room, "psst", func(e *event.Event) bool { return bridgeworld.Body(e) == "psst" && e.Sender == ghostID("gina") })
	create := alice.WaitFor(room, "creation", func(e *event.Event) bool { return e.Type == event.StateCreate })
	assert.Equal(t, ghostID("gina"), create.Sender, "the DM is made by gina's ghost, so clients name it after her")
	_, err = alice.Client.SendText(bridgeworld.Ctx(t), room, "hi gina")
	require.NoError(t, err)
	ev := w.waitRemote("DM reply", func(e remote.Event) bool { return e.Text == "hi gina" })
	assert.Equal(t, "dm:alice:gina", ev.Chat)
	assert.Equal(t, "alice", ev.Sender)
}

func TestDoublePuppetThatStopsWorkingIsDroppedAndTheUserTold(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	// A second device's token, so logging it out leaves the test's client working.
	_, dpToken := w.HS.Login(t, "alice", "password-alice")
	require.Contains(t, alice.Command(mgmt, "login-matrix "+dpToken), "Double puppeting is on")
	room := joinPortal(alice, "dropped")

	dpClient, err := mautrix.NewClient(w.HS.URL, alice.ID, dpToken)
	require.NoError(t, err)
	_, err = dpClient.Logout(bridgeworld.Ctx(t))
	require.NoError(t, err)

	w.remote.Append(remote.Event{Kind: "message", Chat: "dropped", Sender: "alice", Text: "after logout"})
	evt := alice.WaitFor(room, "the message", func(e *event.Event) bool { return bridgeworld.Body(e) == "after logout" })
	assert.Equal(t, ghostID("alice"), evt.Sender, "delivered through the ghost once the token failed")
	alice.WaitFor(mgmt, "a notice", func(e *event.Event) bool {
		return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "no longer used for double puppeting")
	})
	assert.Contains(t, alice.Command(mgmt, "status"), "Double puppeting is off")
}

// png is a 1×1 PNG.
var png = []byte{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
	0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
	0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
	0x42, 0x60, 0x82}

func TestAvatarsAndChatInfo(t *testing.T) {
	var fetches atomic.Int32
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	t.Cleanup(img.Close)
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	room := joinPortal(alice, "pictures")

	t.Run("a ghost's avatar is uploaded once and set", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "profile", Sender: "hana", Name: "Hana", Avatar: img.URL + "/hana.png"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "pictures", Sender: "hana", Text: "see my face"})
		alice.WaitFor(room, "hana", func(e *event.Event) bool { return bridgeworld.Body(e) == "see my face" })
		resp, err := alice.Client.GetAvatarURL(bridgeworld.Ctx(t), ghostID("hana"))
		require.NoError(t, err)
		require.False(t, resp.IsEmpty(), "the ghost has an avatar")
		data, err := alice.Client.DownloadBytes(bridgeworld.Ctx(t), resp)
		require.NoError(t, err)
		assert.Equal(t, png, data)
		w.remote.Append(remote.Event{Kind: "profile", Sender: "hana", Name: "Hana", Avatar: img.URL + "/hana.png"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "pictures", Sender: "hana", Text: "same face"})
		alice.WaitFor(room, "hana again", func(e *event.Event) bool { return bridgeworld.Body(e) == "same face" })
		assert.Equal(t, int32(1), fetches.Load(), "an unchanged avatar is not fetched again")
	})

	t.Run("the chat's name, topic and avatar reach the room", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "pictures", Sender: "hana", Name: "Pictures!", Text: "post photos here", Avatar: img.URL + "/room.png"})
		alice.WaitFor(room, "topic", func(e *event.Event) bool {
			return e.Type == event.StateTopic && e.Content.AsTopic().Topic == "post photos here"
		})
		alice.WaitFor(room, "name", func(e *event.Event) bool {
			return e.Type == event.StateRoomName && e.Content.AsRoomName().Name == "Pictures!"
		})
		alice.WaitFor(room, "avatar", func(e *event.Event) bool {
			return e.Type == event.StateRoomAvatar && e.Content.AsRoomAvatar().URL != ""
		})
	})
}

func TestFilesCrossBothWays(t *testing.T) {
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	}))
	t.Cleanup(files.Close)
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	room := joinPortal(alice, "files")

	t.Run("a remote attachment is uploaded to the media repo", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "message", Chat: "files", Sender: "ivan", Text: "dot.png", File: files.URL + "/dot.png"})
		evt := alice.WaitFor(room, "file", func(e *event.Event) bool { return bridgeworld.Body(e) == "dot.png" })
		c := evt.Content.AsMessage()
		assert.Equal(t, event.MsgFile, c.MsgType)
		uri, err := c.URL.Parse()
		require.NoError(t, err)
		data, err := alice.Client.DownloadBytes(bridgeworld.Ctx(t), uri)
		require.NoError(t, err)
		assert.Equal(t, png, data)
	})

	t.Run("a Matrix file reaches the remote side through the core", func(t *testing.T) {
		up, err := alice.Client.UploadBytes(bridgeworld.Ctx(t), []byte("hello file"), "text/plain")
		require.NoError(t, err)
		_, err = alice.Client.SendMessageEvent(bridgeworld.Ctx(t), room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgFile, Body: "note.txt", URL: up.ContentURI.CUString(),
		})
		require.NoError(t, err)
		w.waitRemote("file", func(e remote.Event) bool { return e.Text == "file note.txt (10 bytes)" })
	})
}

func TestUndeliverableMessageIsReportedToTheSender(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	room := joinPortal(alice, "refused")
	w.remote.Refuse("alice")
	sent, err := alice.Client.SendText(bridgeworld.Ctx(t), room, "will bounce")
	require.NoError(t, err)
	notice := alice.WaitFor(room, "a notice", func(e *event.Event) bool {
		return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "not delivered")
	})
	assert.Contains(t, bridgeworld.Body(notice), "403")
	assert.NotContains(t, bridgeworld.Body(notice), "send to", "the notice gives the reason, not the bridge's plumbing")
	_ = notice.Content.ParseRaw(notice.Type)
	assert.Equal(t, sent.EventID, notice.Content.AsMessage().RelatesTo.GetReplyTo(), "the notice answers the message that bounced")
	for _, ev := range w.remote.Log() {
		assert.NotEqual(t, "will bounce", ev.Text)
	}
}

func TestMatrixUserStartsADMWithAGhost(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	// zed has never been seen: the homeserver asks the bridge whether the
	// ghost exists (a user query), and the bridge registers it.
	resp, err := alice.Client.CreateRoom(bridgeworld.Ctx(t), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{ghostID("zed")},
	})
	require.NoError(t, err)
	alice.WaitFor(resp.RoomID, "zed joins", func(e *event.Event) bool {
		return e.Type == event.StateMember && e.GetStateKey() == ghostID("zed").String() && e.Content.AsMember().Membership == event.MembershipJoin
	})
	_, err = alice.Client.SendText(bridgeworld.Ctx(t), resp.RoomID, "hi zed")
	require.NoError(t, err)
	ev := w.waitRemote("DM", func(e remote.Event) bool { return e.Text == "hi zed" })
	assert.Equal(t, "dm:alice:zed", ev.Chat)
	w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:zed", Sender: "zed", Text: "hi alice", DM: true})
	alice.WaitFor(resp.RoomID, "zed's answer in the same room", func(e *event.Event) bool { return bridgeworld.Body(e) == "hi alice" })
}

func TestHomeserverOutageLosesNothing(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	room := joinPortal(alice, "outage")
	w.remote.Append(remote.Event{Kind: "message", Chat: "outage", Sender: "carol", Text: "before"})
	alice.WaitFor(room, "before", func(e *event.Event) bool { return bridgeworld.Body(e) == "before" })

	w.HS.Stop(t)
	var want []string
	for i := 0; i < 10; i++ {
		text := fmt.Sprintf("during-%d", i)
		want = append(want, text)
		w.remote.Append(remote.Event{Kind: "message", Chat: "outage", Sender: "carol", Text: text})
	}
	// Longer than the bridge's first backoffs, so it has failed a few times.
	time.Sleep(4 * time.Second)
	w.HS.Restart(t)

	alice.WaitFor(room, "the last one", func(e *event.Event) bool { return bridgeworld.Body(e) == "during-9" })
	var got []string
	for _, b := range alice.Messages(room, ghostID("carol")) {
		if strings.HasPrefix(b, "during-") {
			got = append(got, b)
		}
	}
	assert.Equal(t, want, got, "every message once, in order")
}

func TestAutoSessionsGiveEveryMatrixUserTheirOwnRemoteIdentity(t *testing.T) {
	w := newWorldWith(t, storage.SQLite, map[string]any{"auto_sessions": true}, bridgeworld.Options{})
	w.StartBridge()
	bob := w.NewUser("bob")
	room := joinPortal(bob, "auto")

	t.Run("joining the portal connects the user and joins the channel", func(t *testing.T) {
		w.waitRemote("bob's join", func(e remote.Event) bool { return e.Kind == "join" && e.Sender == "bob" && e.Chat == "auto" })
	})

	t.Run("messages go out as the user, not relayed", func(t *testing.T) {
		_, err := bob.Client.SendText(bridgeworld.Ctx(t), room, "my own words")
		require.NoError(t, err)
		ev := w.waitRemote("bob's message", func(e remote.Event) bool { return e.Text == "my own words" })
		assert.Equal(t, "bob", ev.Sender)
	})

	t.Run("the session survives a restart without a login", func(t *testing.T) {
		w.StopBridge()
		w.StartBridge()
		mgmt := bob.ManagementRoom()
		assert.Contains(t, bob.Command(mgmt, "status"), "loop as bob: connected")
	})
}

func TestInvitingAGhostWithoutALoginIsRefusedAndExplained(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	resp, err := alice.Client.CreateRoom(bridgeworld.Ctx(t), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{ghostID("yuri")},
	})
	require.NoError(t, err)
	alice.WaitFor(resp.RoomID, "the ghost refuses", func(e *event.Event) bool {
		return e.Type == event.StateMember && e.GetStateKey() == ghostID("yuri").String() && e.Content.AsMember().Membership == event.MembershipLeave
	})
	alice.WaitFor(mgmt, "the reason", func(e *event.Event) bool {
		return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "not logged in to loop")
	})
}

func TestRoomStateFollowsRemoteRights(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	room := joinPortal(alice, "modes")
	w.remote.Append(remote.Event{Kind: "join", Chat: "modes", Sender: "olga"})
	alice.WaitFor(room, "olga joins", func(e *event.Event) bool { return e.GetStateKey() == ghostID("olga").String() })
	// A Matrix moderator of the room who is not an operator remotely.
	bot, err := mautrix.NewClient(w.HS.URL, bridgeworld.BotMXID(), w.Config.Appservice.ASToken)
	require.NoError(t, err)
	var pl event.PowerLevelsEventContent
	require.NoError(t, bot.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &pl))
	pl.SetUserLevel(alice.ID, 50)
	pl.SetEventLevel(event.StatePowerLevels, 50)
	_, err = bot.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &pl)
	require.NoError(t, err)

	t.Run("a topic change without remote rights is reverted and explained", func(t *testing.T) {
		_, err := alice.Client.SendStateEvent(bridgeworld.Ctx(t), room, event.StateTopic, "", &event.TopicEventContent{Topic: "not mine to set"})
		require.NoError(t, err)
		alice.WaitFor(room, "the explanation", func(e *event.Event) bool {
			return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "changed back")
		})
		var topic event.TopicEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StateTopic, "", &topic))
		assert.NotEqual(t, "not mine to set", topic.Topic)
	})

	t.Run("an op from Matrix without remote rights is reverted", func(t *testing.T) {
		var cur event.PowerLevelsEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur))
		cur.SetUserLevel(ghostID("olga"), 50)
		_, err := alice.Client.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var now event.PowerLevelsEventContent
			return alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &now) == nil && now.GetUserLevel(ghostID("olga")) == 0
		}, 20*time.Second, 200*time.Millisecond, "olga's op was not taken back")
	})

	t.Run("a kick or ban without remote rights brings the ghost back and explains", func(t *testing.T) {
		for _, ban := range []bool{false, true} {
			var err error
			if ban {
				_, err = alice.Client.BanUser(bridgeworld.Ctx(t), room, &mautrix.ReqBanUser{UserID: ghostID("olga"), Reason: "begone"})
			} else {
				_, err = alice.Client.KickUser(bridgeworld.Ctx(t), room, &mautrix.ReqKickUser{UserID: ghostID("olga"), Reason: "begone"})
			}
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				members, err := alice.Client.JoinedMembers(bridgeworld.Ctx(t), room)
				_, in := members.Joined[ghostID("olga")]
				return err == nil && in
			}, 20*time.Second, 200*time.Millisecond, "olga was not brought back (ban: %v)", ban)
		}
		alice.WaitFor(room, "the explanation", func(e *event.Event) bool {
			return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "olga was brought back: only operators")
		})
		for _, ev := range w.remote.Log() {
			assert.NotContains(t, []string{"kick", "ban"}, ev.Kind, "a refused kick reached the remote side")
		}
	})

	t.Run("a refused unban is not a reason to bring anyone back", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "join", Chat: "modes", Sender: "pia"})
		alice.WaitFor(room, "pia joins", func(e *event.Event) bool { return e.GetStateKey() == ghostID("pia").String() })
		_, err := bot.BanUser(bridgeworld.Ctx(t), room, &mautrix.ReqBanUser{UserID: ghostID("pia"), Reason: "by the bot"})
		require.NoError(t, err)
		_, err = alice.Client.UnbanUser(bridgeworld.Ctx(t), room, &mautrix.ReqUnbanUser{UserID: ghostID("pia")})
		require.NoError(t, err)
		alice.WaitFor(room, "the explanation", func(e *event.Event) bool {
			return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "done on Matrix only")
		})
		members, err := alice.Client.JoinedMembers(bridgeworld.Ctx(t), room)
		require.NoError(t, err)
		assert.NotContains(t, members.Joined, ghostID("pia"), "an unbanned ghost was pulled into the room")
	})

	t.Run("a moderator may change levels but not what they allow", func(t *testing.T) {
		var cur event.PowerLevelsEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur))
		cur.UsersDefault = 50
		_, err := alice.Client.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur)
		require.NoError(t, err)
		alice.WaitFor(room, "the explanation", func(e *event.Event) bool {
			return e.Sender == bridgeworld.BotMXID() && strings.Contains(bridgeworld.Body(e), "only room admins")
		})
		require.Eventually(t, func() bool {
			var now event.PowerLevelsEventContent
			return alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &now) == nil && now.UsersDefault == 0
		}, 20*time.Second, 200*time.Millisecond, "users_default was not put back")
	})

	t.Run("with remote rights, topic and ops reach the remote side", func(t *testing.T) {
		w.remote.SetOp("modes", "alice", true)
		_, err := alice.Client.SendStateEvent(bridgeworld.Ctx(t), room, event.StateTopic, "", &event.TopicEventContent{Topic: "allowed now"})
		require.NoError(t, err)
		w.waitRemote("topic", func(e remote.Event) bool { return e.Kind == "chat_info" && e.Text == "allowed now" })
		var cur event.PowerLevelsEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur))
		cur.SetUserLevel(ghostID("olga"), 50)
		_, err = alice.Client.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur)
		require.NoError(t, err)
		ev := w.waitRemote("op", func(e remote.Event) bool { return e.Kind == "mode" && e.Member == "olga" })
		assert.Equal(t, "+o", ev.Mode)
	})

	bob := w.NewUser("bob")
	require.Contains(t, bob.Command(bob.ManagementRoom(), "login loop bob"), "Logged in")
	bob.Join(room.String())
	levelOf := func(user id.UserID) int {
		var now event.PowerLevelsEventContent
		if alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &now) != nil {
			return -1
		}
		return now.GetUserLevel(user)
	}

	t.Run("a remote op of a logged-in user makes them a moderator in Matrix, and a deop takes it back", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "modes", Sender: "alice", Member: "bob", Mode: "+o"})
		require.Eventually(t, func() bool { return levelOf(bob.ID) == 50 }, 20*time.Second, 200*time.Millisecond, "bob is not a moderator")
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "modes", Sender: "alice", Member: "bob", Mode: "-o"})
		require.Eventually(t, func() bool { return levelOf(bob.ID) == 0 }, 20*time.Second, 200*time.Millisecond, "bob is still a moderator")
	})

	t.Run("raising a logged-in Matrix user ops them remotely under their remote name", func(t *testing.T) {
		var cur event.PowerLevelsEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur))
		cur.SetUserLevel(bob.ID, 50)
		_, err := alice.Client.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur)
		require.NoError(t, err)
		ev := w.waitRemote("bob's op", func(e remote.Event) bool { return e.Kind == "mode" && e.Member == "bob" && e.Mode == "+o" })
		assert.Equal(t, "alice", ev.Sender)
	})

	t.Run("a room admin keeps their level whatever their remote rank", func(t *testing.T) {
		var cur event.PowerLevelsEventContent
		require.NoError(t, bot.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur))
		cur.SetUserLevel(bob.ID, 100)
		_, err := bot.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &cur)
		require.NoError(t, err)
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "modes", Sender: "olga", Member: "bob", Mode: "-o"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "modes", Sender: "olga", Text: "after the deop"})
		alice.WaitFor(room, "olga's message", func(e *event.Event) bool { return bridgeworld.Body(e) == "after the deop" })
		assert.Equal(t, 100, levelOf(bob.ID), "the deop lowered a room admin")
	})

	t.Run("remote modes become join rules, directory listing and who may talk", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "modes", Sender: "olga", Mode: "+i"})
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "modes", Sender: "olga", Mode: "+m"})
		alice.WaitFor(room, "invite only", func(e *event.Event) bool {
			return e.Type == event.StateJoinRules && e.Content.AsJoinRules().JoinRule == event.JoinRuleInvite
		})
		require.Eventually(t, func() bool {
			var now event.PowerLevelsEventContent
			return alice.Client.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &now) == nil && now.EventsDefault == 10
		}, 20*time.Second, 200*time.Millisecond, "+m did not raise events_default")
	})
}

func TestBanningAMatrixUserPartsTheirRemoteSideNotTheBanners(t *testing.T) {
	w := newWorld(t, nil)
	alice, bob := w.NewUser("alice"), w.NewUser("bob")
	require.Contains(t, alice.Command(alice.ManagementRoom(), "login loop alice"), "Logged in")
	require.Contains(t, bob.Command(bob.ManagementRoom(), "login loop bob"), "Logged in")
	room := joinPortal(alice, "bans")
	joinPortal(bob, "bans")
	w.waitRemote("bob's join", func(e remote.Event) bool { return e.Kind == "join" && e.Sender == "bob" && e.Chat == "bans" })
	bot, err := mautrix.NewClient(w.HS.URL, bridgeworld.BotMXID(), w.Config.Appservice.ASToken)
	require.NoError(t, err)
	var pl event.PowerLevelsEventContent
	require.NoError(t, bot.StateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &pl))
	pl.SetUserLevel(alice.ID, 50)
	_, err = bot.SendStateEvent(bridgeworld.Ctx(t), room, event.StatePowerLevels, "", &pl)
	require.NoError(t, err)

	_, err = alice.Client.BanUser(bridgeworld.Ctx(t), room, &mautrix.ReqBanUser{UserID: bob.ID, Reason: "spam"})
	require.NoError(t, err)
	ev := w.waitRemote("a leave after the ban", func(e remote.Event) bool { return e.Kind == "leave" && e.Chat == "bans" })
	assert.Equal(t, "bob", ev.Sender, "the banned user's session leaves, not the banner's")
	for _, e := range w.remote.Log() {
		if e.Kind == "leave" && e.Chat == "bans" {
			assert.NotEqual(t, "alice", e.Sender)
		}
	}
}
