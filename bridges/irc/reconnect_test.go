package irc

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

func memberIDs(ev *bridge.RemoteEvent) []bridge.RemoteUserID {
	var out []bridge.RemoteUserID
	for _, m := range ev.ChatInfo.Members {
		out = append(out, m.ID)
	}
	return out
}

func TestServerRestartIsSurvived(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind)+" reconciles members and brings puppets back", func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			carol := srv.Connect(t, "carol")
			carol.Join("#bridged")
			tn := startNetwork(t, srv, nil)
			portal := waitPortal(t, tn, "#bridged")
			err := tn.send(t, matrixMessage(portal, alice, "", "before"), "Alice")
			require.NoError(t, err)
			carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "before"))

			from := tn.core.end()
			srv.Restart()
			dave := srv.Connect(t, "dave")
			dave.Join("#bridged")
			ev := tn.core.waitEvent(t, &from, "a member list after the restart", func(ev *bridge.RemoteEvent) bool {
				return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.Members != nil
			})
			assert.NotContains(t, memberIDs(ev), bridge.RemoteUserID("carol"), "carol did not come back, so her ghost leaves")
			if !slices.Contains(memberIDs(ev), "dave") {
				// The bot was back first: dave came after, as a join.
				tn.core.waitEvent(t, &from, "dave's join", func(ev *bridge.RemoteEvent) bool {
					return ev.Kind == bridge.RemoteJoin && ev.Sender.ID == "dave"
				})
			}
			err = tn.send(t, matrixMessage(portal, alice, "", "after"), "Alice")
			require.NoError(t, err)
			dave.WaitFor("alice's message", irctest.IsText("PRIVMSG", "after"))
		})
	}
}

func TestKillsAndBansAreToldToTheUser(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			carol := srv.Connect(t, "carol")
			carol.Join("#bridged")
			carol.Oper()
			tn := startNetwork(t, srv, nil)
			portal := waitPortal(t, tn, "#bridged")
			err := tn.send(t, matrixMessage(portal, alice, "", "hello"), "Alice")
			require.NoError(t, err)
			carol.WaitFor("alice's message", irctest.IsText("PRIVMSG", "hello"))

			t.Run("a kill is told and the puppet comes back", func(t *testing.T) {
				carol.Send("KILL Alice[m] :spamming")
				tn.core.waitNotice(t, alice, "killed")
				carol.WaitFor("alice back", irctest.IsCommand("JOIN", "Alice[m]"))
			})

			t.Run("a K-line is told, and messages fail instead of waiting", func(t *testing.T) {
				if kind == irctest.NgIRCd {
					carol.Send("KLINE *!*alice@127.0.0.1 60 :no spam")
				} else {
					carol.Send("KLINE *alice@127.0.0.1 60 :no spam")
				}
				carol.WaitFor("alice gone", irctest.IsCommand("QUIT", "Alice[m]"))
				tn.core.waitNotice(t, alice, "refused")
				err := tn.send(t, matrixMessage(portal, alice, "", "still there?"), "Alice")
				require.Error(t, err)
				assert.True(t, errors.Is(err, bridge.ErrPermanent), "a ban is reported at once: %v", err)
			})
		})
	}
}

func TestIdlePuppetsQuitAndComeBack(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	carol := srv.Connect(t, "carol")
	carol.Join("#bridged")
	tn := startNetwork(t, srv, func(c *Config) { c.Puppets.IdleTimeout = Duration(300 * time.Millisecond) })
	portal := waitPortal(t, tn, "#bridged")
	err := tn.send(t, matrixMessage(portal, alice, "", "one"), "Alice")
	require.NoError(t, err)
	m := carol.WaitFor("the idle quit", irctest.IsCommand("QUIT", "Alice[m]"))
	assert.Contains(t, m.Trailing(), "Idle")
	err = tn.send(t, matrixMessage(portal, alice, "", "two"), "Alice")
	require.NoError(t, err)
	carol.WaitFor("the next message", func(m *ircproto.Message) bool {
		return m.Command == "PRIVMSG" && m.Trailing() == "two" && m.Nick() == "Alice[m]"
	})
}

func TestStoppingFailsWhatWaitsOnTheConnection(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	tn := startNetwork(t, srv, func(c *Config) { c.Channels = nil })
	p := tn.session(t, alice, "Alice")
	_, err := p.up(testCtx(t))
	require.NoError(t, err)
	wait := make(chan error, 1)
	p.mu.Lock()
	p.joinWait = map[string][]chan error{"#slow": {wait}}
	p.mu.Unlock()
	p.conn.stop("Idle")
	select {
	case err := <-wait:
		assert.ErrorIs(t, err, ErrNotConnected, "a join pending when the puppet went idle must not wait forever")
	case <-time.After(5 * time.Second):
		t.Fatal("the pending join was never answered")
	}
}
