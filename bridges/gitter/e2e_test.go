package gitter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// TestWithDendrite runs the adapter inside the real bridge against a real
// homeserver, with the emulator as the Gitter server: one login, then
// messages, edits and deletions both ways, the DM portal, double
// puppeting, the relay bot, presence and a restart, in that order (each
// step builds on the last).
func TestWithDendrite(t *testing.T) {
	w := newHSWorld(t)
	aliceG, aliceTok := w.emu.AddUser("alice", "Alice A")
	bob, _ := w.emu.AddUser("bob", "Bob B")
	carol, _ := w.emu.AddUser("carol", "Carol C")
	dave, _ := w.emu.AddUser("dave", "Dave D")
	group := w.emu.AddRoom("acme/chat", "Acme talk", gitterapi.RoomOrgChannel, aliceG.ID, bob.ID, carol.ID, dave.ID, w.bot.ID)
	dm := w.emu.AddOneToOne(aliceG.ID, bob.ID)
	w.emu.Post(group.ID, carol.ID, "from before the bridge")
	w.startBridge()

	alice := w.newMatrixUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login gitter "+aliceTok), "Logged in to gitter as alice")

	var groupRoom, dmRoom id.RoomID
	t.Run("the user's Gitter rooms become portals they are invited to", func(t *testing.T) {
		invites := alice.invites(2)
		require.Len(t, invites, 2)
		for room, direct := range invites {
			_, err := alice.Client.JoinRoomByID(alice.ctx(), room)
			require.NoError(t, err)
			if direct {
				dmRoom = room
			} else {
				groupRoom = room
			}
		}
		require.NotEmpty(t, groupRoom, "a group portal")
		assert.Equal(t, "acme/chat", alice.roomName(groupRoom))
		old := alice.waitFor(groupRoom, "recent history", func(e *event.Event) bool { return text(e) == "from before the bridge" })
		assert.Equal(t, w.ghost(carol), old.Sender)
	})
	t.Run("the one-to-one room is a DM portal with an is_direct invite", func(t *testing.T) {
		require.NotEmpty(t, dmRoom, "no invite was marked is_direct")
		w.emu.Post(dm.ID, bob.ID, "psst, alice")
		e := alice.waitFor(dmRoom, "bob's DM", func(e *event.Event) bool { return text(e) == "psst, alice" })
		assert.Equal(t, w.ghost(bob), e.Sender)
		_, err := alice.Client.SendText(alice.ctx(), dmRoom, "hi bob, privately")
		require.NoError(t, err)
		m := w.waitGitter(dm.ID, "alice's DM reply", func(m gitterapi.Message) bool { return m.Text == "hi bob, privately" })
		assert.Equal(t, aliceG.ID, m.FromUser.ID)
	})
	require.NotEmpty(t, groupRoom)

	t.Run("inviting a Gitter user's ghost to a new room opens a one-to-one room with them", func(t *testing.T) {
		resp, err := alice.Client.CreateRoom(alice.ctx(), &mautrix.ReqCreateRoom{
			Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{w.ghost(carol)},
		})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return alice.membership(resp.RoomID, w.ghost(carol)) == event.MembershipJoin
		}, 20*time.Second, 50*time.Millisecond, "the ghost did not accept")
		_, err = alice.Client.SendText(alice.ctx(), resp.RoomID, "hello carol")
		require.NoError(t, err)
		var oneToOne gitterapi.Room
		require.Eventually(t, func() bool {
			var ok bool
			oneToOne, ok = w.emu.OneToOneOf(aliceG.ID, carol.ID)
			return ok
		}, 20*time.Second, 20*time.Millisecond, "no one-to-one room on Gitter")
		m := w.waitGitter(oneToOne.ID, "alice's first DM", func(m gitterapi.Message) bool { return m.Text == "hello carol" })
		assert.Equal(t, aliceG.ID, m.FromUser.ID)
		w.emu.Post(oneToOne.ID, carol.ID, "hi alice")
		e := alice.waitFor(resp.RoomID, "carol's answer", func(e *event.Event) bool { return text(e) == "hi alice" })
		assert.Equal(t, w.ghost(carol), e.Sender)
	})
	t.Run("inviting a ghost Gitter cannot open a chat with is refused with the reason", func(t *testing.T) {
		frank, _ := w.emu.AddUser("frank", "Frank F") // shares no room with alice
		w.queryUser(w.ghost(frank))
		resp, err := alice.Client.CreateRoom(alice.ctx(), &mautrix.ReqCreateRoom{
			Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{w.ghost(frank)},
		})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return alice.membership(resp.RoomID, w.ghost(frank)) == event.MembershipLeave
		}, 20*time.Second, 50*time.Millisecond, "the ghost did not refuse")
		// The reason also goes with the rejection, which Dendrite drops.
		notice := alice.waitFor(mgmt, "the refusal", func(e *event.Event) bool { return strings.Contains(text(e), "Gitter chat with") })
		assert.Contains(t, text(notice), "cannot look users up by ID")
		_, ok := w.emu.OneToOneOf(aliceG.ID, frank.ID)
		assert.False(t, ok)
	})

	var fromBob gitterapi.Message
	var fromBobMX *event.Event
	t.Run("a Gitter message appears from the sender's ghost with their display name", func(t *testing.T) {
		fromBob = w.emu.Post(group.ID, bob.ID, "hello from *Gitter*")
		fromBobMX = alice.waitFor(groupRoom, "bob's message", func(e *event.Event) bool { return text(e) == "hello from *Gitter*" })
		assert.Equal(t, w.ghost(bob), fromBobMX.Sender)
		assert.Equal(t, "hello from <em>Gitter</em>", fromBobMX.Content.AsMessage().FormattedBody)
		profile, err := alice.Client.GetProfile(alice.ctx(), w.ghost(bob))
		require.NoError(t, err)
		assert.Equal(t, "Bob B", profile.DisplayName)
		assert.False(t, profile.AvatarURL.IsEmpty(), "the Gitter avatar became the ghost's")
	})

	t.Run("mentions become pills and pills mentions", func(t *testing.T) {
		w.emu.Post(group.ID, bob.ID, "ping @alice and @carol")
		e := alice.waitFor(groupRoom, "the mentions", func(e *event.Event) bool { return text(e) == "ping @alice and @carol" })
		c := e.Content.AsMessage()
		assert.Contains(t, c.FormattedBody, alice.ID.URI().MatrixToURL(), "the logged-in user's own pill")
		assert.Contains(t, c.FormattedBody, w.ghost(carol).URI().MatrixToURL())
		require.NotNil(t, c.Mentions)
		assert.ElementsMatch(t, []id.UserID{alice.ID, w.ghost(carol)}, c.Mentions.UserIDs)

		_, err := alice.Client.SendMessageEvent(alice.ctx(), groupRoom, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgText, Body: "Bob B: look", Format: event.FormatHTML,
			FormattedBody: fmt.Sprintf(`<a href="%s">Bob B</a>: look`, w.ghost(bob).URI().MatrixToURL()),
		})
		require.NoError(t, err)
		m := w.waitGitter(group.ID, "the pill", func(m gitterapi.Message) bool { return m.Text == "@bob: look" })
		assert.Equal(t, []gitterapi.Mention{{ScreenName: "bob", UserID: bob.ID}}, m.Mentions)
	})

	var mine gitterapi.Message
	var mineEvent id.EventID
	t.Run("a Matrix message reaches Gitter as the user and is not echoed back", func(t *testing.T) {
		sent, err := alice.Client.SendText(alice.ctx(), groupRoom, "hi from Matrix")
		require.NoError(t, err)
		mineEvent = sent.EventID
		mine = w.waitGitter(group.ID, "alice's message", func(m gitterapi.Message) bool { return m.Text == "hi from Matrix" })
		assert.Equal(t, aliceG.ID, mine.FromUser.ID)
		w.emu.Post(group.ID, bob.ID, "marker 1")
		alice.waitFor(groupRoom, "marker 1", func(e *event.Event) bool { return text(e) == "marker 1" })
		assert.Equal(t, 1, count(alice.bodies(groupRoom, ""), "hi from Matrix"), "the stream's echo came back to Matrix")
	})
	t.Run("a Matrix edit edits the Gitter message", func(t *testing.T) {
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: "hi from Matrix, edited"}
		content.SetEdit(mineEvent)
		_, err := alice.Client.SendMessageEvent(alice.ctx(), groupRoom, event.EventMessage, content)
		require.NoError(t, err)
		m := w.waitGitter(group.ID, "the edit", func(m gitterapi.Message) bool { return m.ID == mine.ID && m.Text == "hi from Matrix, edited" })
		assert.False(t, m.EditedAt.IsZero())
	})
	t.Run("a Matrix redaction deletes the Gitter message", func(t *testing.T) {
		doomed, err := alice.Client.SendText(alice.ctx(), groupRoom, "doomed")
		require.NoError(t, err)
		m := w.waitGitter(group.ID, "doomed", func(m gitterapi.Message) bool { return m.Text == "doomed" })
		redaction, err := alice.Client.RedactEvent(alice.ctx(), groupRoom, doomed.EventID)
		require.NoError(t, err)
		w.pushEvents(map[string]any{"events": []any{map[string]any{
			"type": "m.room.redaction", "room_id": groupRoom, "sender": alice.ID, "event_id": redaction.EventID,
			"redacts": doomed.EventID, "content": map[string]any{"redacts": doomed.EventID},
			"origin_server_ts": time.Now().UnixMilli(),
		}}})
		w.waitGitter(group.ID, "the deletion", func(g gitterapi.Message) bool { return g.ID == m.ID && g.Deleted() })
	})
	t.Run("a Gitter edit replaces the Matrix message", func(t *testing.T) {
		w.emu.Edit(group.ID, bob.ID, fromBob.ID, "hello from Gitter, edited")
		e := alice.waitFor(groupRoom, "bob's edit", func(e *event.Event) bool {
			c := e.Content.AsMessage()
			return c.NewContent != nil && c.NewContent.Body == "hello from Gitter, edited"
		})
		assert.Equal(t, fromBobMX.ID, e.Content.AsMessage().RelatesTo.GetReplaceID())
		assert.Equal(t, w.ghost(bob), e.Sender)
	})
	t.Run("a Gitter deletion redacts the Matrix message", func(t *testing.T) {
		w.emu.Delete(group.ID, bob.ID, fromBob.ID)
		alice.waitFor(groupRoom, "the redaction", func(e *event.Event) bool {
			return e.ID == fromBobMX.ID && e.Unsigned.RedactedBecause != nil
		})
	})

	t.Run("what the user writes on Gitter shows as their own account and is not echoed back", func(t *testing.T) {
		require.Contains(t, alice.command(mgmt, "login-matrix "+alice.Token), "Double puppeting is on")
		w.emu.Post(group.ID, aliceG.ID, "from the Gitter app")
		e := alice.waitFor(groupRoom, "alice's Gitter message", func(e *event.Event) bool { return text(e) == "from the Gitter app" })
		assert.Equal(t, alice.ID, e.Sender, "not a ghost: her double puppet")
		w.emu.Post(group.ID, bob.ID, "marker 2")
		alice.waitFor(groupRoom, "marker 2", func(e *event.Event) bool { return text(e) == "marker 2" })
		time.Sleep(300 * time.Millisecond)
		var copies int
		for _, m := range w.emu.Messages(group.ID) {
			if m.Text == "from the Gitter app" {
				copies++
			}
		}
		assert.Equal(t, 1, copies, "the double puppet's event went back to Gitter")
		assert.Equal(t, 1, count(alice.bodies(groupRoom, ""), "from the Gitter app"))
	})

	t.Run("a Matrix read receipt marks the messages read on Gitter", func(t *testing.T) {
		m := w.emu.Post(group.ID, bob.ID, "read me")
		e := alice.waitFor(groupRoom, "read me", func(e *event.Event) bool { return text(e) == "read me" })
		require.Contains(t, w.emu.Unread(group.ID, aliceG.ID), m.ID)
		// Dendrite sends no ephemeral events; Synapse would send this.
		w.pushEvents(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.receipt", "room_id": groupRoom,
			"content": map[string]any{e.ID.String(): map[string]any{"m.read": map[string]any{alice.ID.String(): map[string]any{"ts": time.Now().UnixMilli()}}}},
		}}})
		require.Eventually(t, func() bool { return len(w.emu.Unread(group.ID, aliceG.ID)) == 0 }, 10*time.Second, 20*time.Millisecond)
	})
	t.Run("reading the room on Gitter moves the user's read receipt in Matrix", func(t *testing.T) {
		w.emu.Post(group.ID, bob.ID, "read me on Gitter")
		e := alice.waitFor(groupRoom, "the message", func(e *event.Event) bool { return text(e) == "read me on Gitter" })
		w.emu.ReadAll(group.ID, aliceG.ID)
		require.Eventually(t, func() bool { return alice.readUpTo(groupRoom) == e.ID }, 10*time.Second, 50*time.Millisecond)
	})

	t.Run("a Matrix user without a Gitter login is relayed by the bot under their name, once", func(t *testing.T) {
		zoe := w.newMatrixUser("zoe")
		require.NoError(t, zoe.Client.SetDisplayName(zoe.ctx(), "Zoe Z"))
		_, err := alice.Client.InviteUser(alice.ctx(), groupRoom, &mautrix.ReqInviteUser{UserID: zoe.ID})
		require.NoError(t, err)
		_, err = zoe.Client.JoinRoomByID(zoe.ctx(), groupRoom)
		require.NoError(t, err)
		_, err = zoe.Client.SendText(zoe.ctx(), groupRoom, "hello from zoe")
		require.NoError(t, err)
		m := w.waitGitter(group.ID, "zoe's relayed message", func(m gitterapi.Message) bool { return strings.HasSuffix(m.Text, "hello from zoe") })
		assert.Equal(t, "**Zoe Z**: hello from zoe", m.Text)
		assert.Equal(t, w.bot.ID, m.FromUser.ID)
		w.emu.Post(group.ID, bob.ID, "marker 3")
		alice.waitFor(groupRoom, "marker 3", func(e *event.Event) bool { return text(e) == "marker 3" })
		time.Sleep(300 * time.Millisecond)
		var copies int
		for _, g := range w.emu.Messages(group.ID) {
			if strings.HasSuffix(g.Text, "hello from zoe") {
				copies++
			}
		}
		assert.Equal(t, 1, copies, "relayed more than once")
		bodies := alice.bodies(groupRoom, "")
		assert.Equal(t, 1, count(bodies, "hello from zoe"), "zoe's own message, once")
		assert.Zero(t, count(bodies, m.Text), "the bot's echo came back to Matrix")
		assert.Empty(t, alice.bodies(groupRoom, w.ghost(w.bot)), "the bot has no ghost speaking")
	})
	t.Run("a Gitter user's presence becomes their ghost's presence", func(t *testing.T) {
		for _, tc := range []struct {
			in   bool
			want event.Presence
		}{{true, event.PresenceOnline}, {false, event.PresenceOffline}} {
			w.emu.SetPresence(group.ID, bob.ID, tc.in)
			require.Eventually(t, func() bool {
				p, err := alice.Client.GetPresence(alice.ctx(), w.ghost(bob))
				return err == nil && p.Presence == tc.want
			}, 10*time.Second, 50*time.Millisecond, "bob's ghost never became %s", tc.want)
		}
	})

	t.Run("members joining and leaving on Gitter join and leave their ghosts", func(t *testing.T) {
		erin, _ := w.emu.AddUser("erin", "Erin E")
		w.emu.Join(group.ID, erin.ID)
		require.Eventually(t, func() bool { return alice.membership(groupRoom, w.ghost(erin)) == event.MembershipJoin }, 10*time.Second, 50*time.Millisecond)
		w.emu.Leave(group.ID, erin.ID)
		require.Eventually(t, func() bool { return alice.membership(groupRoom, w.ghost(erin)) == event.MembershipLeave }, 10*time.Second, 50*time.Millisecond)
	})
	t.Run("leaving the portal leaves the Gitter room, and joining by its alias joins again", func(t *testing.T) {
		_, err := alice.Client.LeaveRoom(alice.ctx(), groupRoom)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return !contains(w.emu.Members(group.ID), aliceG.ID) }, 10*time.Second, 20*time.Millisecond)
		alias := w.alias(group.URI)
		resp, err := alice.Client.JoinRoom(alice.ctx(), alias.String(), nil)
		require.NoError(t, err)
		assert.Equal(t, groupRoom, resp.RoomID, "the alias leads to the same portal")
		require.Eventually(t, func() bool { return contains(w.emu.Members(group.ID), aliceG.ID) }, 10*time.Second, 20*time.Millisecond)
	})

	t.Run("a restart catches up what was sent while the bridge was down, once and in order", func(t *testing.T) {
		w.stopBridge()
		for i := range 3 {
			w.emu.Post(group.ID, bob.ID, fmt.Sprintf("while down %d", i))
		}
		w.startBridge()
		w.emu.Post(group.ID, bob.ID, "after the restart")
		alice.waitFor(groupRoom, "the message after the restart", func(e *event.Event) bool { return text(e) == "after the restart" })
		var got []string
		for _, b := range alice.bodies(groupRoom, w.ghost(bob)) {
			if strings.HasPrefix(b, "while down") || b == "after the restart" {
				got = append(got, b)
			}
		}
		assert.Equal(t, []string{"while down 0", "while down 1", "while down 2", "after the restart"}, got)
	})

	t.Run("a token Gitter stops accepting is told to the user", func(t *testing.T) {
		w.emu.RevokeToken(aliceG.ID)
		w.emu.DropStreams()
		e := alice.waitFor(mgmt, "the bad-token notice", func(e *event.Event) bool { return strings.Contains(text(e), "stopped") })
		assert.Contains(t, text(e), "Gitter refused the token")
		assert.Contains(t, text(e), "login gitter")
	})

	t.Run("no token reaches the logs", func(t *testing.T) {
		logs := w.logs.String()
		require.NotEmpty(t, logs)
		assert.NotContains(t, logs, aliceTok)
		assert.NotContains(t, logs, w.botTok)
		assert.NotContains(t, logs, alice.Token)
	})
}

func contains(list []string, s string) bool { return count(list, s) > 0 }

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
