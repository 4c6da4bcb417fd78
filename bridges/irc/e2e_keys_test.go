package irc

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestKeysAndRefusedRejoinsSurviveARestart: a channel keyed on IRC after
// it was bridged is rejoined with its key by the bot and by a Matrix
// user's puppet after the server restarts, and a bridged channel the bot
// is refused after the restart is retried until it gets in, with its room
// told once, and again when the bot is back.
func TestKeysAndRefusedRejoinsSurviveARestart(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			relay := startRelay(t, srv.Addr)
			carol := srv.Connect(t, "carol")
			carol.Join("#keyed")
			carol.Join("#locked")
			tn := startNetwork(t, srv, func(c *Config) {
				c.Address = relay.addr
				c.Channels = []ChannelConfig{{Channel: "#keyed"}, {Channel: "#locked"}}
			})
			keyed, locked := waitPortal(t, tn, "#keyed"), waitPortal(t, tn, "#locked")
			require.NoError(t, tn.send(t, matrixMessage(keyed, alice, "", "before the key"), "Alice"))
			carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "before the key"))

			from := tn.core.end()
			carol.Send("MODE #keyed +k sesame")
			tn.core.waitEvent(t, &from, "the room made invite-only by +k", func(ev *bridge.RemoteEvent) bool {
				return ev.Kind == bridge.RemoteChatInfo && ev.Portal == keyed.Key && ev.ChatInfo.JoinRule == event.JoinRuleInvite
			})

			relay.hold()
			srv.Restart()
			// The channels come back from carol, keyed and locked, before
			// the bridge can reconnect.
			carol = srv.Connect(t, "carol")
			carol.Join("#keyed")
			carol.Send("MODE #keyed +k sesame")
			carol.WaitFor("the key set", irctest.IsCommand("MODE", "carol"))
			carol.Join("#locked")
			carol.Send("MODE #locked +i")
			carol.WaitFor("+i set", func(m *ircproto.Message) bool {
				return m.Command == "MODE" && strings.EqualFold(m.Params[0], "#locked")
			})
			from = tn.core.end()
			relay.open()

			t.Run("the puppet rejoins the keyed channel with its key, and the user's message reaches IRC", func(t *testing.T) {
				carol.WaitFor("alice back in #keyed", func(m *ircproto.Message) bool {
					return m.Command == "JOIN" && strings.EqualFold(m.Nick(), "Alice[m]") && strings.EqualFold(m.Params[0], "#keyed")
				})
				require.NoError(t, tn.send(t, matrixMessage(keyed, alice, "", "after the restart"), "Alice"))
				m := carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "after the restart"))
				assert.Equal(t, "Alice[m]", m.Nick())
				tn.waitBotIn(t, "#keyed")
			})

			t.Run("the refused channel's room is told, and the bot keeps trying until it is let in", func(t *testing.T) {
				told := from
				ev := tn.core.waitEvent(t, &told, "the notice in #locked", botNoticeIn(locked.Key, "cannot get into #locked"))
				assert.Regexp(t, `(?i)invite|\+i`, ev.Content.Body, "the server's reason")
				require.Eventually(t, func() bool {
					tn.bot.mu.Lock()
					defer tn.bot.mu.Unlock()
					r := tn.bot.rejoins[tn.fold("#locked")]
					return r != nil && r.failures >= 3
				}, 15*time.Second, 20*time.Millisecond, "the refused join is retried")
				carol.Send("MODE #locked -i")
				carol.WaitFor("the bot back in #locked", func(m *ircproto.Message) bool {
					return m.Command == "JOIN" && tn.bot.isMe(m.Nick()) && strings.EqualFold(m.Params[0], "#locked")
				})
				back := from
				tn.core.waitEvent(t, &back, "the notice that the bot is back", botNoticeIn(locked.Key, "back in #locked"))
				notices := 0
				for _, ev := range tn.core.since(from) {
					if botNoticeIn(locked.Key, "cannot get into")(ev) {
						notices++
					}
				}
				assert.Equal(t, 1, notices, "the room is told once, not at every retry")
			})
		})
	}
}

// botNoticeIn matches a notice of the bridge bot in a portal that holds
// substr.
func botNoticeIn(portal bridge.PortalKey, substr string) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool {
		return ev.Kind == bridge.RemoteMessage && ev.Portal == portal && ev.Sender == (bridge.Sender{}) &&
			ev.Content != nil && ev.Content.MsgType == event.MsgNotice && strings.Contains(ev.Content.Body, substr)
	}
}

// TestPuppetsAreInvitedIntoInviteOnlyChannels: where the bot is an op, a
// Matrix user's puppet refused a +i channel is invited by the bot and
// gets in, so the user's message reaches IRC.
func TestPuppetsAreInvitedIntoInviteOnlyChannels(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			carol := srv.Connect(t, "carol")
			carol.Join("#inv")
			tn := startNetwork(t, srv, func(c *Config) { c.Channels = []ChannelConfig{{Channel: "#inv"}} })
			portal := waitPortal(t, tn, "#inv")
			from := tn.core.end()
			carol.Send("MODE #inv +o %s", *tn.bot.nick.Load())
			carol.Send("MODE #inv +i")
			tn.core.waitEvent(t, &from, "the room made invite-only", func(ev *bridge.RemoteEvent) bool {
				return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.JoinRule == event.JoinRuleInvite
			})
			require.Eventually(t, func() bool { return tn.bot.mayInvite("#inv") }, 15*time.Second, 20*time.Millisecond, "the bot an op")

			require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "let me in"), "Alice"))
			m := carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "let me in"))
			assert.Equal(t, "Alice[m]", m.Nick())
		})
	}
}

// waitPortal waits until the bot holds a configured channel and its
// portal exists.
func waitPortal(t *testing.T, tn *testNet, channel string) *bridge.Portal {
	t.Helper()
	tn.waitBotIn(t, channel)
	var portal *bridge.Portal
	require.Eventually(t, func() bool {
		portal, _ = tn.core.GetPortal(testCtx(t), tn.channelKey(channel))
		return portal != nil
	}, 15*time.Second, 20*time.Millisecond, "the portal of %s", channel)
	return portal
}
