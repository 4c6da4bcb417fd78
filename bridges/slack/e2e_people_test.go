package slack_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
)

// This file holds the parts of TestEndToEnd about people rather than
// messages: direct chats, presence, typing, read markers, double
// puppeting, and what happens when Slack's socket goes away.

// e2eDirectChats: DMs started on either side.
func e2eDirectChats(t *testing.T, w *world) {
	ctx := context.Background()

	t.Run("a Slack DM arrives as a direct-chat invite and replies go back", func(t *testing.T) {
		w := w.in(t)
		dm := w.emu.AddConversation(slackemu.Conversation{ID: "D0BOB", Kind: slackemu.IM, Members: []string{"U001", "U002"}})
		w.emu.Post(dm, "U002", "psst, alice", "")
		room := w.directInvite()
		_, err := w.alice.JoinRoomByID(ctx, room)
		require.NoError(t, err)
		w.waitFor(room, "bob's DM", from(w.ghost("U002"), "psst, alice"))
		_, err = w.alice.SendText(ctx, room, "hi bob")
		require.NoError(t, err)
		w.slackMessage(dm, "alice's answer", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "hi bob" })
	})

	t.Run("inviting a ghost to a direct chat opens a Slack DM", func(t *testing.T) {
		w := w.in(t)
		carol := w.ghost("U003")
		resp, err := w.alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{carol}})
		require.NoError(t, err)
		room := resp.RoomID
		w.waitFor(room, "carol's ghost joining", func(evt *event.Event) bool {
			return evt.Type == event.StateMember && evt.GetStateKey() == carol.String() && evt.Content.AsMember().Membership == event.MembershipJoin
		})
		var dm string
		w.waitSlack("the DM opened", func() bool { dm = w.emu.IMWith("U001", "U003"); return dm != "" })
		_, err = w.alice.SendText(ctx, room, "hi carol")
		require.NoError(t, err)
		w.slackMessage(dm, "alice's DM", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "hi carol" })
		w.emu.Post(dm, "U003", "hi alice", "")
		w.waitFor(room, "carol's answer", from(carol, "hi alice"))
	})
}

// directInvite waits for an invite of Alice's marked is_direct and returns
// its room.
func (w *world) directInvite() id.RoomID {
	w.t.Helper()
	var room id.RoomID
	require.Eventually(w.t, func() bool {
		resp, err := w.alice.SyncRequest(context.Background(), 0, "", "", false, event.PresenceOnline)
		if err != nil {
			return false
		}
		for r, inv := range resp.Rooms.Invite {
			for _, evt := range inv.State.Events {
				if evt.Type != event.StateMember || evt.GetStateKey() != w.aliceID.String() {
					continue
				}
				_ = evt.Content.ParseRaw(evt.Type)
				if evt.Content.AsMember().IsDirect {
					room = r
					return true
				}
			}
		}
		return false
	}, waitLimit, 200*time.Millisecond, "no is_direct invite")
	return room
}

// waitEphemeral waits until Alice's sync shows an ephemeral event of the
// room (typing, receipts) that matches.
func (w *world) waitEphemeral(room id.RoomID, what string, match func(*event.Event) bool) {
	w.t.Helper()
	require.Eventually(w.t, func() bool {
		resp, err := w.alice.SyncRequest(context.Background(), 0, "", "", false, event.PresenceOnline)
		if err != nil {
			return false
		}
		for _, evt := range resp.Rooms.Join[room].Ephemeral.Events {
			_ = evt.Content.ParseRaw(evt.Type)
			if match(evt) {
				return true
			}
		}
		return false
	}, waitLimit, 100*time.Millisecond, "never seen: %s", what)
}

// ephemeral hands the bridge one ephemeral event as Synapse would (Dendrite
// sends none to appservices).
func (w *world) ephemeral(evt map[string]any) {
	w.pushEvents(map[string]any{"ephemeral": []any{evt}})
}

// e2ePresenceAndTyping: presence, typing and read markers both ways.
func e2ePresenceAndTyping(t *testing.T, w *world, room id.RoomID) {
	ctx := context.Background()
	bob := w.ghost("U002")

	t.Run("Slack presence is the ghost's presence", func(t *testing.T) {
		w := w.in(t)
		for _, active := range []bool{true, false} {
			w.emu.SetPresence("U002", active)
			want := map[bool]event.Presence{true: event.PresenceOnline, false: event.PresenceUnavailable}[active]
			require.Eventually(t, func() bool {
				p, err := w.alice.GetPresence(ctx, bob)
				return err == nil && p.Presence == want
			}, waitLimit, 100*time.Millisecond, "bob's ghost never became %s", want)
		}
	})

	t.Run("the user's Matrix presence is their Slack presence", func(t *testing.T) {
		w := w.in(t)
		for _, tc := range []struct{ matrix, slack string }{{"unavailable", "away"}, {"online", "active"}} {
			w.ephemeral(map[string]any{"type": "m.presence", "sender": w.aliceID, "content": map[string]any{"presence": tc.matrix}})
			w.waitSlack("alice "+tc.slack, func() bool { return w.emu.Presence("U001") == tc.slack })
		}
	})

	t.Run("typing shows on the other side, both ways", func(t *testing.T) {
		w := w.in(t)
		w.emu.Typing(w.general, "U002")
		w.waitEphemeral(room, "bob's ghost typing", func(evt *event.Event) bool {
			return evt.Type == event.EphemeralEventTyping && slices.Contains(evt.Content.AsTyping().UserIDs, bob)
		})

		w.ephemeral(map[string]any{"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": []id.UserID{w.aliceID}}})
		w.waitSlack("alice typing", func() bool { return slices.Contains(w.emu.TypingSent("U001"), w.general) })
	})

	t.Run("a Matrix read receipt marks the Slack conversation read", func(t *testing.T) {
		w := w.in(t)
		ts := w.emu.Post(w.general, "U002", "read me", "")
		evt := w.waitFor(room, "bob's message", from(bob, "read me"))
		w.ephemeral(map[string]any{"type": "m.receipt", "room_id": room, "content": map[string]any{
			evt.ID.String(): map[string]any{"m.read": map[string]any{w.aliceID.String(): map[string]any{"ts": time.Now().UnixMilli()}}},
		}})
		w.waitSlack("the read marker", func() bool {
			return slices.ContainsFunc(w.emu.CallsTo("conversations.mark"), func(c slackemu.Call) bool {
				return c.User == "U001" && c.Params["channel"] == w.general && c.Params["ts"] == ts
			})
		})
	})
}

// e2eDoublePuppet: what Alice does in the Slack app shows as her own
// Matrix account, once.
func e2eDoublePuppet(t *testing.T, w *world, room id.RoomID) {
	t.Run("a message typed in the Slack app appears as the user's own account, once", func(t *testing.T) {
		w := w.in(t)
		// A second device, as a user would hand the bridge.
		_, token := w.hs.Login(t, "alice", "password-alice")
		require.Contains(t, w.command("login-matrix "+token), "Double puppeting is on")
		ts := w.emu.Post(w.general, "U001", "typed on my phone", "")
		evt := w.waitFor(room, "alice's Slack message", withBody("typed on my phone"))
		assert.Equal(t, w.aliceID, evt.Sender, "shown as alice, not as her ghost")
		assert.Equal(t, 1, w.countAfterMarker(room, withBody("typed on my phone")))
		var copies int
		for _, m := range w.emu.Messages(w.general) {
			if m.Text == "typed on my phone" {
				copies++
				assert.Equal(t, ts, m.TS)
			}
		}
		assert.Equal(t, 1, copies, "the double puppet's event is not sent back to Slack")
	})
}

// e2eReadMarkersAndArchive: Slack's own read markers and archiving. It
// runs after e2eDoublePuppet: only Alice's own account can have her read
// marker moved.
func e2eReadMarkersAndArchive(t *testing.T, w *world, room id.RoomID) {
	ctx := context.Background()
	bob := w.ghost("U002")
	bot := id.NewUserID("isthmusbot", dendrite.Domain)

	t.Run("reading in the Slack app moves the user's read receipt in Matrix", func(t *testing.T) {
		w := w.in(t)
		ts := w.emu.Post(w.general, "U002", "read this in the app", "")
		evt := w.waitFor(room, "bob's message", from(bob, "read this in the app"))
		w.emu.Mark(w.general, "U001", ts)
		w.waitEphemeral(room, "alice's receipt on bob's message", func(e *event.Event) bool {
			if r := e.Content.AsReceipt(); e.Type == event.EphemeralEventReceipt && r != nil {
				_, ok := (*r)[evt.ID][event.ReceiptTypeRead][w.aliceID]
				return ok
			}
			return false
		})
	})

	t.Run("an archived channel says so in the portal and refuses messages until unarchived", func(t *testing.T) {
		w := w.in(t)
		w.emu.Archive(w.general, "U002", true)
		w.waitFor(room, "the archive notice", func(evt *event.Event) bool {
			return evt.Sender == bot && strings.Contains(body(evt), "Bob archived this channel on Slack")
		})
		_, err := w.alice.SendText(ctx, room, "is anyone here?")
		require.NoError(t, err)
		w.waitFor(room, "the refusal", func(evt *event.Event) bool {
			return evt.Sender == bot && strings.Contains(body(evt), "not delivered") && strings.Contains(body(evt), "archived")
		})
		w.emu.Archive(w.general, "U002", false)
		w.waitFor(room, "the unarchive notice", func(evt *event.Event) bool {
			return evt.Sender == bot && strings.Contains(body(evt), "Bob unarchived this channel on Slack")
		})
		_, err = w.alice.SendText(ctx, room, "back in business")
		require.NoError(t, err)
		w.slackMessage(w.general, "the message after unarchiving", func(m slackemu.Message) bool { return m.Text == "back in business" })
		assert.False(t, slices.ContainsFunc(w.emu.Messages(w.general), func(m slackemu.Message) bool { return m.Text == "is anyone here?" }))
	})
}

// e2eOutage: Slack's socket goes away and comes back.
func e2eOutage(t *testing.T, w *world, room id.RoomID) {
	ctx := context.Background()
	bob := w.ghost("U002")

	t.Run("what was said while RTM was down arrives in order after it comes back", func(t *testing.T) {
		w := w.in(t)
		w.emu.SetRTMDown(true)
		w.waitSlack("the socket closed", func() bool { return w.emu.RTMConnections("U001") == 0 })
		var missed []string
		for i := 1; i <= 3; i++ {
			text := fmt.Sprintf("missed %d", i)
			w.emu.Post(w.general, "U002", text, "")
			missed = append(missed, text)
		}
		// The Web API still works: Matrix messages keep going out.
		_, err := w.alice.SendText(ctx, room, "said during the outage")
		require.NoError(t, err)
		w.slackMessage(w.general, "the message sent during the outage", func(m slackemu.Message) bool {
			return m.User == "U001" && m.Text == "said during the outage"
		})

		w.emu.SetRTMDown(false)
		w.waitFor(room, "the last missed message", from(bob, "missed 3"))
		var got []string
		for _, evt := range w.timeline(room) {
			if evt.Sender == bob && slices.Contains(missed, body(evt)) {
				got = append(got, body(evt))
			}
		}
		assert.Equal(t, missed, got, "each missed message once, in order")
		assert.Equal(t, 1, w.countAfterMarker(room, withBody("said during the outage")), "caught up without echoing")
	})
}
