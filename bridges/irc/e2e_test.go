package irc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestEndToEnd plays an IRC user (a raw client) and a Matrix user (a real
// Dendrite account) against each other through the whole bridge.
func TestEndToEnd(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			endToEnd(t, kind)
		})
	}
}

func endToEnd(t *testing.T, kind irctest.Kind) {
	w := newWorld(t, kind)
	outer := t // IRC clients outlive the subtest that connects them
	carol := w.irc.Connect(outer, "carol", "server-time")
	carol.Join("#isthmus")
	carol.Send("TOPIC #isthmus :Bridges and such")
	// gus went away before the channel was bridged: away-notify will
	// never tell of it.
	gus := w.irc.Connect(outer, "gus")
	gus.Send("AWAY :since before the bridge")
	gus.WaitFor("being away", irctest.IsCommand(ircproto.RPL_NOWAWAY, ""))
	gus.Join("#isthmus")
	alice0 := w.newUser("alice")
	room := alice0.joinChannel("#isthmus")

	t.Run("joining by alias bridges the channel with its topic, ops and history kept private", func(t *testing.T) {
		alice := alice0.in(t)
		alice.eventually("carol's ghost in the room", func() bool { return alice.joined(room)[ghostMXID("carol")] })
		var topic event.TopicEventContent
		require.NoError(t, alice.client.StateEvent(ctxT(t), room, event.StateTopic, "", &topic))
		assert.Equal(t, "Bridges and such", topic.Topic)
		alice.eventually("carol's ops as power level 50", func() bool {
			var pl event.PowerLevelsEventContent
			return alice.client.StateEvent(ctxT(t), room, event.StatePowerLevels, "", &pl) == nil && pl.GetUserLevel(ghostMXID("carol")) == levelOp
		})
		var hv event.HistoryVisibilityEventContent
		require.NoError(t, alice.client.StateEvent(ctxT(t), room, event.StateHistoryVisibility, "", &hv))
		assert.Equal(t, event.HistoryVisibilityJoined, hv.HistoryVisibility)
	})

	t.Run("the Matrix user shows on IRC as soon as they join", func(t *testing.T) {
		carol.WaitFor("alice's puppet", irctest.IsCommand("JOIN", "alice[m]"))
	})

	t.Run("IRC messages, actions and notices reach Matrix from the ghost", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("PRIVMSG #isthmus :hello \x02matrix\x02")
		carol.Send("PRIVMSG #isthmus :\x01ACTION waves\x01")
		carol.Send("NOTICE #isthmus :a notice")
		evt := alice.waitFor(room, "carol's message", isBody("hello matrix"))
		assert.Equal(t, ghostMXID("carol"), evt.Sender)
		assert.Equal(t, "hello <strong>matrix</strong>", evt.Content.AsMessage().FormattedBody)
		assert.Equal(t, event.MsgEmote, alice.waitFor(room, "the action", isBody("waves")).Content.AsMessage().MsgType)
		assert.Equal(t, event.MsgNotice, alice.waitFor(room, "the notice", isBody("a notice")).Content.AsMessage().MsgType)
		name, err := alice.client.GetDisplayName(ctxT(t), ghostMXID("carol"))
		require.NoError(t, err)
		assert.Equal(t, "carol", name.DisplayName)
	})

	t.Run("Matrix messages, emotes and notices reach IRC from the puppet, and are not echoed", func(t *testing.T) {
		alice := alice0.in(t)
		_, err := alice.client.SendText(ctxT(t), room, "hello irc")
		require.NoError(t, err)
		_, err = alice.client.SendMessageEvent(ctxT(t), room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgEmote, Body: "nods"})
		require.NoError(t, err)
		_, err = alice.client.SendNotice(ctxT(t), room, "matrix notice")
		require.NoError(t, err)
		m := carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "hello irc"))
		assert.Equal(t, "alice[m]", m.Nick())
		m = carol.WaitFor("alice's emote", irctest.IsText("PRIVMSG", "nods"))
		assert.True(t, m.IsAction())
		carol.WaitFor("alice's notice", irctest.IsText("NOTICE", "matrix notice"))
		carol.Send("PRIVMSG #isthmus :marker")
		alice.waitFor(room, "marker", isBody("marker"))
		copies := 0
		for _, evt := range alice.timeline(room) {
			if bodyOf(evt) == "hello irc" {
				copies++
			}
		}
		assert.Equal(t, 1, copies)
	})

	t.Run("IRC joins, parts, kicks and quits move ghosts", func(t *testing.T) {
		alice := alice0.in(t)
		dave := w.irc.Connect(outer, "dave")
		dave.Join("#isthmus")
		alice.waitFor(room, "dave's ghost joining", isMember(ghostMXID("dave"), event.MembershipJoin))
		dave.Send("PART #isthmus :later")
		alice.waitFor(room, "dave's ghost leaving", isMember(ghostMXID("dave"), event.MembershipLeave))
		dave.Join("#isthmus")
		alice.eventually("dave back", func() bool { return alice.joined(room)[ghostMXID("dave")] })
		carol.Send("KICK #isthmus dave :enough")
		evt := alice.waitFor(room, "dave kicked", func(evt *event.Event) bool {
			return isMember(ghostMXID("dave"), event.MembershipLeave)(evt) && evt.Sender != ghostMXID("dave")
		})
		assert.Equal(t, ghostMXID("carol"), evt.Sender, "the kick comes from carol's ghost")
		dave.Join("#isthmus")
		alice.eventually("dave back", func() bool { return alice.joined(room)[ghostMXID("dave")] })
		dave.Send("QUIT :bye")
		alice.eventually("dave gone", func() bool { return !alice.joined(room)[ghostMXID("dave")] })
	})

	t.Run("a nick change moves the ghost", func(t *testing.T) {
		alice := alice0.in(t)
		erin := w.irc.Connect(outer, "erin")
		erin.Join("#isthmus")
		alice.eventually("erin in", func() bool { return alice.joined(room)[ghostMXID("erin")] })
		erin.Send("NICK erin2")
		alice.eventually("erin2 in, erin out", func() bool {
			j := alice.joined(room)
			return j[ghostMXID("erin2")] && !j[ghostMXID("erin")]
		})
	})

	t.Run("the nick command changes the puppet's nick, and a nick in use is refused", func(t *testing.T) {
		alice := alice0.in(t)
		mgmt := alice.managementRoom()
		assert.Contains(t, alice.command(mgmt, "nick test alicia"), "is now alicia")
		m := carol.WaitFor("the new nick", irctest.IsCommand("NICK", "alice[m]"))
		assert.Equal(t, "alicia", m.Params[0])
		reply := alice.command(mgmt, "nick test carol")
		assert.Contains(t, reply, "refused the nick carol")
		assert.Contains(t, alice.command(mgmt, "nick test alice[m]"), "is now alice[m]")
		carol.WaitFor("the nick back", func(m *ircproto.Message) bool { return m.Command == "NICK" && m.Nick() == "alicia" })
	})

	t.Run("a topic change on IRC becomes the room topic", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("TOPIC #isthmus :New topic")
		alice.eventually("the new topic", func() bool {
			var topic event.TopicEventContent
			return alice.client.StateEvent(ctxT(t), room, event.StateTopic, "", &topic) == nil && topic.Topic == "New topic"
		})
	})

	t.Run("voice becomes a power level", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("MODE #isthmus +v erin2")
		alice.eventually("erin2 at 10", func() bool {
			var pl event.PowerLevelsEventContent
			return alice.client.StateEvent(ctxT(t), room, event.StatePowerLevels, "", &pl) == nil && pl.GetUserLevel(ghostMXID("erin2")) == levelVoice
		})
	})

	w.channelRights(t, carol, alice0)
	w.refusedRejoin(t, carol, alice0)

	var dm id.RoomID
	t.Run("a PM to the puppet invites the user to a DM, and the answer goes back", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("PRIVMSG alice[m] :psst, alice")
		alice.eventually("an invite", func() bool {
			resp, err := alice.client.SyncRequest(ctxT(t), 0, "", "", false, event.PresenceOffline)
			if err != nil {
				return false
			}
			for r := range resp.Rooms.Invite {
				dm = r
				return true
			}
			return false
		})
		_, err := alice.client.JoinRoom(ctxT(t), dm.String(), nil)
		require.NoError(t, err)
		evt := alice.waitFor(dm, "the PM", isBody("psst, alice"))
		assert.Equal(t, ghostMXID("carol"), evt.Sender)
		_, err = alice.client.SendText(ctxT(t), dm, "hi carol")
		require.NoError(t, err)
		m := carol.WaitFor("the answer", irctest.IsText("PRIVMSG", "hi carol"))
		assert.Equal(t, "carol", m.Params[0])
	})

	t.Run("a DM started on Matrix with a ghost reaches the IRC user", func(t *testing.T) {
		alice := alice0.in(t)
		resp, err := alice.client.CreateRoom(ctxT(t), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true,
			Invite: []id.UserID{ghostMXID("dave2")}})
		require.NoError(t, err)
		dave2 := w.irc.Connect(outer, "dave2")
		alice.eventually("the ghost accepting", func() bool { return alice.joined(resp.RoomID)[ghostMXID("dave2")] })
		_, err = alice.client.SendText(ctxT(t), resp.RoomID, "a new conversation")
		require.NoError(t, err)
		m := dave2.WaitFor("the DM", irctest.IsText("PRIVMSG", "a new conversation"))
		assert.Equal(t, "alice[m]", m.Nick())
		assert.Equal(t, "dave2", m.Params[0])
	})

	// InspIRCd says so with away-notify; ngIRCd has none, so the bot
	// polls with WHO (membership.away_poll, short here).
	t.Run("away on IRC is unavailable presence on Matrix, and back is online", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("AWAY :lunch")
		alice.eventually("carol unavailable", func() bool {
			p, err := alice.client.GetPresence(ctxT(t), ghostMXID("carol"))
			return err == nil && p.Presence == event.PresenceUnavailable && p.StatusMsg == "lunch"
		})
		carol.Send("AWAY")
		alice.eventually("carol online", func() bool {
			p, err := alice.client.GetPresence(ctxT(t), ghostMXID("carol"))
			return err == nil && p.Presence == event.PresenceOnline
		})
	})

	t.Run("someone away on IRC before the channel was bridged is unavailable on Matrix", func(t *testing.T) {
		alice := alice0.in(t)
		alice.eventually("gus unavailable", func() bool {
			p, err := alice.client.GetPresence(ctxT(t), ghostMXID("gus"))
			return err == nil && p.Presence == event.PresenceUnavailable
		})
	})

	t.Run("a logged-in user's edits and presence reach IRC", func(t *testing.T) {
		alice := alice0.in(t)
		mgmt := alice.managementRoom()
		require.Contains(t, alice.command(mgmt, "login test"), "Logged in")
		sent, err := alice.client.SendText(ctxT(t), room, "teh typo")
		require.NoError(t, err)
		carol.WaitFor("the typo", irctest.IsText("PRIVMSG", "teh typo"))
		edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "* the typo"}
		edit.SetEdit(sent.EventID)
		edit.NewContent = &event.MessageEventContent{MsgType: event.MsgText, Body: "the typo"}
		_, err = alice.client.SendMessageEvent(ctxT(t), room, event.EventMessage, edit)
		require.NoError(t, err)
		m := carol.WaitFor("the correction", irctest.IsText("PRIVMSG", "the typo"))
		assert.Equal(t, "* the typo", m.Trailing())
		// Dendrite sends no ephemeral events; deliver presence as Synapse would.
		w.pushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
			"type": "m.presence", "sender": alice.id, "content": map[string]any{"presence": "unavailable", "status_msg": "in a meeting"},
		}}})
		carol.Skip()
		require.Eventually(t, func() bool {
			carol.Send("WHOIS alice[m]")
			return carol.TryWaitFor(2e9, func(m *ircproto.Message) bool {
				return m.Command == ircproto.RPL_AWAY && m.Trailing() == "in a meeting"
			}) != nil
		}, 20e9, 1e8, "alice's puppet is away")
	})

	t.Run("after an IRC server restart the member list is reconciled", func(t *testing.T) {
		alice := alice0.in(t)
		w.irc.Restart()
		frank := w.irc.Connect(outer, "frank")
		frank.Join("#isthmus")
		alice.eventually("carol, dave and erin2 gone, frank there", func() bool {
			j := alice.joined(room)
			return j[ghostMXID("frank")] && !j[ghostMXID("carol")] && !j[ghostMXID("erin2")] && j[alice.id]
		})
		_, err := alice.client.SendText(ctxT(t), room, "still here")
		require.NoError(t, err)
		m := frank.WaitFor("alice after the restart", irctest.IsText("PRIVMSG", "still here"))
		assert.Equal(t, "alice[m]", m.Nick())
	})

	t.Run("leaving the room parts the channel", func(t *testing.T) {
		alice := alice0.in(t)
		frank := w.irc.Connect(outer, "frank2")
		frank.Join("#isthmus")
		_, err := alice.client.LeaveRoom(ctxT(t), room, &mautrix.ReqLeave{})
		require.NoError(t, err)
		frank.WaitFor("alice parting", func(m *ircproto.Message) bool {
			return (m.Command == "PART" || m.Command == "QUIT") && strings.EqualFold(m.Nick(), "alice[m]")
		})
	})
}
