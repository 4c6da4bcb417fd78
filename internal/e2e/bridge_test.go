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
	"github.com/isthmus-bridge/isthmus/storage"
)

func TestMessagesCrossBothWays(t *testing.T) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		t.Run("on "+string(typ), func(t *testing.T) {
			w := newWorldOn(t, typ)
			w.startBridge()
			messagesCrossBothWays(t, w)
		})
	}
}

func messagesCrossBothWays(t *testing.T, w *world) {
	alice := w.newUser("alice")
	room := alice.joinPortal("general")

	t.Run("a remote message appears from a ghost with its profile", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "profile", Sender: "carol", Name: "Carol Remote"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "hello from remote"})
		evt := alice.waitFor(room, "carol's message", func(e *event.Event) bool { return body(e) == "hello from remote" })
		assert.Equal(t, ghostID("carol"), evt.Sender)
		name, err := alice.client.GetDisplayName(ctxT(t), ghostID("carol"))
		require.NoError(t, err)
		assert.Equal(t, "Carol Remote", name.DisplayName)
	})

	t.Run("a Matrix user without a login is relayed by the bot with their name", func(t *testing.T) {
		_, err := alice.client.SendText(ctxT(t), room, "relay me")
		require.NoError(t, err)
		ev := w.waitRemote("relayed message", func(e remote.Event) bool { return strings.Contains(e.Text, "relay me") })
		assert.Equal(t, "relaybot", ev.Sender)
		assert.Equal(t, "<alice> relay me", ev.Text)
	})

	mgmt := alice.managementRoom()
	reply := alice.command(mgmt, "login loop alice")
	require.Contains(t, reply, "Logged in to loop")

	var sent *mautrix.RespSendEvent
	t.Run("a logged-in user's message is sent as them and not echoed back", func(t *testing.T) {
		var err error
		sent, err = alice.client.SendText(ctxT(t), room, "as myself")
		require.NoError(t, err)
		ev := w.waitRemote("alice's message", func(e remote.Event) bool { return e.Text == "as myself" })
		assert.Equal(t, "alice", ev.Sender)
		// The remote echoes everything; give the bridge time to (wrongly) relay it back.
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "marker"})
		alice.waitFor(room, "marker", func(e *event.Event) bool { return body(e) == "marker" })
		var copies int
		for _, b := range alice.messages(room, "") {
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
		_, err := alice.client.SendMessageEvent(ctxT(t), room, event.EventMessage, content)
		require.NoError(t, err)
		ev := w.waitRemote("edit", func(e remote.Event) bool { return e.Kind == "edit" })
		assert.Equal(t, orig.ID, ev.Target)
		assert.Equal(t, "as myself, edited", ev.Text)
	})

	var carolMsg *event.Event
	t.Run("a Matrix reaction reaches the remote side", func(t *testing.T) {
		carolMsg = alice.waitFor(room, "carol's message", func(e *event.Event) bool { return body(e) == "hello from remote" })
		_, err := alice.client.SendReaction(ctxT(t), room, carolMsg.ID, "👍")
		require.NoError(t, err)
		ev := w.waitRemote("reaction", func(e remote.Event) bool { return e.Kind == "reaction" })
		assert.Equal(t, "👍", ev.Reaction)
		assert.Equal(t, "alice", ev.Sender)
	})

	t.Run("a Matrix redaction deletes the remote message", func(t *testing.T) {
		doomed, err := alice.client.SendText(ctxT(t), room, "doomed")
		require.NoError(t, err)
		orig := w.waitRemote("original", func(e remote.Event) bool { return e.Text == "doomed" })
		redaction, err := alice.client.RedactEvent(ctxT(t), room, doomed.EventID)
		require.NoError(t, err)
		// Dendrite v0.13.8 never sends redactions to appservices (its PR
		// #3445 adds that); Synapse does. Deliver the real redaction event
		// the way Synapse would.
		w.pushTransaction(map[string]any{
			"type": "m.room.redaction", "room_id": room, "sender": alice.id, "event_id": redaction.EventID,
			"redacts": doomed.EventID, "content": map[string]any{"redacts": doomed.EventID}, "origin_server_ts": time.Now().UnixMilli(),
		})
		ev := w.waitRemote("delete", func(e remote.Event) bool { return e.Kind == "delete" })
		assert.Equal(t, orig.ID, ev.Target)
	})

	t.Run("a replayed remote message is not bridged twice", func(t *testing.T) {
		first := w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "only once"})[0]
		alice.waitFor(room, "only once", func(e *event.Event) bool { return body(e) == "only once" })
		// The same remote message (same ID) delivered again, as after a reconnect.
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "only once", ID: first.ID})
		w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "marker 2"})
		alice.waitFor(room, "marker 2", func(e *event.Event) bool { return body(e) == "marker 2" })
		var copies int
		for _, b := range alice.messages(room, ghostID("carol")) {
			if b == "only once" {
				copies++
			}
		}
		assert.Equal(t, 1, copies)
	})

	t.Run("remote edits, reactions and deletes reach Matrix", func(t *testing.T) {
		msg := w.remote.Append(remote.Event{Kind: "message", Chat: "general", Sender: "carol", Text: "typo"})[0]
		mxMsg := alice.waitFor(room, "typo", func(e *event.Event) bool { return body(e) == "typo" })
		w.remote.Append(remote.Event{Kind: "edit", Chat: "general", Sender: "carol", Target: msg.ID, Text: "fixed"})
		edit := alice.waitFor(room, "edit", func(e *event.Event) bool {
			c := e.Content.AsMessage()
			return c != nil && c.NewContent != nil && c.NewContent.Body == "fixed"
		})
		assert.Equal(t, mxMsg.ID, edit.Content.AsMessage().RelatesTo.GetReplaceID())
		w.remote.Append(remote.Event{Kind: "reaction", Chat: "general", Sender: "carol", Target: msg.ID, Reaction: "🎉"})
		react := alice.waitFor(room, "reaction", func(e *event.Event) bool {
			return e.Type == event.EventReaction && e.Content.AsReaction().RelatesTo.EventID == mxMsg.ID
		})
		assert.Equal(t, ghostID("carol"), react.Sender)
		assert.Equal(t, "🎉", react.Content.AsReaction().RelatesTo.Key)
		w.remote.Append(remote.Event{Kind: "delete", Chat: "general", Sender: "carol", Target: msg.ID})
		alice.waitFor(room, "redaction", func(e *event.Event) bool { return e.Type == event.EventRedaction && e.Redacts == mxMsg.ID })
	})
}

func TestMembershipCrossesBothWays(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	room := alice.joinPortal("lobby")

	t.Run("joining the portal joins the remote channel", func(t *testing.T) {
		ev := w.waitRemote("join", func(e remote.Event) bool { return e.Kind == "join" && e.Sender == "alice" })
		assert.Equal(t, "lobby", ev.Chat)
	})

	t.Run("remote joins and leaves move ghosts", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "join", Chat: "lobby", Sender: "dave"})
		alice.waitFor(room, "dave joins", func(e *event.Event) bool {
			return e.Type == event.StateMember && e.GetStateKey() == ghostID("dave").String() && e.Content.AsMember().Membership == event.MembershipJoin
		})
		w.remote.Append(remote.Event{Kind: "leave", Chat: "lobby", Sender: "dave"})
		alice.waitFor(room, "dave leaves", func(e *event.Event) bool {
			return e.Type == event.StateMember && e.GetStateKey() == ghostID("dave").String() && e.Content.AsMember().Membership == event.MembershipLeave
		})
	})

	t.Run("a remote kick removes the ghost with the reason", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "join", Chat: "lobby", Sender: "erin"})
		alice.waitFor(room, "erin joins", func(e *event.Event) bool {
			return e.GetStateKey() == ghostID("erin").String() && e.Content.AsMember().Membership == event.MembershipJoin
		})
		w.remote.Append(remote.Event{Kind: "kick", Chat: "lobby", Sender: "carol", Member: "erin", Text: "spam"})
		kick := alice.waitFor(room, "erin kicked", func(e *event.Event) bool {
			return e.GetStateKey() == ghostID("erin").String() && e.Content.AsMember().Membership == event.MembershipLeave
		})
		assert.NotEqual(t, ghostID("erin"), kick.Sender, "a kick, not a leave")
		assert.Contains(t, kick.Content.AsMember().Reason, "carol", "the bot names the remote kicker")
	})

	t.Run("leaving the portal parts the remote channel", func(t *testing.T) {
		_, err := alice.client.LeaveRoom(ctxT(t), room)
		require.NoError(t, err)
		w.waitRemote("leave", func(e remote.Event) bool { return e.Kind == "leave" && e.Sender == "alice" })
	})
}

func TestPresenceAndTyping(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	room := alice.joinPortal("presence")
	w.remote.Append(remote.Event{Kind: "message", Chat: "presence", Sender: "frank", Text: "hi"})
	alice.waitFor(room, "frank", func(e *event.Event) bool { return body(e) == "hi" })

	t.Run("remote presence becomes ghost presence", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "presence", Sender: "frank", Presence: "unavailable", Text: "lunch"})
		require.Eventually(t, func() bool {
			p, err := alice.client.GetPresence(ctxT(t), ghostID("frank"))
			return err == nil && p.Presence == event.PresenceUnavailable && p.StatusMsg == "lunch"
		}, 20*time.Second, 100*time.Millisecond)
	})

	t.Run("remote typing shows as the ghost typing", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "typing", Chat: "presence", Sender: "frank", Typing: true})
		require.Eventually(t, func() bool {
			resp, err := alice.client.SyncRequest(ctxT(t), 0, "", "", false, event.PresenceOnline)
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
		w.pushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": []id.UserID{alice.id}},
		}}})
		w.waitRemote("typing start", func(e remote.Event) bool { return e.Kind == "typing" && e.Sender == "alice" && e.Typing })
		w.pushRaw(map[string]any{"events": []any{}, "de.sorunome.msc2409.ephemeral": []any{map[string]any{
			"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": []id.UserID{}},
		}}})
		w.waitRemote("typing stop", func(e remote.Event) bool { return e.Kind == "typing" && e.Sender == "alice" && !e.Typing })
	})

	t.Run("a Matrix read receipt becomes a remote read marker", func(t *testing.T) {
		hi := w.waitRemote("frank's message", func(e remote.Event) bool { return e.Text == "hi" && e.Sender == "frank" })
		mx := alice.waitFor(room, "frank", func(e *event.Event) bool { return body(e) == "hi" })
		w.pushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.receipt", "room_id": room,
			"content": map[string]any{mx.ID.String(): map[string]any{"m.read": map[string]any{alice.id.String(): map[string]any{"ts": time.Now().UnixMilli()}}}},
		}}})
		ev := w.waitRemote("read marker", func(e remote.Event) bool { return e.Kind == "read_marker" && e.Sender == "alice" })
		assert.Equal(t, hi.ID, ev.Target)
	})

	t.Run("Matrix presence reaches the remote side", func(t *testing.T) {
		w.pushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.presence", "sender": alice.id, "content": map[string]any{"presence": "unavailable", "status_msg": "in a meeting"},
		}}})
		ev := w.waitRemote("presence", func(e remote.Event) bool { return e.Kind == "presence" && e.Sender == "alice" })
		assert.Equal(t, "unavailable", ev.Presence)
		assert.Equal(t, "in a meeting", ev.Text)
	})
}

func TestDoublePuppetShowsRemoteMessagesAsTheUser(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	require.Contains(t, alice.command(mgmt, "login-matrix "+alice.token), "Double puppeting is on")
	room := alice.joinPortal("dp")

	// Alice writes from the native remote client, not through the bridge.
	w.remote.Append(remote.Event{Kind: "message", Chat: "dp", Sender: "alice", Text: "from my phone"})
	evt := alice.waitFor(room, "alice's remote message", func(e *event.Event) bool { return body(e) == "from my phone" })
	assert.Equal(t, alice.id, evt.Sender, "shown as alice's own account, not a ghost")

	// The Matrix echo of that event must not go back to the remote side.
	w.remote.Append(remote.Event{Kind: "message", Chat: "dp", Sender: "carol", Text: "marker"})
	alice.waitFor(room, "marker", func(e *event.Event) bool { return body(e) == "marker" })
	time.Sleep(500 * time.Millisecond)
	for _, ev := range w.remote.SentViaAPI() {
		assert.NotEqual(t, "from my phone", ev.Text, "double-puppeted message echoed back to the remote side")
	}
	assert.NotContains(t, alice.messages(room, ghostID("alice")), "from my phone")
}

func TestRemoteDMInvitesTheUser(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:gina", Sender: "gina", Text: "psst", DM: true})
	var room id.RoomID
	require.Eventually(t, func() bool {
		resp, err := alice.client.SyncRequest(ctxT(t), 0, "", "", false, event.PresenceOffline)
		if err != nil {
			return false
		}
		for r, inv := range resp.Rooms.Invite {
			for _, evt := range inv.State.Events {
				if evt.Type == event.StateMember && evt.GetStateKey() == alice.id.String() {
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
	_, err := alice.client.JoinRoomByID(ctxT(t), room)
	require.NoError(t, err)
	alice.waitFor(room, "psst", func(e *event.Event) bool { return body(e) == "psst" && e.Sender == ghostID("gina") })
	_, err = alice.client.SendText(ctxT(t), room, "hi gina")
	require.NoError(t, err)
	ev := w.waitRemote("DM reply", func(e remote.Event) bool { return e.Text == "hi gina" })
	assert.Equal(t, "dm:alice:gina", ev.Chat)
	assert.Equal(t, "alice", ev.Sender)
}

func TestDoublePuppetThatStopsWorkingIsDroppedAndTheUserTold(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	// A second device's token, so logging it out leaves the test's client working.
	_, dpToken := w.hs.Login(t, "alice", "password-alice")
	require.Contains(t, alice.command(mgmt, "login-matrix "+dpToken), "Double puppeting is on")
	room := alice.joinPortal("dropped")

	dpClient, err := mautrix.NewClient(w.hs.URL, alice.id, dpToken)
	require.NoError(t, err)
	_, err = dpClient.Logout(ctxT(t))
	require.NoError(t, err)

	w.remote.Append(remote.Event{Kind: "message", Chat: "dropped", Sender: "alice", Text: "after logout"})
	evt := alice.waitFor(room, "the message", func(e *event.Event) bool { return body(e) == "after logout" })
	assert.Equal(t, ghostID("alice"), evt.Sender, "delivered through the ghost once the token failed")
	alice.waitFor(mgmt, "a notice", func(e *event.Event) bool {
		return e.Sender == botMXID() && strings.Contains(body(e), "no longer used for double puppeting")
	})
	assert.Contains(t, alice.command(mgmt, "status"), "Double puppeting is off")
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
	w := newWorld(t, "")
	alice := w.newUser("alice")
	room := alice.joinPortal("pictures")

	t.Run("a ghost's avatar is uploaded once and set", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "profile", Sender: "hana", Name: "Hana", Avatar: img.URL + "/hana.png"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "pictures", Sender: "hana", Text: "see my face"})
		alice.waitFor(room, "hana", func(e *event.Event) bool { return body(e) == "see my face" })
		resp, err := alice.client.GetAvatarURL(ctxT(t), ghostID("hana"))
		require.NoError(t, err)
		require.False(t, resp.IsEmpty(), "the ghost has an avatar")
		data, err := alice.client.DownloadBytes(ctxT(t), resp)
		require.NoError(t, err)
		assert.Equal(t, png, data)
		w.remote.Append(remote.Event{Kind: "profile", Sender: "hana", Name: "Hana", Avatar: img.URL + "/hana.png"})
		w.remote.Append(remote.Event{Kind: "message", Chat: "pictures", Sender: "hana", Text: "same face"})
		alice.waitFor(room, "hana again", func(e *event.Event) bool { return body(e) == "same face" })
		assert.Equal(t, int32(1), fetches.Load(), "an unchanged avatar is not fetched again")
	})

	t.Run("the chat's name, topic and avatar reach the room", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "chat_info", Chat: "pictures", Sender: "hana", Name: "Pictures!", Text: "post photos here", Avatar: img.URL + "/room.png"})
		alice.waitFor(room, "topic", func(e *event.Event) bool {
			return e.Type == event.StateTopic && e.Content.AsTopic().Topic == "post photos here"
		})
		alice.waitFor(room, "name", func(e *event.Event) bool {
			return e.Type == event.StateRoomName && e.Content.AsRoomName().Name == "Pictures!"
		})
		alice.waitFor(room, "avatar", func(e *event.Event) bool {
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
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	room := alice.joinPortal("files")

	t.Run("a remote attachment is uploaded to the media repo", func(t *testing.T) {
		w.remote.Append(remote.Event{Kind: "message", Chat: "files", Sender: "ivan", Text: "dot.png", File: files.URL + "/dot.png"})
		evt := alice.waitFor(room, "file", func(e *event.Event) bool { return body(e) == "dot.png" })
		c := evt.Content.AsMessage()
		assert.Equal(t, event.MsgFile, c.MsgType)
		uri, err := c.URL.Parse()
		require.NoError(t, err)
		data, err := alice.client.DownloadBytes(ctxT(t), uri)
		require.NoError(t, err)
		assert.Equal(t, png, data)
	})

	t.Run("a Matrix file reaches the remote side through the core", func(t *testing.T) {
		up, err := alice.client.UploadBytes(ctxT(t), []byte("hello file"), "text/plain")
		require.NoError(t, err)
		_, err = alice.client.SendMessageEvent(ctxT(t), room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgFile, Body: "note.txt", URL: up.ContentURI.CUString(),
		})
		require.NoError(t, err)
		w.waitRemote("file", func(e remote.Event) bool { return e.Text == "file note.txt (10 bytes)" })
	})
}

func TestUndeliverableMessageIsReportedToTheSender(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	room := alice.joinPortal("refused")
	w.remote.Refuse("alice")
	_, err := alice.client.SendText(ctxT(t), room, "will bounce")
	require.NoError(t, err)
	notice := alice.waitFor(room, "a notice", func(e *event.Event) bool {
		return e.Sender == botMXID() && strings.Contains(body(e), "not delivered")
	})
	assert.Contains(t, body(notice), "403")
	for _, ev := range w.remote.Log() {
		assert.NotEqual(t, "will bounce", ev.Text)
	}
}

func TestMatrixUserStartsADMWithAGhost(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	// zed has never been seen: the homeserver asks the bridge whether the
	// ghost exists (a user query), and the bridge registers it.
	resp, err := alice.client.CreateRoom(ctxT(t), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{ghostID("zed")},
	})
	require.NoError(t, err)
	alice.waitFor(resp.RoomID, "zed joins", func(e *event.Event) bool {
		return e.Type == event.StateMember && e.GetStateKey() == ghostID("zed").String() && e.Content.AsMember().Membership == event.MembershipJoin
	})
	_, err = alice.client.SendText(ctxT(t), resp.RoomID, "hi zed")
	require.NoError(t, err)
	ev := w.waitRemote("DM", func(e remote.Event) bool { return e.Text == "hi zed" })
	assert.Equal(t, "dm:alice:zed", ev.Chat)
	w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:zed", Sender: "zed", Text: "hi alice", DM: true})
	alice.waitFor(resp.RoomID, "zed's answer in the same room", func(e *event.Event) bool { return body(e) == "hi alice" })
}

func TestHomeserverOutageLosesNothing(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	room := alice.joinPortal("outage")
	w.remote.Append(remote.Event{Kind: "message", Chat: "outage", Sender: "carol", Text: "before"})
	alice.waitFor(room, "before", func(e *event.Event) bool { return body(e) == "before" })

	w.hs.Stop(t)
	var want []string
	for i := 0; i < 10; i++ {
		text := fmt.Sprintf("during-%d", i)
		want = append(want, text)
		w.remote.Append(remote.Event{Kind: "message", Chat: "outage", Sender: "carol", Text: text})
	}
	// Longer than the bridge's first backoffs, so it has failed a few times.
	time.Sleep(4 * time.Second)
	w.hs.Restart(t)

	alice.waitFor(room, "the last one", func(e *event.Event) bool { return body(e) == "during-9" })
	var got []string
	for _, b := range alice.messages(room, ghostID("carol")) {
		if strings.HasPrefix(b, "during-") {
			got = append(got, b)
		}
	}
	assert.Equal(t, want, got, "every message once, in order")
}

func TestAutoSessionsGiveEveryMatrixUserTheirOwnRemoteIdentity(t *testing.T) {
	w := newWorldWith(t, storage.SQLite, ", auto_sessions: true")
	w.startBridge()
	bob := w.newUser("bob")
	room := bob.joinPortal("auto")

	t.Run("joining the portal connects the user and joins the channel", func(t *testing.T) {
		w.waitRemote("bob's join", func(e remote.Event) bool { return e.Kind == "join" && e.Sender == "bob" && e.Chat == "auto" })
	})

	t.Run("messages go out as the user, not relayed", func(t *testing.T) {
		_, err := bob.client.SendText(ctxT(t), room, "my own words")
		require.NoError(t, err)
		ev := w.waitRemote("bob's message", func(e remote.Event) bool { return e.Text == "my own words" })
		assert.Equal(t, "bob", ev.Sender)
	})

	t.Run("the session survives a restart without a login", func(t *testing.T) {
		w.stopBridge()
		w.startBridge()
		mgmt := bob.managementRoom()
		assert.Contains(t, bob.command(mgmt, "status"), "loop as bob: connected")
	})
}

func TestInvitingAGhostWithoutALoginIsRefusedAndExplained(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	resp, err := alice.client.CreateRoom(ctxT(t), &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{ghostID("yuri")},
	})
	require.NoError(t, err)
	alice.waitFor(resp.RoomID, "the ghost refuses", func(e *event.Event) bool {
		return e.Type == event.StateMember && e.GetStateKey() == ghostID("yuri").String() && e.Content.AsMember().Membership == event.MembershipLeave
	})
	alice.waitFor(mgmt, "the reason", func(e *event.Event) bool {
		return e.Sender == botMXID() && strings.Contains(body(e), "not logged in to loop")
	})
}
