package irc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// channelRights plays channel modes and op rights through the whole
// bridge, in a channel of its own (#modes) that carol creates and so
// holds op in. alice0 is the Matrix user, made a room admin in Matrix;
// her puppet gets op on IRC from carol half way, so the same actions are
// tried without and with it.
func (w *world) channelRights(t *testing.T, carol *irctest.Client, alice0 *mxUser) {
	outer := t
	carol.Join("#modes")
	hank := w.irc.Connect(outer, "hank")
	hank.Join("#modes")
	ivy := w.irc.Connect(outer, "ivy")
	ivy.Join("#modes")
	room := alice0.joinChannel("#modes")
	alice0.in(t).eventually("carol, hank and ivy in the room", func() bool {
		j := alice0.in(t).joined(room)
		return j[ghostMXID("carol")] && j[ghostMXID("hank")] && j[ghostMXID("ivy")]
	})
	carol.WaitFor("alice's puppet in #modes", func(m *ircproto.Message) bool {
		return m.Command == "JOIN" && strings.EqualFold(m.Nick(), "alice[m]") && strings.EqualFold(m.Params[0], "#modes")
	})
	// marker makes sure the bot has seen what carol sent before it: the
	// server relays carol's lines to the bot in order.
	marker := func(t *testing.T, text string) {
		carol.Send("PRIVMSG #modes :%s", text)
		alice0.in(t).waitFor(room, "marker "+text, isBody(text))
	}

	t.Run("op and halfop on IRC become power levels, and back", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("MODE #modes +o hank")
		alice.eventually("hank at 50", alice.levelIs(room, ghostMXID("hank"), levelOp))
		// Both test servers have halfop (InspIRCd through customprefix).
		carol.Send("MODE #modes +h ivy")
		alice.eventually("ivy at 25", alice.levelIs(room, ghostMXID("ivy"), levelHalfop))
		carol.Send("MODE #modes -h ivy")
		alice.eventually("ivy back at 0", alice.levelIs(room, ghostMXID("ivy"), 0))
		carol.Send("MODE #modes -o hank")
		alice.eventually("hank back at 0", alice.levelIs(room, ghostMXID("hank"), 0))
	})

	t.Run("op on IRC makes the Matrix user a moderator, and deop takes it back", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("MODE #modes +o alice[m]")
		alice.eventually("alice at 50", alice.levelIs(room, alice0.id, levelOp))
		carol.Send("MODE #modes -o alice[m]")
		alice.eventually("alice back at 0", alice.levelIs(room, alice0.id, 0))
	})

	t.Run("+i and +k make the room invite-only, and -i and -k open it again", func(t *testing.T) {
		alice := alice0.in(t)
		alice.eventually("public to start with", alice.joinRuleIs(room, event.JoinRulePublic))
		carol.Send("MODE #modes +i")
		alice.eventually("+i: invite", alice.joinRuleIs(room, event.JoinRuleInvite))
		carol.Send("MODE #modes -i")
		alice.eventually("-i: public", alice.joinRuleIs(room, event.JoinRulePublic))
		carol.Send("MODE #modes +k sesame")
		alice.eventually("+k: invite", alice.joinRuleIs(room, event.JoinRuleInvite))
		carol.Send("MODE #modes -k sesame")
		alice.eventually("-k: public", alice.joinRuleIs(room, event.JoinRulePublic))
	})

	t.Run("+s takes the room out of the directory, and -s puts it back", func(t *testing.T) {
		alice := alice0.in(t)
		alice.eventually("listed to start with", func() bool { return alice.listed(room) })
		carol.Send("MODE #modes +s")
		alice.eventually("+s: not listed", func() bool { return !alice.listed(room) })
		carol.Send("MODE #modes -s")
		alice.eventually("-s: listed", func() bool { return alice.listed(room) })
	})

	// The bot makes alice a room admin, as a Matrix admin would: an admin
	// keeps her level whatever her IRC rank, and Matrix lets her change
	// levels and the topic and talk whatever events_default is, while her
	// puppet has no rights on IRC yet. The bridge has handled the change
	// once her next message reaches IRC (a room's events are handled in
	// order), so its own level updates after this keep her level.
	setLevel(t, w.admin(), room, alice0.id, 100)
	_, err := alice0.client.SendText(ctxT(t), room, "an admin now")
	require.NoError(t, err)
	carol.WaitFor("alice's line", irctest.IsText("PRIVMSG", "an admin now"))

	t.Run("+m lets only the voiced talk, and a message IRC refuses is reported in the room", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("MODE #modes +m")
		alice.eventually("+m: talking takes voice", func() bool { return alice.powerLevels(room).EventsDefault == levelVoice })
		_, err := alice.client.SendText(ctxT(t), room, "unheard words")
		require.NoError(t, err)
		alice.waitFor(room, "the notice that it was not delivered", noticeFromBot("not delivered", "#modes on IRC refused it"))
		carol.Send("PRIVMSG #modes :after the refusal")
		m := hank.WaitFor("carol's line", func(m *ircproto.Message) bool {
			return irctest.IsText("PRIVMSG", "unheard words")(m) || irctest.IsText("PRIVMSG", "after the refusal")(m)
		})
		assert.Equal(t, "carol", m.Nick(), "the refused message never reached IRC")
		carol.Send("MODE #modes -m")
		alice.eventually("-m: everyone talks", func() bool { return alice.powerLevels(room).EventsDefault == 0 })
	})

	t.Run("without op on IRC, an admin's level and topic changes are put back and explained", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("TOPIC #modes :carol's topic")
		carol.Send("MODE #modes +t")
		marker(t, "topic locked")
		alice.eventually("carol's topic", alice.topicIs(room, "carol's topic"))
		setLevel(t, alice.client, room, ghostMXID("hank"), levelOp)
		alice.waitFor(room, "the explanation", noticeFromBot("changed back", "not a channel operator in #modes"))
		alice.eventually("hank back at 0", alice.levelIs(room, ghostMXID("hank"), 0))
		_, err := alice.client.SendStateEvent(ctxT(t), room, event.StateTopic, "", &event.TopicEventContent{Topic: "alice's topic"})
		require.NoError(t, err)
		alice.waitFor(room, "the explanation", noticeFromBot("changed back", "+t"))
		alice.eventually("carol's topic again", alice.topicIs(room, "carol's topic"))
		hank.Send("PRIVMSG #modes :nothing from alice")
		m := carol.WaitFor("hank's line", func(m *ircproto.Message) bool {
			return m.Nick() == "alice[m]" && (m.Command == "MODE" || m.Command == "TOPIC") || irctest.IsText("PRIVMSG", "nothing from alice")(m)
		})
		assert.Equal(t, "hank", m.Nick(), "nothing was sent to IRC for the refused changes")
	})

	t.Run("without op on IRC, an admin's kick and ban of a ghost are put back and explained", func(t *testing.T) {
		alice := alice0.in(t)
		_, err := alice.client.KickUser(ctxT(t), room, &mautrix.ReqKickUser{UserID: ghostMXID("ivy"), Reason: "cool off"})
		require.NoError(t, err)
		alice.waitFor(room, "the explanation", noticeFromBot("brought back", "not a channel operator in #modes", "cannot kick"))
		alice.eventually("ivy back", func() bool { return alice.joined(room)[ghostMXID("ivy")] })
		_, err = alice.client.BanUser(ctxT(t), room, &mautrix.ReqBanUser{UserID: ghostMXID("ivy"), Reason: "spam"})
		require.NoError(t, err)
		alice.waitFor(room, "the explanation", noticeFromBot("brought back", "not a channel operator in #modes", "cannot ban"))
		alice.eventually("ivy back, not banned", func() bool { return alice.joined(room)[ghostMXID("ivy")] })
		hank.Send("PRIVMSG #modes :no removals from alice")
		m := carol.WaitFor("hank's line", func(m *ircproto.Message) bool {
			return m.Nick() == "alice[m]" && (m.Command == "KICK" || m.Command == "MODE" && m.Param(1) == "+b") ||
				irctest.IsText("PRIVMSG", "no removals from alice")(m)
		})
		assert.Equal(t, "hank", m.Nick(), "no KICK or MODE +b reached IRC")
		ivy.Send("PRIVMSG #modes :still here")
		alice.waitFor(room, "ivy's line", isBody("still here"))
	})

	carol.Send("MODE #modes +o alice[m]")

	t.Run("with op on IRC, an admin's level and topic changes become MODE and TOPIC", func(t *testing.T) {
		alice := alice0.in(t)
		marker(t, "alice is an op")
		setLevel(t, alice.client, room, ghostMXID("hank"), levelOp)
		m := carol.WaitFor("hank's op", irctest.IsCommand("MODE", "alice[m]"))
		assert.Equal(t, []string{"#modes", "+o", "hank"}, m.Params)
		setLevel(t, alice.client, room, ghostMXID("ivy"), levelVoice)
		m = carol.WaitFor("ivy's voice", irctest.IsCommand("MODE", "alice[m]"))
		assert.Equal(t, []string{"#modes", "+v", "ivy"}, m.Params)
		_, err := alice.client.SendStateEvent(ctxT(t), room, event.StateTopic, "", &event.TopicEventContent{Topic: "alice's topic"})
		require.NoError(t, err)
		m = carol.WaitFor("alice's topic", irctest.IsCommand("TOPIC", "alice[m]"))
		assert.Equal(t, "alice's topic", m.Params[1])
		alice.eventually("the levels stay", func() bool {
			pl := alice.powerLevels(room)
			return pl.GetUserLevel(ghostMXID("hank")) == levelOp && pl.GetUserLevel(ghostMXID("ivy")) == levelVoice
		})
	})

	t.Run("with op on IRC, an admin's halfop level becomes +h and stays", func(t *testing.T) {
		alice := alice0.in(t)
		// The bot's own level updates for the modes above are done first:
		// one racing the admin's change is a different case (the bot
		// writes the levels it knew, over the admin's).
		marker(t, "levels settled")
		setLevel(t, alice.client, room, ghostMXID("hank"), levelHalfop)
		m := carol.WaitFor("hank's halfop", irctest.IsCommand("MODE", "alice[m]"))
		assert.Equal(t, []string{"#modes", "-o+h", "hank", "hank"}, m.Params)
		// The bot has seen the MODE once it relays carol's next line, and
		// the room's events are handled in order.
		marker(t, "hank is a halfop")
		assert.Equal(t, levelHalfop, alice.powerLevels(room).GetUserLevel(ghostMXID("hank")), "not snapped back to voice")
	})

	t.Run("with op on IRC, an admin's kick and ban become KICK and MODE +b", func(t *testing.T) {
		alice := alice0.in(t)
		_, err := alice.client.KickUser(ctxT(t), room, &mautrix.ReqKickUser{UserID: ghostMXID("ivy"), Reason: "cool off"})
		require.NoError(t, err)
		m := carol.WaitFor("the kick", irctest.IsCommand("KICK", "alice[m]"))
		assert.Equal(t, []string{"#modes", "ivy", "cool off"}, m.Params)
		ivy.Join("#modes")
		alice.eventually("ivy back", func() bool { return alice.joined(room)[ghostMXID("ivy")] })
		_, err = alice.client.BanUser(ctxT(t), room, &mautrix.ReqBanUser{UserID: ghostMXID("ivy"), Reason: "spam"})
		require.NoError(t, err)
		m = carol.WaitFor("the ban", irctest.IsCommand("MODE", "alice[m]"))
		assert.Equal(t, []string{"#modes", "+b", "ivy!*@*"}, m.Params)
		m = carol.WaitFor("the kick", irctest.IsCommand("KICK", "alice[m]"))
		assert.Equal(t, []string{"#modes", "ivy", "spam"}, m.Params)
		ivy.Send("JOIN #modes")
		ivy.WaitFor("the ban holding", func(m *ircproto.Message) bool { return m.Command == ircproto.ERR_BANNEDFROMCHAN })
	})
}
