package irctest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// Client is a raw IRC client playing the IRC user in a test. It answers
// PINGs and keeps every line it received, so tests can wait for one.
type Client struct {
	t    testing.TB
	conn net.Conn
	Nick string

	mu     sync.Mutex
	cond   *sync.Cond
	lines  []*ircproto.Message
	cursor int
	closed bool
}

// Connect registers a client with nick, asking for caps when the server
// offers them, and returns once the server's MOTD (or its absence) came.
func (s *Server) Connect(t testing.TB, nick string, caps ...string) *Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("irctest: connect %s: %v", s.Addr, err)
	}
	c := &Client{t: t, conn: conn, Nick: nick}
	c.cond = sync.NewCond(&c.mu)
	go c.read()
	t.Cleanup(c.Close)
	c.Send("CAP LS 302")
	c.Send("NICK %s", nick)
	c.Send("USER %s 0 * :irctest %s", strings.ToLower(nick), nick)
	ls := c.WaitFor("CAP LS", func(m *ircproto.Message) bool {
		return m.Command == "CAP" && m.Param(1) == "LS" || m.Command == ircproto.RPL_WELCOME
	})
	if ls.Command == "CAP" {
		offered := strings.Fields(ls.Trailing())
		var want []string
		for _, c := range caps {
			for _, o := range offered {
				if o == c || strings.HasPrefix(o, c+"=") {
					want = append(want, c)
				}
			}
		}
		if len(want) > 0 {
			c.Send("CAP REQ :%s", strings.Join(want, " "))
			c.WaitFor("CAP ACK", func(m *ircproto.Message) bool { return m.Command == "CAP" && m.Param(1) != "LS" })
		}
		c.Send("CAP END")
	}
	c.WaitFor("end of MOTD", func(m *ircproto.Message) bool {
		return m.Command == ircproto.RPL_ENDOFMOTD || m.Command == ircproto.ERR_NOMOTD
	})
	return c
}

func (c *Client) read() {
	r := bufio.NewReader(c.conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.mu.Lock()
			c.closed = true
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		m, err := ircproto.Parse(line)
		if err != nil {
			continue
		}
		if m.Command == "PING" {
			c.Send("PONG :%s", m.Trailing())
			continue
		}
		c.mu.Lock()
		c.lines = append(c.lines, m)
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// Send writes one line (formatted like Printf, without CRLF).
func (c *Client) Send(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Logf("irctest: %s: write %q: %v", c.Nick, line, err)
	}
}

// WaitFor returns the first line since the last match that satisfies
// match, failing the test after 20 s. Lines before the match are passed
// over for later calls too, so waits read like a script.
func (c *Client) WaitFor(what string, match func(*ircproto.Message) bool) *ircproto.Message {
	c.t.Helper()
	m := c.waitFor(20*time.Second, match)
	if m == nil {
		c.t.Fatalf("irctest: %s timed out waiting for %s; got:\n%s", c.Nick, what, c.Dump())
	}
	return m
}

// TryWaitFor is WaitFor that returns nil after d instead of failing.
func (c *Client) TryWaitFor(d time.Duration, match func(*ircproto.Message) bool) *ircproto.Message {
	return c.waitFor(d, match)
}

func (c *Client) waitFor(d time.Duration, match func(*ircproto.Message) bool) *ircproto.Message {
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i := c.cursor; i < len(c.lines); i++ {
			if match(c.lines[i]) {
				c.cursor = i + 1
				return c.lines[i]
			}
		}
		if c.closed || !time.Now().Before(deadline) {
			return nil
		}
		c.cond.Wait()
	}
}

// Skip moves the cursor past everything received so far.
func (c *Client) Skip() {
	c.mu.Lock()
	c.cursor = len(c.lines)
	c.mu.Unlock()
}

// Dump returns the lines received, for failure messages.
func (c *Client) Dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, m := range c.lines {
		mark := "  "
		if i == c.cursor {
			mark = "> "
		}
		b.WriteString(mark + m.String() + "\n")
	}
	return b.String()
}

// Join joins a channel and waits for the end of its NAMES.
func (c *Client) Join(channel string) {
	c.t.Helper()
	c.Send("JOIN %s", channel)
	c.WaitFor("joining "+channel, func(m *ircproto.Message) bool {
		return m.Command == ircproto.RPL_ENDOFNAMES && strings.EqualFold(m.Param(1), channel)
	})
}

// Oper makes the client an IRC operator.
func (c *Client) Oper() {
	c.t.Helper()
	c.Send("OPER %s %s", OperName, OperPassword)
	c.WaitFor("RPL_YOUREOPER", func(m *ircproto.Message) bool { return m.Command == ircproto.RPL_YOUREOPER })
}

// Close quits and closes the connection.
func (c *Client) Close() {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.Send("QUIT :bye")
	}
	_ = c.conn.Close()
}

// IsCommand matches lines with a command from the given nick ("" = any).
func IsCommand(command, from string) func(*ircproto.Message) bool {
	return func(m *ircproto.Message) bool {
		return m.Command == command && (from == "" || strings.EqualFold(m.Nick(), from))
	}
}

// IsText matches a PRIVMSG or NOTICE whose text contains substr.
func IsText(command, substr string) func(*ircproto.Message) bool {
	return func(m *ircproto.Message) bool {
		return m.Command == command && strings.Contains(m.Trailing(), substr)
	}
}
