package irc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestShortLinesCrashNothing has a server send the bot and a puppet every
// numeric and every command with as few parameters as the parser lets
// through: a handler that reads a parameter the command table does not
// promise panics on its reader goroutine, which ends the whole bridge.
func TestShortLinesCrashNothing(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, nil)
	_, pc := tn.startPuppet(t, alice)
	srv.waitLine(t, "JOIN #bridged")
	bot := tn.bot.conn.current()
	require.NotNil(t, bot)

	// Lines that end a connection on purpose are left out: the point is
	// what the handlers read, and the rest must reach a live connection.
	closing := map[string]bool{"ERROR": true, "KILL": true, ircproto.ERR_YOUREBANNEDCREEP: true, ircproto.ERR_PASSWDMISMATCH: true}
	commands := []string{"PRIVMSG", "NOTICE", "TAGMSG", "JOIN", "PART", "QUIT", "KICK", "NICK", "MODE", "TOPIC", "INVITE",
		"PING", "PONG", "CAP", "AUTHENTICATE", "ACCOUNT", "AWAY", "CHGHOST", "SETNAME", "BATCH", "FAIL", "WARN", "NOTE", "WALLOPS"}
	for n := 1; n < 1000; n++ {
		commands = append(commands, fmt.Sprintf("%03d", n))
	}
	for _, conn := range []*Conn{bot, pc} {
		me := conn.Nick()
		params := []string{me, "#bridged", "x", "x", "x", "x", "x", "x", "x"}
		for _, cmd := range commands {
			if closing[cmd] {
				continue
			}
			least, known := ircproto.MinParams(cmd)
			counts := []int{least}
			if !known {
				counts = []int{0, 1}
			}
			for _, k := range counts {
				src := ":fake"
				if cmd[0] > '9' {
					src = ":hostile!h@evil.test"
				}
				srv.to(me, strings.TrimSpace(src+" "+cmd+" "+strings.Join(params[:k], " ")))
			}
		}
		srv.to(me, "PING :survived-"+me)
		srv.waitLine(t, "survived-"+me)
	}
	assert.Same(t, bot, tn.bot.conn.current(), "the bot's connection is the one the lines went to")
	assert.NoError(t, bot.Err())
	assert.NoError(t, pc.Err())
}

// TestJoinsAnsweredOddlyFailTheMessage: a JOIN the server answers with a
// forward, with a refusal numeric of its own, or not at all fails the
// message that needed it, with the server's reason, instead of holding
// the room's queue; a forward's channel is left.
func TestJoinsAnsweredOddlyFailTheMessage(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = []ChannelConfig{{Channel: "#botdelay"}} })
	tn.joinTimeout = 500 * time.Millisecond
	p, pc := tn.startPuppet(t, alice)
	me := pc.Nick()

	for _, tc := range []struct {
		name    string
		channel string
		answer  []string // "%s" is the puppet's nick
		want    string
	}{
		{"a forward", "#full", []string{
			":fake 470 %s #full ##overflow :Forwarding to another channel",
			":%s!u@h JOIN ##overflow",
		}, "forwarded to ##overflow"},
		{"a refusal numeric the bridge has no name for", "#delay", []string{
			":fake 495 %s #delay :You must wait 60 seconds after being kicked to rejoin (+J is set)",
		}, "You must wait 60 seconds"},
		{"no answer", "#silent", nil, "did not answer the join of #silent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tn.channelKey(tc.channel)
			portal := &bridge.Portal{Key: key, MXID: tn.core.addPortal(key)}
			done := make(chan error, 1)
			go func() {
				_, err := p.HandleMatrixMessage(testCtx(t), matrixMessage(portal, alice, "", "hello "+tc.channel))
				done <- err
			}()
			srv.waitLine(t, me+": JOIN "+tc.channel)
			for _, l := range tc.answer {
				srv.to(me, fmt.Sprintf(l, me))
			}
			select {
			case err := <-done:
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrChannelRefused)
				assert.ErrorIs(t, err, bridge.ErrPermanent, "the message is reported, not retried")
				assert.Contains(t, err.Error(), tc.want)
			case <-time.After(10 * time.Second):
				t.Fatal("the message still waits for its join")
			}
			assert.Zero(t, srv.count(me+": PRIVMSG "+tc.channel), "nothing was sent to a channel the puppet is not in")
		})
	}
	srv.waitLine(t, me+": PART ##overflow")

	t.Run("the bot takes a refusal numeric it has no name for as a refusal, and retries", func(t *testing.T) {
		bot := tn.bot.conn.current()
		require.NotNil(t, bot)
		srv.waitLine(t, bot.Nick()+": JOIN #botdelay")
		srv.to(bot.Nick(), ":fake 495 "+bot.Nick()+" #botdelay :You must wait 60 seconds after being kicked to rejoin (+J is set)")
		require.Eventually(t, func() bool { return srv.count(bot.Nick()+": JOIN #botdelay") >= 2 }, 10*time.Second, 10*time.Millisecond,
			"the bot retries the refused channel")
	})
}

// TestOnlyServicesWriteToTheManagementRoom: NickServ's notices reach the
// user's management room, where they type passwords; a lookalike nick's
// do not, and go through the PM rules like anyone's.
func TestOnlyServicesWriteToTheManagementRoom(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = nil })
	_, pc := tn.startPuppet(t, alice)
	me := pc.Nick()
	from := tn.core.end()

	srv.to(me, ":NlckServ!x@evil.test NOTICE "+me+" :Your session expired, send: login test yournick yourpassword")
	srv.to(me, ":nickserv!services@services.test NOTICE "+me+" :You are now identified for alice.")
	tn.core.waitNotice(t, alice, "nickserv: You are now identified")
	tn.core.waitEvent(t, &from, "the lookalike's notice, as a PM", func(ev *bridge.RemoteEvent) bool {
		return ev.Kind == bridge.RemoteMessage && ev.Portal == tn.dmKey("NlckServ", alice)
	})
	tn.core.mu.Lock()
	defer tn.core.mu.Unlock()
	for _, n := range tn.core.notices[alice] {
		assert.NotContains(t, n, "Your session expired", "a lookalike wrote to the management room")
	}
}

// TestLoginDoesNotRepeatABadNick: a password typed where the nick goes is
// not written back in the answer, which stays in the management room.
func TestLoginDoesNotRepeatABadNick(t *testing.T) {
	n, _ := offlineNetwork(t, "test", nil)
	_, _, err := n.Login(testCtx(t), &bridge.User{MXID: alice}, []string{"hunter2!secret"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Contains(t, err.Error(), "not a valid IRC nick")
}

// TestMessageIntoASilentLinkIsReported: when the server stops answering
// (a half-open link) just after a message was written, the connection is
// made again instead of written into for minutes, and the message is
// reported as maybe lost: sending it again could say it twice.
func TestMessageIntoASilentLinkIsReported(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = nil })
	tn.fenceTimeout.Store(int64(500 * time.Millisecond))
	key := tn.dmKey("bob", alice)
	portal := &bridge.Portal{Key: key, MXID: tn.core.addPortal(key)}
	p, pc := tn.startPuppet(t, alice)
	me := pc.Nick()

	_, err := p.HandleMatrixMessage(testCtx(t), matrixMessage(portal, alice, "", "while it answers"))
	require.NoError(t, err, "a message the server confirms is delivered")
	srv.deafen(me, true)
	_, err = p.HandleMatrixMessage(testCtx(t), matrixMessage(portal, alice, "", "into the void"))
	require.Error(t, err)
	assert.ErrorIs(t, err, bridge.ErrPermanent, "reported to the user, not sent again")
	assert.Contains(t, err.Error(), "may not have arrived")
	assert.Equal(t, 1, srv.count(me+": PRIVMSG bob :into the void"))
	require.Eventually(t, func() bool { c := p.conn.current(); return c != nil && c != pc }, 10*time.Second, 10*time.Millisecond,
		"the silent connection was dropped and made again")
}

// TestChannelChangeRefusalIsItsOwn: a topic or level change the bot's
// view allowed but the server refuses (482, the view was stale) fails that
// change, so the core puts the Matrix side back, and the message sent
// after it is not taken for refused.
func TestChannelChangeRefusalIsItsOwn(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = []ChannelConfig{{Channel: "#chan"}} })
	key := tn.channelKey("#chan")
	portal := &bridge.Portal{Key: key, MXID: tn.core.addPortal(key)}
	srv.waitLine(t, "JOIN #chan")
	bot := tn.bot.conn.current()
	require.NotNil(t, bot)
	p, pc := tn.startPuppet(t, alice)
	me := pc.Nick()
	srv.to(bot.Nick(), fmt.Sprintf(":%s!b@h JOIN #chan", bot.Nick()))
	srv.to(bot.Nick(), fmt.Sprintf(":fake 353 %s = #chan :%s @%s gina", bot.Nick(), bot.Nick(), me))
	srv.to(bot.Nick(), fmt.Sprintf(":fake 366 %s #chan :End of NAMES", bot.Nick()))
	tn.waitBotIn(t, "#chan")

	// The server refuses every TOPIC and MODE from the puppet, and takes
	// its messages.
	// The PONG after the change is held until the refusal is written, as
	// a server answers lines in order.
	answer := func(t *testing.T, sent string, before int) {
		srv.waitLine(t, me+": "+sent)
		var pings []string
		require.Eventually(t, func() bool {
			pings = srv.lines(me + ": PING ")
			return len(pings) > before
		}, 10*time.Second, 10*time.Millisecond, "the PING after the change")
		ping := pings[len(pings)-1]
		srv.to(me, ":fake 482 "+me+" #chan :You're not channel operator")
		srv.to(me, ":fake PONG fake "+ping[strings.LastIndex(ping, " ")+1:])
		srv.deafen(me, false)
	}
	joined := make(chan struct{})
	go func() {
		srv.waitLine(t, me+": JOIN #chan")
		srv.to(me, fmt.Sprintf(":%s!u@h JOIN #chan", me))
		close(joined)
	}()
	for _, tc := range []struct {
		name   string
		sent   string
		change func() error
	}{
		{"a topic", "TOPIC #chan", func() error {
			return p.HandleMatrixTopic(testCtx(t), portal, &bridge.User{MXID: alice}, "from Matrix")
		}},
		{"a level", "MODE #chan +o gina", func() error {
			return p.HandleMatrixPowerLevels(testCtx(t), portal, &bridge.User{MXID: alice}, map[bridge.RemoteUserID]int{"gina": levelOp})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.deafen(me, true)
			before := srv.count(me + ": PING ")
			done := make(chan error, 1)
			go func() { done <- tc.change() }()
			<-joined
			select {
			case err := <-done:
				t.Fatalf("the change ended before the server answered: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			answer(t, tc.sent, before)
			err := <-done
			require.Error(t, err)
			assert.ErrorIs(t, err, bridge.ErrRefused, "the core puts the Matrix side back")
			assert.Contains(t, err.Error(), "You're not channel operator")
			_, err = p.HandleMatrixMessage(testCtx(t), matrixMessage(portal, alice, "", "after "+tc.name))
			assert.NoError(t, err, "the message after the refused change is delivered")
		})
	}
}

// TestRelayedMessageIntoASilentLinkIsReported: a message the bot relays
// (past max_puppets) into a link that went silent is reported as maybe
// lost, like a puppet's, and the bot's connection is made again.
func TestRelayedMessageIntoASilentLinkIsReported(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = []ChannelConfig{{Channel: "#chan"}} })
	tn.fenceTimeout.Store(int64(500 * time.Millisecond))
	key := tn.channelKey("#chan")
	portal := &bridge.Portal{Key: key, MXID: tn.core.addPortal(key)}
	srv.waitLine(t, "JOIN #chan")
	bot := tn.bot.conn.current()
	require.NotNil(t, bot)

	srv.deafen(bot.Nick(), true)
	_, err := tn.HandleRelayMessage(testCtx(t), matrixMessage(portal, "@zed:"+testDomain, "Zed", "relayed into the void"))
	require.Error(t, err)
	assert.ErrorIs(t, err, bridge.ErrPermanent)
	assert.Contains(t, err.Error(), "may not have arrived")
	srv.deafen(bot.Nick(), false)
	require.Eventually(t, func() bool { c := tn.bot.conn.current(); return c != nil && c != bot }, 10*time.Second, 10*time.Millisecond,
		"the silent connection was dropped and made again")
	_, err = tn.HandleRelayMessage(testCtx(t), matrixMessage(portal, "@zed:"+testDomain, "Zed", "relayed again"))
	require.NoError(t, err)
}

// TestRegainBacksOffAcrossForcedRenames: a puppet that gets its nick back
// and is then renamed away again (services guarding a registered nick) on
// the same connection keeps backing off, instead of asking every minute.
func TestRegainBacksOffAcrossForcedRenames(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = nil })
	tn.regainWait = time.Minute // longer than the test: the timer never fires here
	p, pc := tn.startPuppet(t, alice)
	var tries []int
	for range 3 {
		p.armRegain(pc) // renamed away from the wanted nick
		p.mu.Lock()
		tries = append(tries, p.regain.tries)
		p.mu.Unlock()
		p.stopRegain(pc) // got it back
	}
	assert.Equal(t, []int{0, 1, 2}, tries)
	assert.Less(t, tn.regainDelay(0), tn.regainDelay(2)/2, "each round waits longer")
}

// TestAwayUsersFollowACasemappingChange: who is away is kept across a
// casemapping change, under each member's new key, so someone away then
// is shown back when they return instead of staying away in Matrix.
func TestAwayUsersFollowACasemappingChange(t *testing.T) {
	n, _ := offlineNetwork(t, "cm", nil)
	rfc, ascii := ircproto.CasemapRFC1459, ircproto.CasemapASCII
	ch := newChannel(n, "#c", false)
	ch.members[rfc.Fold("Ally[x]")] = &member{nick: "Ally[x]"}
	n.bot.channels[rfc.Fold("#c")] = ch
	n.bot.away = map[string]string{rfc.Fold("Ally[x]"): "lunch", rfc.Fold("Gone[y]"): "no entry"}
	n.bot.rekey(rfc, ascii)
	assert.Equal(t, map[string]string{ascii.Fold("Ally[x]"): "lunch"}, n.bot.away)
}
