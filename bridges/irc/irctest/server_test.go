package irctest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

func TestServers(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind)+" registers raw clients that can talk in a channel", func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			alice := srv.Connect(t, "alice", "server-time", "multi-prefix")
			bob := srv.Connect(t, "bob")
			alice.Join("#test")
			bob.Join("#test")
			alice.WaitFor("bob's join", irctest.IsCommand("JOIN", "bob"))
			bob.Send("PRIVMSG #test :hello alice")
			m := alice.WaitFor("bob's message", irctest.IsText("PRIVMSG", "hello alice"))
			assert.Equal(t, "#test", m.Params[0])
			if kind == irctest.InspIRCd {
				_, ok := m.Time()
				assert.True(t, ok, "server-time was requested, so messages carry a time")
			}
		})
		t.Run(string(kind)+" comes back on the same port after a restart", func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			before := srv.Connect(t, "before")
			srv.Restart()
			assert.Nil(t, before.TryWaitFor(0, func(m *ircproto.Message) bool { return false }))
			after := srv.Connect(t, "after")
			after.Oper()
		})
	}
}
