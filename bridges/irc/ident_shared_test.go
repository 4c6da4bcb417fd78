package irc

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// Two IRC networks with ident on the same port both start, and the one
// ident server answers for the connections of each, until the last of
// them stops and frees the port.
func TestIdentOnTwoNetworksSharesThePort(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	identAddr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))

	start := func(name, nick, user string) *testNet {
		return startNetwork(t, srv, func(c *Config) {
			c.Name = name
			c.Bot.Nick, c.Bot.Username = nick, user
			c.Ident = IdentConfig{Enabled: true, Address: "127.0.0.1", Port: port}
		})
	}
	one := start("one", "BotOne", "one")
	two := start("two", "BotTwo", "two")

	// ask queries the ident port about the bot's connection, as its IRC
	// server would.
	ask := func(tn *testNet) string {
		t.Helper()
		c, err := tn.bot.conn.wait(testCtx(t))
		require.NoError(t, err)
		k, ok := keyOf(c.nc)
		require.True(t, ok)
		ic, err := net.DialTimeout("tcp", identAddr, 5*time.Second)
		require.NoError(t, err)
		defer ic.Close()
		_, err = fmt.Fprintf(ic, "%d, %d\r\n", k.local, k.remote)
		require.NoError(t, err)
		line, err := bufio.NewReader(ic).ReadString('\n')
		require.NoError(t, err)
		return line
	}
	assert.Contains(t, ask(one), ": USERID : UNIX : one\r\n")
	assert.Contains(t, ask(two), ": USERID : UNIX : two\r\n")

	c, err := one.bot.conn.wait(testCtx(t))
	require.NoError(t, err)
	require.NoError(t, one.Stop(testCtx(t)))
	assert.Contains(t, ask(two), ": USERID : UNIX : two\r\n", "the other network's stop leaves the server up")
	k, _ := keyOf(c.nc)
	assert.Contains(t, two.ident.answer(fmt.Sprintf("%d, %d", k.local, k.remote), "127.0.0.1"), "NO-USER", "a stopped network's connections are forgotten")

	require.NoError(t, two.Stop(testCtx(t)))
	again, err := net.Listen("tcp", identAddr)
	require.NoError(t, err, "the last network's stop frees the port")
	require.NoError(t, again.Close())
}

// Connections of two networks to two servers may share both port numbers;
// each server is told its own user, and a query from elsewhere is
// answered only when it cannot be the wrong one.
func TestIdentTellsConnectionsWithTheSamePortsApart(t *testing.T) {
	s := newIdentServer(zerolog.Nop())
	conn := func(local, remote string) net.Conn {
		return fakeAddrConn{local: mustTCPAddr(t, local), remote: mustTCPAddr(t, remote)}
	}
	a, b := conn("10.0.0.1:40000", "192.0.2.1:6667"), conn("10.0.0.1:40000", "192.0.2.2:6667")
	s.add(a, "alice")
	s.add(b, "bob")
	for _, tc := range []struct {
		from, want string
	}{
		{"192.0.2.1", "USERID : UNIX : alice"},
		{"192.0.2.2", "USERID : UNIX : bob"},
		{"192.0.2.3", "NO-USER"},
	} {
		assert.Contains(t, s.answer("40000, 6667", tc.from), tc.want, "asked from %s", tc.from)
	}
	s.remove(a)
	assert.Contains(t, s.answer("40000, 6667", "192.0.2.3"), "USERID : UNIX : bob", "the one connection left is answered from any address")
	s.remove(b)
	assert.Contains(t, s.answer("40000, 6667", "192.0.2.2"), "NO-USER")
}

// fakeAddrConn is a net.Conn that only has addresses.
type fakeAddrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c fakeAddrConn) LocalAddr() net.Addr  { return c.local }
func (c fakeAddrConn) RemoteAddr() net.Addr { return c.remote }

func mustTCPAddr(t *testing.T, s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	require.NoError(t, err)
	return a
}
