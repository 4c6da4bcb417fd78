package irc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

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
		{"a 464 refusal is a bad password", func(t *testing.T) string {
			// As servers with ERR_PASSWDMISMATCH do (Solanum, Hybrid).
			return startScripted(t, script{refusal: []string{
				":fake 464 * :Password incorrect", "ERROR :Closing Link: 127.0.0.1 (Bad Password)",
			}}).addr
		}},
		{"ngIRCd's refusal is a bad password", func(t *testing.T) string {
			return irctest.StartWithPassword(t, irctest.NgIRCd, "sesame").Addr
		}},
		{"InspIRCd's refusal is a bad password", func(t *testing.T) string {
			return irctest.StartWithPassword(t, irctest.InspIRCd, "sesame").Addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := startNetwork(t, &irctest.Server{Addr: tc.addr(t)}, func(c *Config) { c.Password = "wrong" })
			// A failure taken for one that passes would wait this long
			// and fail the message as not connected instead; a refusal
			// comes well within it even on a loaded machine.
			tn.upWait = 30 * time.Second
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
