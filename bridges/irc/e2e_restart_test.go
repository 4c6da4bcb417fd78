package irc

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
)

// relayWorld is a world whose bridge reaches the IRC server through a
// relay, where a message waits upWait for its puppet's connection and the
// core tries it maxAttempts times.
type relayWorld struct {
	*world
	relay *relay
	log   *logBuffer
}

func newRelayWorld(t *testing.T, kind irctest.Kind, upWait time.Duration, maxAttempts int) *relayWorld {
	t.Helper()
	w := &relayWorld{world: &world{t: t, irc: irctest.Start(t, kind)}, log: &logBuffer{}}
	w.relay = startRelay(t, w.irc.Addr)
	opts := worldOptions(w.relay.addr)
	opts.Log = w.log
	opts.BeforeStart = func(nets []bridge.Network) {
		for _, n := range nets {
			if in, ok := n.(*Network); ok {
				in.upWait = upWait
			}
		}
	}
	w.World = bridgeworld.New(t, opts)
	w.hs = w.HS
	setConfig(t, w.ConfigPath, "appservice", "max_attempts", maxAttempts)
	w.StartBridge()
	return w
}

// setConfig sets one key of a section of the bridge's config file.
func setConfig(t *testing.T, path, section, key string, value any) {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	sec, ok := cfg[section].(map[any]any)
	require.True(t, ok, "no %s section", section)
	sec[key] = value
	data, err = yaml.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

// saidBy collects, in the order they came and each once, the PRIVMSGs
// from nick until one with the text last, which ends the list.
func saidBy(c *irctest.Client, nick, last string) []string {
	seen := map[*ircproto.Message]bool{}
	var got []string
	c.WaitFor(nick+" saying "+last, func(m *ircproto.Message) bool {
		if m.Command != "PRIVMSG" || !strings.EqualFold(m.Nick(), nick) {
			return false
		}
		// WaitFor looks at the lines again each time more come.
		if !seen[m] {
			seen[m] = true
			got = append(got, m.Trailing())
		}
		return m.Trailing() == last
	})
	return got
}

// eachOf waits until every one of nicks sent command, in any order.
func eachOf(c *irctest.Client, command string, nicks ...string) {
	seen := map[string]bool{}
	c.WaitFor(command+" from each of "+strings.Join(nicks, ", "), func(m *ircproto.Message) bool {
		if m.Command == command {
			seen[strings.ToLower(m.Nick())] = true
		}
		for _, n := range nicks {
			if !seen[strings.ToLower(n)] {
				return false
			}
		}
		return true
	})
}

// meet puts carol in channel on IRC and alice in its portal on Matrix,
// and waits until alice's puppet joined.
func (w *world) meet(channel string) (*irctest.Client, *mxUser, id.RoomID) {
	w.t.Helper()
	carol := w.irc.Connect(w.t, "carol")
	carol.Join(channel)
	alice := w.newUser("alice")
	room := alice.joinChannel(channel)
	carol.WaitFor("alice's puppet", irctest.IsCommand("JOIN", "alice[m]"))
	return carol, alice, room
}

func (u *mxUser) say(room id.RoomID, text string) id.EventID {
	u.t.Helper()
	resp, err := u.client.SendText(ctxT(u.t), room, text)
	require.NoError(u.t, err)
	return resp.EventID
}

// TestMessagesOutliveAnIRCOutage sends Matrix messages while the bridge
// cannot reach the IRC server, which restarts meanwhile: once it is back
// they arrive once each, in order, and none is reported lost.
func TestMessagesOutliveAnIRCOutage(t *testing.T) {
	t.Parallel()
	// Each message may wait a minute for the puppet, twice: far more than
	// the restart and reconnect take even on a loaded machine, and it
	// costs nothing when they are quick.
	w := newRelayWorld(t, irctest.NgIRCd, time.Minute, 2)
	carol, alice, room := w.meet("#outage")
	before := alice.say(room, "before the outage")
	carol.WaitFor("alice's first message", irctest.IsText("PRIVMSG", "before the outage"))
	// A message whose PONG is cut off is reported, as it may or may not
	// have arrived; so is one written into the link as it dies. The
	// outage starts once the first message is wholly done (the room's
	// next event is being handled) and messages are sent once the puppet
	// knows its link is gone: what is tested is what waits for the server.
	resp, err := alice.client.SendReaction(ctxT(t), room, before, "👍")
	require.NoError(t, err)
	alice.eventually("the first message done", func() bool { return w.log.has("Handling Matrix event", resp.EventID.String()) })
	down := w.log.count(`"state":"disconnected"`)
	w.relay.cut()
	w.irc.Stop()
	alice.eventually("the puppet aware its link is gone", func() bool { return w.log.count(`"state":"disconnected"`) > down })
	texts := []string{"one while down", "two while down", "three while down\nand its second line", "four while down"}
	first := alice.say(room, texts[0])
	for _, text := range texts[1:] {
		alice.say(room, text)
	}
	alice.eventually("the first message waiting in the bridge", func() bool {
		return w.log.has("Handling Matrix event", first.String())
	})
	w.irc.Restart()
	// dave watches from the other side of the restart.
	dave := w.irc.Connect(t, "dave")
	dave.Join("#outage")
	w.relay.open()
	// The reconnect backoff grew during the outage, past the 20 s of a
	// WaitFor on a loaded machine, so the puppet is let back first.
	require.NotNil(t, dave.TryWaitFor(90*time.Second, irctest.IsCommand("JOIN", "alice[m]")), "alice's puppet back in the channel")
	alice.say(room, "after the outage")
	want := strings.Split(strings.Join(texts, "\n"), "\n")
	assert.Equal(t, append(want, "after the outage"), saidBy(dave, "alice[m]", "after the outage"))
	for _, evt := range alice.timeline(room) {
		assert.False(t, noticeFromBot("not delivered")(evt), "no message may be reported lost: %s", bodyOf(evt))
	}
}

// TestUndeliverableMessageIsReported: a Matrix message the puppet cannot
// deliver in time, while the bridge cannot reach the IRC server, is
// reported in the room, and never sent later.
func TestUndeliverableMessageIsReported(t *testing.T) {
	t.Parallel()
	// The wait here is meant to run out: two attempts of 4 s each, with
	// a second between them.
	w := newRelayWorld(t, irctest.NgIRCd, 4*time.Second, 2)
	carol, alice, room := w.meet("#void")

	w.relay.cut()
	lost := alice.say(room, "into the void")
	notice := alice.bw().WaitForWithin(room, "the not-delivered notice", 60*time.Second, func(evt *event.Event) bool {
		return noticeFromBot("not delivered")(evt) && evt.Content.AsMessage().RelatesTo.GetReplyTo() == lost
	})
	t.Logf("the user was told: %s", bodyOf(notice))
	w.relay.open()
	// The reconnect backoff grew during the outage, past what this
	// test's short wait covers, so the puppet is let back first.
	require.NotNil(t, carol.TryWaitFor(90*time.Second, irctest.IsCommand("JOIN", "alice[m]")), "alice's puppet back in the channel")
	alice.say(room, "back again")
	assert.Equal(t, []string{"back again"}, saidBy(carol, "alice[m]", "back again"))
}

// TestBridgeRestart stops and starts the bridge between messages: the bot
// and the puppet come back into the channel, messages go both ways after,
// and nothing from before the restart is sent again.
func TestBridgeRestart(t *testing.T) {
	t.Parallel()
	w := newWorld(t, irctest.NgIRCd)
	carol, alice0, room := w.meet("#restart")
	alice0.say(room, "matrix before the restart")
	carol.Send("PRIVMSG #restart :irc before the restart")
	alice0.waitFor(room, "carol's message", isBody("irc before the restart"))
	carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "matrix before the restart"))

	t.Run("the bot and the puppet rejoin, and messages go both ways once", func(t *testing.T) {
		alice := alice0.in(t)
		w.stopBridge()
		eachOf(carol, "QUIT", "IsthmusBot", "alice[m]")
		w.startBridge()
		eachOf(carol, "JOIN", "IsthmusBot", "alice[m]")
		carol.Send("PRIVMSG #restart :irc after the restart")
		alice.waitFor(room, "carol's message after the restart", isBody("irc after the restart"))
		alice.say(room, "matrix after the restart")
		assert.Equal(t, []string{"matrix after the restart"}, saidBy(carol, "alice[m]", "matrix after the restart"),
			"nothing from before the restart is sent again")
		counts := map[string]int{}
		for _, evt := range alice.timeline(room) {
			counts[bodyOf(evt)]++
		}
		assert.Equal(t, 1, counts["irc before the restart"])
		assert.Equal(t, 1, counts["irc after the restart"])
	})

	t.Run("a display name change is a nick change on IRC", func(t *testing.T) {
		alice := alice0.in(t)
		require.NoError(t, alice.client.SetDisplayName(ctxT(t), "Alicia"))
		m := carol.WaitFor("the new nick", irctest.IsCommand("NICK", "alice[m]"))
		assert.Equal(t, "Alicia[m]", m.Params[0])
		alice.say(room, "new name")
		m = carol.WaitFor("a message under the new nick", irctest.IsText("PRIVMSG", "new name"))
		assert.Equal(t, "Alicia[m]", m.Nick())
	})

	t.Run("Matrix presence back online after away clears AWAY on IRC", func(t *testing.T) {
		alice := alice0.in(t)
		away := func() *ircproto.Message {
			carol.Skip()
			carol.Send("WHOIS Alicia[m]")
			return carol.WaitFor("the WHOIS", func(m *ircproto.Message) bool {
				return m.Command == ircproto.RPL_AWAY || m.Command == ircproto.RPL_ENDOFWHOIS
			})
		}
		presence := func(state event.Presence, status string) {
			content := map[string]any{"presence": state}
			if status != "" {
				content["status_msg"] = status
			}
			w.pushRaw(map[string]any{"events": []any{}, "ephemeral": []any{map[string]any{
				"type": "m.presence", "sender": alice.id, "content": content}}})
		}
		presence(event.PresenceUnavailable, "at lunch")
		require.Eventually(t, func() bool {
			m := away()
			return m.Command == ircproto.RPL_AWAY && m.Trailing() == "at lunch"
		}, 20*time.Second, 200*time.Millisecond, "alice's puppet is away")
		presence(event.PresenceOnline, "")
		require.Eventually(t, func() bool { return away().Command == ircproto.RPL_ENDOFWHOIS },
			20*time.Second, 200*time.Millisecond, "alice's puppet is back")
	})

	t.Run("the bot rejoins a channel it was kicked from", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("KICK #restart IsthmusBot :out with you")
		carol.WaitFor("the bot back", irctest.IsCommand("JOIN", "IsthmusBot"))
		carol.Send("PRIVMSG #restart :after the kick")
		alice.waitFor(room, "carol's message after the kick", isBody("after the kick"))
	})
}
