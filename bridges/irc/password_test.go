package irc

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// refusingServer answers every registration as servers with
// ERR_PASSWDMISMATCH do (Solanum, Hybrid): 464, then ERROR.
func refusingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "USER ") {
						_, _ = c.Write([]byte(":fake 464 * :Password incorrect\r\nERROR :Closing Link: 127.0.0.1 (Bad Password)\r\n"))
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestServerPassword connects to servers that want a password: the right
// one gets the bridge in; a wrong one fails the user's messages at once
// with the reason, sets their session to a bad credential, and is not
// tried again and again.
func TestServerPassword(t *testing.T) {
	t.Run("the right password gets the bot and the puppets in", func(t *testing.T) {
		for _, kind := range irctest.Kinds() {
			t.Run(string(kind), func(t *testing.T) {
				srv := irctest.StartWithPassword(t, kind, "sesame")
				tn := startNetwork(t, srv, func(c *Config) { c.Password = "sesame" })
				tn.waitBotIn(t, "#bridged")
				portal, _ := tn.core.GetPortal(testCtx(t), tn.channelKey("#bridged"))
				require.NotNil(t, portal)
				require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "let me in"), "Alice"))
			})
		}
	})

	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"a 464 refusal is a bad password", refusingServer},
		{"ngIRCd's refusal is a bad password", func(t *testing.T) string {
			return irctest.StartWithPassword(t, irctest.NgIRCd, "sesame").Addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := startNetwork(t, &irctest.Server{Addr: tc.addr(t)}, func(c *Config) { c.Password = "wrong" })
			// A failure taken for one that passes would wait this long
			// and fail the message as not connected instead.
			tn.upWait = 3 * time.Second
			key := tn.channelKey("#bridged")
			portal := &bridge.Portal{Key: key, MXID: tn.core.addPortal(key)}
			p := tn.session(t, alice, "Alice")
			_, err := p.HandleMatrixMessage(testCtx(t), matrixMessage(portal, alice, "", "let me in"))
			require.Error(t, err)
			assert.ErrorIs(t, err, bridge.ErrPermanent, "a refused password fails the message at once")
			assert.ErrorIs(t, err, ErrBadPassword)
			// The connector wakes waiting messages before it reports the
			// state, so the state may follow the error by a moment.
			assert.Eventually(t, func() bool { return p.State().Kind == bridge.StateBadCredential }, 5*time.Second, 10*time.Millisecond,
				"the user's session shows a bad credential")
			assert.Eventually(t, func() bool { return !p.conn.running() }, 5*time.Second, 10*time.Millisecond,
				"a refused password is not tried again until the user asks")
		})
	}
}
