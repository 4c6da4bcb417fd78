package irc

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

const alice = id.UserID("@alice:" + testDomain)

func TestAdapterAgainstRealServers(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			outer := t // clients outlive the subtest that connects them
			carol := srv.Connect(t, "carol", "server-time")
			carol.Join("#bridged") // first in, so carol is an op
			tn := startNetwork(t, srv, nil)
			tn.waitBotIn(t, "#bridged")
			key := tn.channelKey("#bridged")
			ctx := testCtx(t)
			from := 0

			t.Run("the configured channel gets a portal and its ops as power levels", func(t *testing.T) {
				ev := tn.core.waitEvent(t, &from, "member list", func(ev *bridge.RemoteEvent) bool {
					return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.Members != nil
				})
				assert.Equal(t, key, ev.Portal)
				assert.Equal(t, []bridge.Sender{tn.ghostSender("carol")}, ev.ChatInfo.Members, "the bot is not a member for Matrix")
				assert.Equal(t, levelOp, ev.ChatInfo.PowerLevels["carol"])
			})
			portal, err := tn.core.GetPortal(ctx, key)
			require.NoError(t, err)
			require.NotNil(t, portal, "a static channel creates its portal")

			t.Run("a channel message becomes a formatted ghost message", func(t *testing.T) {
				carol.Send("PRIVMSG #bridged :hello \x02world\x02")
				ev := tn.core.waitEvent(t, &from, "message", isMessage("hello world"))
				assert.Equal(t, bridge.RemoteUserID("carol"), ev.Sender.ID)
				assert.Equal(t, "carol", ev.Sender.Profile.Name)
				assert.Equal(t, "hello <strong>world</strong>", ev.Content.HTML)
				assert.NotEmpty(t, ev.ID)
				assert.WithinDuration(t, time.Now(), ev.Timestamp, 10*time.Second)
			})

			t.Run("actions and notices keep their kind", func(t *testing.T) {
				carol.Send("PRIVMSG #bridged :\x01ACTION waves\x01")
				carol.Send("NOTICE #bridged :a notice")
				ev := tn.core.waitEvent(t, &from, "action", isMessage("waves"))
				assert.Equal(t, event.MsgEmote, ev.Content.MsgType)
				ev = tn.core.waitEvent(t, &from, "notice", isMessage("a notice"))
				assert.Equal(t, event.MsgNotice, ev.Content.MsgType)
			})

			t.Run("a Matrix user's message goes out through their own puppet, once", func(t *testing.T) {
				err := tn.send(t, matrixMessage(portal, alice, "", "hi from matrix"), "Alice")
				require.NoError(t, err)
				carol.WaitFor("the puppet joining", irctest.IsCommand("JOIN", "Alice[m]"))
				m := carol.WaitFor("the puppet's message", irctest.IsText("PRIVMSG", "hi from matrix"))
				assert.Equal(t, "Alice[m]", m.Nick())
				carol.Send("PRIVMSG #bridged :marker 1")
				tn.core.waitEvent(t, &from, "marker", isMessage("marker 1"))
				for _, ev := range tn.core.since(0) {
					assert.False(t, ev.Kind == bridge.RemoteMessage && ev.Content.Body == "hi from matrix", "the puppet's own line must not come back")
					assert.False(t, ev.Kind == bridge.RemoteJoin && ev.Sender.ID == "alice{m}" && ev.Sender.Matrix == "", "a puppet never gets a ghost")
				}
			})

			t.Run("the nick of a puppet becomes a pill", func(t *testing.T) {
				carol.Send("PRIVMSG #bridged :Alice[m]: welcome")
				ev := tn.core.waitEvent(t, &from, "mention", isMessage("Alice[m]: welcome"))
				assert.Equal(t, []id.UserID{alice}, ev.Content.Mentions)
				assert.Contains(t, ev.Content.HTML, "https://matrix.to/#/"+alice.String())
			})

			t.Run("a reply addresses the author with a short quote", func(t *testing.T) {
				msg := matrixMessage(portal, alice, "Alice", "indeed")
				msg.ReplyTo = &bridge.Message{RemoteSender: "carol", EventID: "$carolsaid"}
				tn.mx.texts["$carolsaid"] = "the quick brown fox jumps over the lazy dog twice"
				err := tn.send(t, msg, "Alice")
				require.NoError(t, err)
				m := carol.WaitFor("the reply", irctest.IsText("PRIVMSG", "indeed"))
				assert.Equal(t, `carol: "the quick brown fox jumps over the lazy…" indeed`, m.Trailing())
			})

			t.Run("a long message is cut at max_lines and links to the rest", func(t *testing.T) {
				text := strings.Repeat("line\n", 8)
				msg := matrixMessage(portal, alice, "Alice", text)
				err := tn.send(t, msg, "Alice")
				require.NoError(t, err)
				for range 4 {
					carol.WaitFor("a line", irctest.IsText("PRIVMSG", "line"))
				}
				m := carol.WaitFor("the link", irctest.IsText("PRIVMSG", "more lines"))
				assert.Equal(t, "(4 more lines: https://matrix.to/#/"+portal.MXID.String()+"/"+msg.Event.ID.String()+")", m.Trailing())
			})

			t.Run("a paste longer than a line is split under 512 bytes", func(t *testing.T) {
				word := strings.Repeat("x", 9) + " "
				err := tn.send(t, matrixMessage(portal, alice, "", strings.Repeat(word, 80)), "Alice")
				require.NoError(t, err)
				m := carol.WaitFor("the first part", irctest.IsText("PRIVMSG", "xxxxxxxxx xxxxxxxxx"))
				line := ":" + m.Source.String() + " PRIVMSG #bridged :" + m.Trailing() + "\r\n"
				assert.LessOrEqual(t, len(line), 512)
				assert.Greater(t, len(line), 300, "lines are filled, not cut short")
			})

			t.Run("joins, parts, kicks and quits of IRC users reach Matrix", func(t *testing.T) {
				dave := srv.Connect(outer, "dave")
				dave.Join("#bridged")
				ev := tn.core.waitEvent(t, &from, "dave's join", isKind(bridge.RemoteJoin))
				assert.Equal(t, bridge.RemoteUserID("dave"), ev.Sender.ID)
				dave.Send("PART #bridged :bye now")
				ev = tn.core.waitEvent(t, &from, "dave's part", isKind(bridge.RemoteLeave))
				assert.Equal(t, "bye now", ev.Member.Reason)
				dave.Join("#bridged")
				tn.core.waitEvent(t, &from, "dave's join", isKind(bridge.RemoteJoin))
				carol.Send("KICK #bridged dave :out")
				ev = tn.core.waitEvent(t, &from, "the kick", isKind(bridge.RemoteKick))
				assert.Equal(t, bridge.RemoteUserID("dave"), ev.Member.ID)
				assert.Equal(t, bridge.RemoteUserID("carol"), ev.Sender.ID)
				assert.Equal(t, "out", ev.Member.Reason)
				dave.Join("#bridged")
				tn.core.waitEvent(t, &from, "dave's join", isKind(bridge.RemoteJoin))
				dave.Send("QUIT :gone fishing")
				ev = tn.core.waitEvent(t, &from, "dave's quit", isKind(bridge.RemoteLeave))
				assert.Contains(t, ev.Member.Reason, "gone fishing")
			})

			t.Run("a nick change moves to a new ghost; a change of case renames the ghost", func(t *testing.T) {
				erin := srv.Connect(outer, "erin")
				erin.Join("#bridged")
				tn.core.waitEvent(t, &from, "erin's join", isKind(bridge.RemoteJoin))
				erin.Send("NICK Erin")
				ev := tn.core.waitEvent(t, &from, "the rename", isKind(bridge.RemoteProfile))
				assert.Equal(t, bridge.RemoteUserID("erin"), ev.Sender.ID)
				assert.Equal(t, "Erin", ev.Sender.Profile.Name)
				erin.Send("NICK frank")
				ev = tn.core.waitEvent(t, &from, "the old ghost leaving", isKind(bridge.RemoteLeave))
				assert.Equal(t, bridge.RemoteUserID("erin"), ev.Member.ID)
				assert.Equal(t, "changed nick to frank", ev.Member.Reason)
				ev = tn.core.waitEvent(t, &from, "the new ghost joining", isKind(bridge.RemoteJoin))
				assert.Equal(t, bridge.RemoteUserID("frank"), ev.Sender.ID)
			})

			t.Run("voice and op become power levels and back", func(t *testing.T) {
				carol.Send("MODE #bridged +v frank")
				ev := tn.core.waitEvent(t, &from, "voice", hasLevels)
				assert.Equal(t, map[bridge.RemoteUserID]int{"frank": levelVoice}, ev.ChatInfo.PowerLevels)
				carol.Send("MODE #bridged +o frank")
				ev = tn.core.waitEvent(t, &from, "op", hasLevels)
				assert.Equal(t, map[bridge.RemoteUserID]int{"frank": levelOp}, ev.ChatInfo.PowerLevels)
				carol.Send("MODE #bridged -o frank")
				ev = tn.core.waitEvent(t, &from, "deop", hasLevels)
				assert.Equal(t, map[bridge.RemoteUserID]int{"frank": levelVoice}, ev.ChatInfo.PowerLevels, "still voiced")
			})

			t.Run("channel modes become the join rule, the directory listing and who may talk", func(t *testing.T) {
				start := 0
				ev := tn.core.waitEvent(t, &start, "the modes asked for on joining", hasJoinRule)
				assert.Equal(t, event.JoinRulePublic, ev.ChatInfo.JoinRule)
				assert.Equal(t, true, *ev.ChatInfo.Listed)
				assert.Equal(t, 0, *ev.ChatInfo.EventsDefault)
				carol.Send("MODE #bridged +i")
				ev = tn.core.waitEvent(t, &from, "+i", hasJoinRule)
				assert.Equal(t, event.JoinRuleInvite, ev.ChatInfo.JoinRule)
				assert.Equal(t, 0, *ev.ChatInfo.EventsDefault)
				carol.Send("MODE #bridged +m")
				ev = tn.core.waitEvent(t, &from, "+m", hasJoinRule)
				assert.Equal(t, event.JoinRuleInvite, ev.ChatInfo.JoinRule, "still +i")
				assert.Equal(t, levelVoice, *ev.ChatInfo.EventsDefault)
				carol.Send("MODE #bridged +s")
				ev = tn.core.waitEvent(t, &from, "+s", hasJoinRule)
				assert.Equal(t, false, *ev.ChatInfo.Listed)
				carol.Send("MODE #bridged -ims")
				ev = tn.core.waitEvent(t, &from, "-ims", hasJoinRule)
				assert.Equal(t, event.JoinRulePublic, ev.ChatInfo.JoinRule)
				assert.Equal(t, true, *ev.ChatInfo.Listed)
				assert.Equal(t, 0, *ev.ChatInfo.EventsDefault)
			})

			t.Run("a topic change becomes the room topic", func(t *testing.T) {
				carol.Send("TOPIC #bridged :\x02all\x02 about bridges")
				ev := tn.core.waitEvent(t, &from, "topic", func(ev *bridge.RemoteEvent) bool {
					return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.Topic != nil
				})
				require.NotNil(t, ev.ChatInfo.Topic)
				assert.Equal(t, "all about bridges", *ev.ChatInfo.Topic)
				assert.Equal(t, bridge.RemoteUserID("carol"), ev.Sender.ID)
			})

			gina := srv.Connect(outer, "gina")
			gina.Join("#bridged")
			tn.core.waitEvent(t, &from, "gina's join", isKind(bridge.RemoteJoin))

			t.Run("without op on IRC, a Matrix user's ops and a +t topic are refused", func(t *testing.T) {
				p := tn.session(t, alice, "Alice")
				carol.Send("MODE #bridged +t")
				require.Eventually(t, func() bool {
					_, _, locked := tn.bot.memberView("#bridged", "carol")
					return locked
				}, 10*time.Second, 10*time.Millisecond)
				err := p.HandleMatrixTopic(ctx, portal, &bridge.User{MXID: alice}, "not mine")
				require.ErrorIs(t, err, bridge.ErrRefused)
				assert.Contains(t, err.Error(), "+t")
				err = p.HandleMatrixPowerLevels(ctx, portal, &bridge.User{MXID: alice}, map[bridge.RemoteUserID]int{"gina": levelOp})
				require.ErrorIs(t, err, bridge.ErrRefused)
				assert.Contains(t, err.Error(), "not a channel operator in #bridged")
				gina.Send("PRIVMSG #bridged :marker refused")
				m := carol.WaitFor("the marker", func(m *ircproto.Message) bool {
					return m.Nick() == "Alice[m]" && (m.Command == "MODE" || m.Command == "TOPIC") || irctest.IsText("PRIVMSG", "marker refused")(m)
				})
				assert.Equal(t, "gina", m.Nick(), "nothing was sent for the refused changes")
			})

			t.Run("a Matrix user's kicks and bans of ghosts need their puppet's rank, and reach IRC with it", func(t *testing.T) {
				p := tn.session(t, alice, "Alice")
				actFrom := func(target bridge.RemoteUserID, prev, ms event.Membership) error {
					evt := &event.Event{Type: event.StateMember, Sender: alice, RoomID: portal.MXID,
						Content: event.Content{Parsed: &event.MemberEventContent{Membership: ms, Reason: "spam"}}}
					return p.HandleMatrixMembership(ctx, &bridge.MatrixMembership{Portal: portal, Sender: &bridge.User{MXID: alice},
						Event: evt, Target: target, Membership: ms, Previous: prev, Reason: "spam"})
				}
				// The ghosts are in the room: a leave is a kick.
				act := func(target bridge.RemoteUserID, ms event.Membership) error {
					return actFrom(target, event.MembershipJoin, ms)
				}
				rankIs := func(nick string, level int) {
					require.Eventually(t, func() bool {
						modes, _, _ := tn.bot.memberView("#bridged", nick)
						return levelFor(modes) == level
					}, 10*time.Second, 10*time.Millisecond, "%s at %d", nick, level)
				}
				removal := func(m *ircproto.Message) bool {
					return m.Nick() == "Alice[m]" && (m.Command == "KICK" || m.Command == "MODE" && m.Param(1) == "+b")
				}
				nothingSent := func(marker string) {
					gina.Send("PRIVMSG #bridged :%s", marker)
					m := carol.WaitFor(marker, func(m *ircproto.Message) bool { return removal(m) || irctest.IsText("PRIVMSG", marker)(m) })
					assert.Equal(t, "gina", m.Nick(), "no KICK or MODE +b was sent")
				}
				kim := srv.Connect(outer, "kim")
				kim.Join("#bridged")
				tn.core.waitEvent(t, &from, "kim's join", isKind(bridge.RemoteJoin))

				err := act("kim", event.MembershipLeave)
				require.ErrorIs(t, err, bridge.ErrRefused)
				assert.Contains(t, err.Error(), "you (Alice[m]) are not a channel operator in #bridged on IRC, so you cannot kick anyone there")
				err = act("kim", event.MembershipBan)
				require.ErrorIs(t, err, bridge.ErrRefused)
				assert.Contains(t, err.Error(), "so you cannot ban anyone there")
				nothingSent("marker no rank")

				carol.Send("MODE #bridged +h Alice[m]")
				rankIs("Alice[m]", levelHalfop)
				err = act("carol", event.MembershipLeave)
				require.ErrorIs(t, err, bridge.ErrRefused, "a halfop cannot kick an op")
				assert.Contains(t, err.Error(), "half-operators cannot kick carol")
				nothingSent("marker halfop")
				require.NoError(t, act("kim", event.MembershipLeave), "a halfop kicks someone without rank")
				m := carol.WaitFor("the halfop's kick", removal)
				assert.Equal(t, []string{"#bridged", "kim", "spam"}, m.Params)
				kim.Join("#bridged")
				require.NoError(t, act("kim", event.MembershipBan), "and bans them")
				m = carol.WaitFor("the halfop's ban", removal)
				assert.Equal(t, []string{"#bridged", "+b", "kim!*@*"}, m.Params)
				m = carol.WaitFor("the halfop's kick", removal)
				assert.Equal(t, []string{"#bridged", "kim", "spam"}, m.Params)
				kim.Send("JOIN #bridged")
				kim.WaitFor("the ban holding", irctest.IsCommand(ircproto.ERR_BANNEDFROMCHAN, ""))
				require.NoError(t, actFrom("kim", event.MembershipBan, event.MembershipLeave), "an unban")
				m = carol.WaitFor("the unban", irctest.IsCommand("MODE", "Alice[m]"))
				assert.Equal(t, []string{"#bridged", "-b", "kim!*@*"}, m.Params, "an unban lifts the ban and kicks no one")
				kim.Join("#bridged")
				tn.core.waitEvent(t, &from, "kim back after the unban", isKind(bridge.RemoteJoin))

				// The bot's view behind the server: it takes the halfop for
				// an op, so the kick goes out, and the server's refusal
				// comes back as the kick's error rather than as a notice.
				ch := tn.bot.channel("#bridged")
				ch.mu.Lock()
				ch.members[tn.fold("Alice[m]")].modes = "o"
				ch.mu.Unlock()
				err = act("carol", event.MembershipLeave)
				require.ErrorIs(t, err, bridge.ErrRefused)
				assert.Contains(t, err.Error(), "#bridged on IRC refused it: ")
				tn.core.mu.Lock()
				for _, n := range tn.core.notices[alice] {
					assert.NotContains(t, n, "need to be a channel operator", "the refusal is the kick's, not a notice")
				}
				tn.core.mu.Unlock()
				gina.Send("PRIVMSG #bridged :marker stale")
				m = carol.WaitFor("the marker", func(m *ircproto.Message) bool {
					return irctest.IsCommand("KICK", "")(m) || irctest.IsText("PRIVMSG", "marker stale")(m)
				})
				assert.Equal(t, "PRIVMSG", m.Command, "carol was not kicked")

				carol.Send("MODE #bridged +o Alice[m]")
				carol.WaitFor("alice's op", irctest.IsCommand("MODE", "carol"))
				require.NoError(t, act("frank", event.MembershipBan))
				m = carol.WaitFor("the ban", removal)
				assert.Equal(t, []string{"#bridged", "+b", "frank!*@*"}, m.Params)
				m = carol.WaitFor("the kick", removal)
				assert.Equal(t, "frank", m.Params[1])
				assert.Equal(t, "spam", m.Params[2])
			})

			t.Run("as an op on IRC, a Matrix user's level changes become MODE and the topic goes out", func(t *testing.T) {
				p := tn.session(t, alice, "Alice")
				require.Eventually(t, func() bool {
					modes, _, _ := tn.bot.memberView("#bridged", "Alice[m]")
					return levelFor(modes) == levelOp
				}, 10*time.Second, 10*time.Millisecond)
				user := &bridge.User{MXID: alice}
				require.NoError(t, p.HandleMatrixPowerLevels(ctx, portal, user, map[bridge.RemoteUserID]int{"gina": levelOp}))
				m := carol.WaitFor("gina's op", irctest.IsCommand("MODE", "Alice[m]"))
				assert.Equal(t, []string{"#bridged", "+o", "gina"}, m.Params)
				ev := tn.core.waitEvent(t, &from, "gina's level", hasLevels)
				assert.Equal(t, map[bridge.RemoteUserID]int{"gina": levelOp}, ev.ChatInfo.PowerLevels)
				require.NoError(t, p.HandleMatrixPowerLevels(ctx, portal, user, map[bridge.RemoteUserID]int{"gina": levelVoice}))
				m = carol.WaitFor("gina's deop and voice", irctest.IsCommand("MODE", "Alice[m]"))
				assert.Equal(t, []string{"#bridged", "-o+v", "gina", "gina"}, m.Params, "one line, so Matrix sees one level change")
				ev = tn.core.waitEvent(t, &from, "gina's level", hasLevels)
				assert.Equal(t, map[bridge.RemoteUserID]int{"gina": levelVoice}, ev.ChatInfo.PowerLevels, "straight to voice, not to 0 on the way")
				require.NoError(t, p.HandleMatrixTopic(ctx, portal, user, "set from Matrix"))
				m = carol.WaitFor("the topic", irctest.IsCommand("TOPIC", "Alice[m]"))
				assert.Equal(t, "set from Matrix", m.Params[1])
			})

			if kind == irctest.InspIRCd {
				t.Run("away-notify becomes presence", func(t *testing.T) {
					carol.Send("AWAY :lunch")
					ev := tn.core.waitEvent(t, &from, "away", isKind(bridge.RemotePresence))
					assert.Equal(t, event.PresenceUnavailable, ev.Presence.State)
					assert.Equal(t, "lunch", ev.Presence.Status)
					carol.Send("AWAY")
					ev = tn.core.waitEvent(t, &from, "back", isKind(bridge.RemotePresence))
					assert.Equal(t, event.PresenceOnline, ev.Presence.State)
				})
			}

			t.Run("a private message to a puppet goes to the user's DM portal", func(t *testing.T) {
				carol.Send("PRIVMSG Alice[m] :psst")
				ev := tn.core.waitEvent(t, &from, "the PM", isMessage("psst"))
				assert.Equal(t, tn.dmKey("carol", alice), ev.Portal)
				assert.True(t, ev.CreatePortal)
				assert.True(t, ev.ChatInfo.IsDM)
				dm, _ := tn.core.GetPortal(ctx, ev.Portal)
				err := tn.send(t, matrixMessage(dm, alice, "", "psst back"), "Alice")
				require.NoError(t, err)
				m := carol.WaitFor("the answer", irctest.IsText("PRIVMSG", "psst back"))
				assert.Equal(t, "carol", m.Params[0])
			})

			t.Run("Matrix members get puppets in the channel, and leave it with the room", func(t *testing.T) {
				bob := id.UserID("@bob:" + testDomain)
				tn.membership(t, portal, bob, "Bob Jöhnson", event.MembershipJoin, "")
				carol.WaitFor("bob's puppet joining", irctest.IsCommand("JOIN", "BobJohnson[m]"))
				tn.membership(t, portal, bob, "Bob J", event.MembershipJoin, event.MembershipJoin)
				m := carol.WaitFor("bob's rename", irctest.IsCommand("NICK", "BobJohnson[m]"))
				assert.Equal(t, "BobJ[m]", m.Params[0])
				tn.membership(t, portal, bob, "", event.MembershipLeave, event.MembershipJoin)
				carol.WaitFor("bob's puppet leaving", irctest.IsCommand("QUIT", "BobJ[m]"))
			})

			t.Run("past max_puppets the bot relays with the user's name", func(t *testing.T) {
				tn.cfg.Limits.MaxPuppets = 1
				defer func() { tn.cfg.Limits.MaxPuppets = 0 }()
				l, s, err := tn.AutoSession(ctx, &bridge.User{MXID: "@zed:" + testDomain})
				require.NoError(t, err)
				assert.Nil(t, l)
				assert.Nil(t, s, "no session: the core relays")
				_, err = tn.HandleRelayMessage(ctx, matrixMessage(portal, "@zed:"+testDomain, "Zed", "relayed"))
				require.NoError(t, err)
				m := carol.WaitFor("the relayed line", irctest.IsText("PRIVMSG", "relayed"))
				assert.Equal(t, "<Zed> relayed", m.Trailing())
				assert.True(t, tn.bot.isMe(m.Nick()))
			})

			t.Run("a Matrix user kicked on IRC is told, and removed through their double puppet", func(t *testing.T) {
				carol.Send("KICK #bridged Alice[m] :behave")
				ev := tn.core.waitEvent(t, &from, "the kick", isKind(bridge.RemoteKick))
				assert.Equal(t, alice, ev.Member.Matrix)
				tn.core.waitNotice(t, alice, "kicked from #bridged by carol: behave")
			})
		})
	}
}

func hasLevels(ev *bridge.RemoteEvent) bool {
	return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.PowerLevels != nil
}

func hasJoinRule(ev *bridge.RemoteEvent) bool {
	return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.JoinRule != ""
}

func TestResolveChat(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	carol := srv.Connect(t, "carol")
	carol.Join("#open")
	carol.Send("TOPIC #open :welcome")
	carol.Join("#secret")
	carol.Send("MODE #secret +i")
	tn := startNetwork(t, srv, func(c *Config) {
		c.Channels = nil
		c.DynamicChannels = DynamicChannels{Enabled: true, Deny: []string{"#no-*"}}
	})
	ctx := testCtx(t)
	for _, tc := range []struct {
		name, chat string
		wantErr    error
	}{
		{"a denied pattern is no such room", "#no-bridge", bridge.ErrPortalNotFound},
		{"a name that is no channel is no such room", "nochannel", bridge.ErrPortalNotFound},
		{"an invite-only channel cannot be joined", "#secret", ErrChannelRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tn.ResolveChat(ctx, tc.chat)
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}
	t.Run("an allowed channel is joined and described", func(t *testing.T) {
		chat, info, err := tn.ResolveChat(ctx, "#Open")
		require.NoError(t, err)
		assert.Equal(t, bridge.ChatID("#open"), chat, "chat IDs are casefolded")
		require.NotNil(t, info.Topic)
		assert.Equal(t, "welcome", *info.Topic)
		assert.Equal(t, "#Open", *info.Name)
		assert.Equal(t, levelOp, info.PowerLevels["carol"])
	})
	t.Run("the member sync waits for the core to make the room", func(t *testing.T) {
		from := tn.core.end()
		time.Sleep(200 * time.Millisecond)
		for _, ev := range tn.core.since(from) {
			// Mode and topic updates may come (the core drops them while
			// there is no room); the member list must wait for the room.
			assert.False(t, ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo != nil && ev.ChatInfo.Members != nil,
				"no member list is synced into a room that does not exist yet")
		}
		tn.core.addPortal(tn.channelKey("#open"))
		ev := tn.core.waitEvent(t, &from, "member list", func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.Members != nil
		})
		assert.Equal(t, []bridge.Sender{tn.ghostSender("carol")}, ev.ChatInfo.Members)
	})
}

func TestPrivateMessageGuard(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	for _, tc := range []struct {
		name      string
		policy    PMPolicy
		perHour   int
		pms       int
		delivered int
		refusal   string
	}{
		{"with PMs off nothing is delivered and the sender is told", PMOff, 5, 1, 0, "does not accept private messages"},
		{"identified-only refuses senders without an account", PMIdentified, 5, 1, 0, "only accepts private messages from users identified"},
		{"a sender opens only as many new DMs an hour as allowed", PMAccept, 2, 4, 2, "not accepting new conversations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := startNetwork(t, srv, func(c *Config) {
				c.Name = "pm" + strings.ToLower(string(tc.policy))
				c.Channels = nil
				c.PrivateMessages = PMConfig{Policy: tc.policy, InvitesPerHour: tc.perHour}
				c.Bot.Nick = "Bot" + string(tc.policy)
			})
			// Puppets that register before the bot are cut to the default
			// NICKLEN of 9 and rename once the server's is known; the PMs
			// below go to the nick each puppet has when it is up.
			require.Eventually(t, func() bool { return tn.bot.conn.current() != nil }, 15*time.Second, 10*time.Millisecond)
			spammer := srv.Connect(t, "spam"+string(tc.policy))
			var users []id.UserID
			for i := range tc.pms {
				u := id.UserID("@" + string(tc.policy) + string(rune('a'+i)) + ":" + testDomain)
				_, c := tn.startPuppet(t, u)
				users = append(users, u)
				spammer.Send("PRIVMSG %s :buy now", c.Nick())
			}
			if tc.refusal != "" {
				m := spammer.WaitFor("the refusal", irctest.IsText("NOTICE", tc.refusal))
				assert.Contains(t, m.Trailing(), "[m]")
			}
			spammer.Send("PRIVMSG %s :marker", tn.bot.conn.current().Nick())
			time.Sleep(300 * time.Millisecond)
			got := 0
			for _, ev := range tn.core.since(0) {
				if ev.Kind == bridge.RemoteMessage && ev.Content.Body == "buy now" {
					got++
				}
			}
			assert.Equal(t, tc.delivered, got)
			_ = users
		})
	}
}

func TestNetsplitIsDebounced(t *testing.T) {
	n, core := offlineNetwork(t, "split", func(c *Config) {
		c.Membership.NetsplitDelay = Duration(100 * time.Millisecond)
		c.Membership.JoinRate = 1000
	})
	key := n.channelKey("#chan")
	core.addPortal(key)
	// Closed, so what the bot sends (the MODE query on joining) goes nowhere.
	conn := &Conn{nick: "IsthmusBot", cfg: &connConfig{}, done: make(chan struct{})}
	close(conn.done)
	conn.isupport.Store(ircproto.NewISupport())
	feed := func(line string) {
		m, err := ircproto.Parse(line)
		require.NoError(t, err)
		n.bot.handle(conn, m)
	}
	n.bot.wanted["#chan"] = wantedChannel{name: "#chan"}
	feed(":IsthmusBot!b@h JOIN #chan")
	feed(":srv 353 IsthmusBot = #chan :IsthmusBot @op a b c d")
	feed(":srv 366 IsthmusBot #chan :End of NAMES")
	from := 0
	core.waitEvent(t, &from, "first sync", func(ev *bridge.RemoteEvent) bool { return ev.ChatInfo != nil && ev.ChatInfo.Members != nil })

	t.Run("split QUITs make no leave events, and returning users none either", func(t *testing.T) {
		start := core.end()
		for _, nick := range []string{"a", "b", "c", "d"} {
			feed(":" + nick + "!u@h QUIT :hub.example.net leaf.example.net")
		}
		feed(":a!u@h JOIN #chan")
		feed(":b!u@h JOIN #chan")
		from := start
		ev := core.waitEvent(t, &from, "the reconcile", func(ev *bridge.RemoteEvent) bool { return ev.ChatInfo != nil && ev.ChatInfo.Members != nil })
		var names []string
		for _, m := range ev.ChatInfo.Members {
			names = append(names, string(m.ID))
		}
		assert.ElementsMatch(t, []string{"op", "a", "b"}, names, "c and d are reconciled away in one go")
		for _, ev := range core.since(start) {
			assert.NotEqual(t, bridge.RemoteLeave, ev.Kind, "no leave per user")
		}
	})

	t.Run("an ordinary QUIT leaves at once", func(t *testing.T) {
		start := core.end()
		feed(":op!u@h QUIT :Quit: bye")
		ev := core.waitEvent(t, &start, "leave", isKind(bridge.RemoteLeave))
		assert.Equal(t, bridge.RemoteUserID("op"), ev.Member.ID)
	})

	t.Run("a new member list is drip-fed at join_rate, then reconciled once", func(t *testing.T) {
		n.cfg.Membership.JoinRate = 20
		n.bot.wanted["#drip"] = wantedChannel{name: "#drip"}
		core.addPortal(n.channelKey("#drip"))
		start, began := core.end(), time.Now()
		feed(":IsthmusBot!b@h JOIN #drip")
		feed(":srv 353 IsthmusBot = #drip :IsthmusBot m1 m2 m3 m4 m5 m6")
		feed(":srv 366 IsthmusBot #drip :End of NAMES")
		from := start
		core.waitEvent(t, &from, "the reconcile", func(ev *bridge.RemoteEvent) bool {
			return ev.Portal.Chat == "#drip" && ev.ChatInfo != nil && ev.ChatInfo.Members != nil
		})
		assert.GreaterOrEqual(t, time.Since(began), 280*time.Millisecond, "six joins at 20 a second")
		joins := 0
		for _, ev := range core.since(start) {
			if ev.Kind == bridge.RemoteJoin {
				joins++
			}
		}
		assert.Equal(t, 6, joins)
	})

	t.Run("netsplit reasons are told from ordinary ones", func(t *testing.T) {
		assert.True(t, isNetsplit("irc.a.net irc.b.net"))
		assert.True(t, isNetsplit("*.net *.split"))
		assert.False(t, isNetsplit("Quit: see you at irc.a.net"))
		assert.False(t, isNetsplit("Ping timeout: 240 seconds"))
	})
}
