package irc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// heldConn is a puppet connection into a pipe that the test reads line
// by line: a line is written only once the test reads it, so the test
// decides exactly how many lines got out before the connection drops.
type heldConn struct {
	*Conn
	r *bufio.Reader
}

func newHeldConn(t *testing.T) *heldConn {
	server, client := net.Pipe()
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	c := &Conn{nick: "alice[m]", cfg: &connConfig{log: &nopLog}, nc: client, bucket: newTokenBucket(1000, 1000), done: make(chan struct{})}
	c.isupport.Store(ircproto.NewISupport())
	c.pingTimer = time.NewTimer(time.Hour) // closing stops it, as dial's
	return &heldConn{Conn: c, r: bufio.NewReader(server)}
}

// next reads the next line the puppet wrote; a fence's PING is answered
// as the server would.
func (h *heldConn) next(t *testing.T) string {
	t.Helper()
	line, err := h.r.ReadString('\n')
	require.NoError(t, err)
	line = strings.TrimRight(line, "\r\n")
	if m, err := ircproto.Parse(line); err == nil && m.Command == "PING" {
		h.endFence(m.Params[0])
	}
	return line
}

// message reads the lines of one message, up to the fence after them.
func (h *heldConn) message(t *testing.T) []string {
	t.Helper()
	var out []string
	for {
		line := h.next(t)
		if strings.HasPrefix(line, "PING ") {
			return out
		}
		out = append(out, line)
	}
}

// TestLongMessageResumesAfterADrop sends a message that needs several IRC
// lines on a connection that drops half way, then again on the next one,
// as the core's retry does: the second connection carries exactly the
// lines the first did not, so IRC sees each line once and in order.
func TestLongMessageResumesAfterADrop(t *testing.T) {
	n, _ := offlineNetwork(t, "resume", func(c *Config) {
		c.Limits.MaxLines = 20
		c.Puppets.IdleTimeout = 0
	})
	p := newPuppet(n, alice, puppetRow{}, nil)
	portal := &bridge.Portal{Key: n.channelKey("#chan"), MXID: "!chan:test"}
	var words []string
	for i := range 300 {
		words = append(words, fmt.Sprintf("word%03d", i))
	}
	msg := matrixMessage(portal, alice, "Alice", strings.Join(words, " "))
	out := n.outgoing(testCtx(t), msg, msg.Content)

	first := newHeldConn(t)
	sp := ircproto.Splitter{Command: "PRIVMSG", Target: "#chan", PrefixLen: first.prefixLen(), LineLen: first.ISupport().LineLen()}
	lines, err := n.fitLines(sp, out.text, msg)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(lines), 4, "the message must need several lines for this test")
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = l.String()
	}
	const delivered = 2

	sendOn := func(h *heldConn) <-chan error {
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done <- p.send(ctx, h.Conn, "#chan", out, msg)
		}()
		return done
	}

	failed := sendOn(first)
	for i := range delivered {
		assert.Equal(t, want[i], first.next(t), "line %d on the first connection", i+1)
	}
	// The third line is being written when the server goes away.
	first.closeWith(errors.New("connection reset by peer"))
	err = <-failed
	require.ErrorIs(t, err, ErrNotConnected, "a drop half way fails the message so that it is retried")

	second := newHeldConn(t)
	resumed := sendOn(second)
	got := second.message(t)
	require.NoError(t, <-resumed)
	assert.Equal(t, want[delivered:], got, "the retry starts at the first line not sent, and sends it once")

	p.mu.Lock()
	left := len(p.sent)
	p.mu.Unlock()
	assert.Zero(t, left, "a delivered message leaves nothing to resume")

	t.Run("a message sent again after it was delivered is sent whole", func(t *testing.T) {
		third := newHeldConn(t)
		again := sendOn(third)
		got := third.message(t)
		require.NoError(t, <-again)
		assert.Equal(t, want, got)
	})
}
