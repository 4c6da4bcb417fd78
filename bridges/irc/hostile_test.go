package irc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	p, err := tn.puppetFor(testCtx(t), alice)
	require.NoError(t, err)
	p.conn.start()
	pc, err := p.conn.wait(testCtx(t))
	require.NoError(t, err)
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
