package irc

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"sync"
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

// breaker stands between the bridge and the IRC server. Cut, it drops
// every connection through it and refuses new ones: the bridge finds the
// server gone, while the test's own IRC clients, connected directly, stay
// and see everything the bridge sends once it is restored. (The gate of
// e2e_keys_test.go holds new connections instead, and drops none.)
type breaker struct {
	addr, target string

	mu    sync.Mutex
	shut  bool
	conns []net.Conn
}

func startBreaker(t *testing.T, target string) *breaker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &breaker{addr: ln.Addr().String(), target: target}
	t.Cleanup(func() { _ = ln.Close(); g.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.pass(c)
		}
	}()
	return g
}

// pass joins a client to the server, unless the breaker is cut or the
// server is down: then the client finds the connection closed.
func (g *breaker) pass(c net.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var up net.Conn
	var err error
	if !g.shut {
		up, err = net.DialTimeout("tcp", g.target, 2*time.Second)
	}
	if g.shut || err != nil {
		_ = c.Close()
		return
	}
	g.conns = append(g.conns, c, up)
	pipe := func(to, from net.Conn) {
		_, _ = io.Copy(to, from)
		_ = to.Close()
		_ = from.Close()
	}
	go pipe(up, c)
	go pipe(c, up)
}

func (g *breaker) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = true
	for _, c := range g.conns {
		_ = c.Close()
	}
	g.conns = nil
}

func (g *breaker) restore() {
	g.mu.Lock()
	g.shut = false
	g.mu.Unlock()
}

// logBuffer keeps the bridge's log lines, to wait for what only the log
// shows (that an event reached the bridge).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) has(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.buf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// breakerWorld is a world whose bridge reaches the IRC server through a
// breaker, where a message waits upWait for its puppet's connection and the
// core tries it maxAttempts times.
type breakerWorld struct {
	*world
	breaker *breaker
	log     *logBuffer
}

func newBreakerWorld(t *testing.T, kind irctest.Kind, upWait time.Duration, maxAttempts int) *breakerWorld {
	t.Helper()
	w := &breakerWorld{world: &world{t: t, irc: irctest.Start(t, kind)}, log: &logBuffer{}}
	w.breaker = startBreaker(t, w.irc.Addr)
	opts := worldOptions(w.breaker.addr)
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
// cannot reach the IRC server: those it can deliver once the server is
// back arrive once and in order; one it cannot is reported in the room.
func TestMessagesOutliveAnIRCOutage(t *testing.T) {
	t.Parallel()
	w := newBreakerWorld(t, irctest.NgIRCd, 4*time.Second, 2)
	outer := t
	carol, alice0, room := w.meet("#outage")
	alice0.say(room, "before the outage")
	carol.WaitFor("alice's first message", irctest.IsText("PRIVMSG", "before the outage"))

	// dave watches from the other side of the restart.
	var dave *irctest.Client
	t.Run("messages sent while the IRC server restarts arrive once each, in order", func(t *testing.T) {
		alice := alice0.in(t)
		w.breaker.cut()
		w.irc.Stop()
		texts := []string{"one while down", "two while down", "three while down\nand its second line", "four while down"}
		first := alice.say(room, texts[0])
		for _, text := range texts[1:] {
			alice.say(room, text)
		}
		alice.eventually("the first message waiting in the bridge", func() bool {
			return w.log.has("Handling Matrix event", first.String())
		})
		w.irc.Restart()
		dave = w.irc.Connect(outer, "dave")
		dave.Join("#outage")
		w.breaker.restore()
		alice.say(room, "after the outage")
		want := strings.Split(strings.Join(texts, "\n"), "\n")
		assert.Equal(t, append(want, "after the outage"), saidBy(dave, "alice[m]", "after the outage"))
		for _, evt := range alice.timeline(room) {
			assert.False(t, noticeFromBot("not delivered")(evt), "no message may be reported lost: %s", bodyOf(evt))
		}
	})

	t.Run("a message the puppet cannot deliver in time is reported in the room, and never sent later", func(t *testing.T) {
		require.NotNil(t, dave, "needs the IRC user of the last test")
		alice := alice0.in(t)
		w.breaker.cut()
		lost := alice.say(room, "into the void")
		// Two attempts of 4 s each, with a second between them.
		notice := alice.bw().WaitForWithin(room, "the not-delivered notice", 60*time.Second, func(evt *event.Event) bool {
			return noticeFromBot("not delivered")(evt) && evt.Content.AsMessage().RelatesTo.GetReplyTo() == lost
		})
		t.Logf("the user was told: %s", bodyOf(notice))
		w.breaker.restore()
		// The reconnect backoff grew during the outage, past what this
		// test's short wait covers, so the puppet is let back first.
		require.NotNil(t, dave.TryWaitFor(60*time.Second, irctest.IsCommand("JOIN", "alice[m]")), "alice's puppet back in the channel")
		alice.say(room, "back again")
		assert.Equal(t, []string{"back again"}, saidBy(dave, "alice[m]", "back again"))
	})
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
