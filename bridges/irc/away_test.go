package irc

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// pipeConn is a bot connection that writes into a pipe; the lines it
// sends come out of sent one by one.
func pipeConn(t *testing.T, bucket *tokenBucket) (conn *Conn, sent <-chan string) {
	server, client := net.Pipe()
	t.Cleanup(func() { _ = server.Close() })
	lines := make(chan string, 64)
	go func() {
		r := bufio.NewReader(server)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSpace(line)
		}
	}()
	conn = &Conn{nick: "IsthmusBot", cfg: &connConfig{log: &nopLog}, nc: client, bucket: bucket, done: make(chan struct{})}
	conn.isupport.Store(ircproto.NewISupport())
	return conn, lines
}

// TestAwayBecomesPresence feeds the bot what a server without away-notify
// answers to WHO and WHOIS, and what one with it sends, and checks which
// presence changes Matrix is told of and what the bot asks back.
func TestAwayBecomesPresence(t *testing.T) {
	n, core := offlineNetwork(t, "away", nil)
	conn, sent := pipeConn(t, newTokenBucket(100, 100))
	feed := func(line string) {
		m, err := ircproto.Parse(line)
		require.NoError(t, err)
		require.NoError(t, ircproto.CheckParams(m))
		n.bot.handle(conn, m)
	}
	who := func(nick, flags string) {
		feed(":srv 352 IsthmusBot #chan " + nick + " host srv " + nick + " " + flags + " :0 Real Name")
	}
	// asked returns what the bot sent since the last call: a marker line
	// after it shows where that ends.
	asked := func() []string {
		conn.TrySend(ircproto.NewMessage("PING", "marker"))
		var out []string
		for line := range sent {
			if line == "PING marker" {
				return out
			}
			out = append(out, line)
		}
		return out
	}
	presences := func(from int) []string {
		var out []string
		for _, ev := range core.since(from) {
			if ev.Kind == bridge.RemotePresence {
				out = append(out, string(ev.Sender.ID)+" "+string(ev.Presence.State)+" "+ev.Presence.Status)
			}
		}
		return out
	}

	t.Run("someone seen here is not news", func(t *testing.T) {
		from := core.end()
		who("carol", "H@")
		assert.Empty(t, presences(from))
		assert.Empty(t, asked())
	})

	t.Run("someone seen away is unavailable at once, and WHOIS is asked for the message", func(t *testing.T) {
		from := core.end()
		who("carol", "G@")
		assert.Equal(t, []string{"carol unavailable "}, presences(from))
		assert.Equal(t, []string{"WHOIS carol"}, asked())
		feed(":srv 301 IsthmusBot carol :lunch")
		assert.Equal(t, []string{"carol unavailable ", "carol unavailable lunch"}, presences(from))
	})

	t.Run("still away on the next poll is not news, nor asked again", func(t *testing.T) {
		from := core.end()
		who("carol", "G*@")
		feed(":srv 301 IsthmusBot carol :lunch")
		assert.Empty(t, presences(from))
		assert.Empty(t, asked())
	})

	t.Run("a new away message is news", func(t *testing.T) {
		from := core.end()
		feed(":srv 301 IsthmusBot carol :coffee")
		assert.Equal(t, []string{"carol unavailable coffee"}, presences(from))
	})

	t.Run("an RPL_AWAY of someone not known to be away changes nothing", func(t *testing.T) {
		from := core.end()
		feed(":srv 301 IsthmusBot dave :not asked")
		assert.Empty(t, presences(from))
	})

	t.Run("coming back is news once", func(t *testing.T) {
		from := core.end()
		who("carol", "H@")
		who("carol", "H@")
		assert.Equal(t, []string{"carol online "}, presences(from))
	})

	t.Run("the message is asked again on the next poll when there was no room to ask", func(t *testing.T) {
		from := core.end()
		for conn.bucket.tryTake() {
		}
		who("erin", "G")
		assert.Equal(t, []string{"erin unavailable "}, presences(from))
		conn.bucket = newTokenBucket(100, 100)
		assert.Empty(t, asked())
		who("erin", "G")
		assert.Equal(t, []string{"WHOIS erin"}, asked())
		assert.Equal(t, []string{"erin unavailable "}, presences(from))
	})

	t.Run("the bot itself is no ghost", func(t *testing.T) {
		from := core.end()
		who("IsthmusBot", "G")
		assert.Empty(t, presences(from))
		assert.Empty(t, asked())
	})

	t.Run("an away user's new nick is a new ghost, told it is away", func(t *testing.T) {
		who("frank", "G")
		feed(":srv 301 IsthmusBot frank :gone fishing")
		from := core.end()
		feed(":frank!u@h NICK frank2")
		assert.Equal(t, []string{"frank2 unavailable gone fishing"}, presences(from))
		who("frank2", "G")
		assert.Len(t, presences(from), 1, "already known under the new nick")
	})

	t.Run("away-notify is news as it comes", func(t *testing.T) {
		from := core.end()
		feed(":gina!u@h AWAY :brb")
		feed(":gina!u@h AWAY")
		assert.Equal(t, []string{"gina unavailable brb", "gina online "}, presences(from))
		last := core.since(from)
		assert.Equal(t, event.PresenceOnline, last[len(last)-1].Presence.State)
	})
}

// TestWhoAfterJoinIsSpaced joins the bot to many channels at once, as a
// reconnect does, and checks that their WHOs do not all take the line
// budget ahead of a relayed line, yet all go out in the end.
func TestWhoAfterJoinIsSpaced(t *testing.T) {
	n, _ := offlineNetwork(t, "whos", func(c *Config) { c.Limits.LinesPerSecond, c.Limits.LineBurst = 50, 1 })
	conn, sent := pipeConn(t, newTokenBucket(50, 1))
	const joined = 20
	var want []string
	for i := range joined {
		ch := "#chan" + string(rune('a'+i))
		want = append(want, "WHO "+ch)
		n.bot.whoAfterJoin(conn, ch)
	}

	first := <-sent
	assert.Equal(t, want[0], first, "the first channel's WHO goes out at once")
	require.NoError(t, conn.Send(testCtx(t), ircproto.NewMessage("PRIVMSG", "#chana", "relayed")))
	got, before := []string{first}, -1
	for line := range sent {
		if line == "PRIVMSG #chana relayed" {
			before = len(got)
		} else {
			got = append(got, line)
		}
		if len(got) == joined && before >= 0 {
			break
		}
	}
	assert.Less(t, before, joined/2, "the relayed line waited behind %d WHOs", before)
	assert.Equal(t, want, got, "every channel is asked about, in order")
}
