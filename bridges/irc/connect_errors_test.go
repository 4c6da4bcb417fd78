package irc

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// plainServer is a plain-text server that greets every connection at once
// with a NOTICE, as ircds that look up the client's hostname do, and then
// says nothing more; greet false says nothing at all.
func plainServer(t *testing.T, greet bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveEach(t, ln, func(c net.Conn) {
		if greet {
			_, _ = c.Write([]byte(":irc.test NOTICE * :*** Looking up your hostname...\r\n"))
		}
	})
	return ln.Addr().String()
}

// TestUnreachableServerIsToldInWords checks what a user sees when their
// puppet cannot reach the server: the message fails with a reason they can
// pass on, not a socket error, and their status says the bridge cannot
// connect instead of "connecting" for as long as it lasts.
func TestUnreachableServerIsToldInWords(t *testing.T) {
	for _, tc := range []struct {
		name       string
		addr       func(t *testing.T) string
		tls        bool
		skipVerify bool
		want       string
	}{
		{"nothing listening", closedAddr, false, false, "not connected to IRC: the IRC server is not accepting connections"},
		{"TLS to a plain port", func(t *testing.T) string { return plainServer(t, true) }, true, true,
			"not connected to IRC: the IRC server does not speak TLS on that port"},
		{"a self-signed certificate", func(t *testing.T) string { return irctest.StartTLS(t).TLSAddr }, true, false,
			"not connected to IRC: the IRC server's TLS certificate is not trusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := startNetwork(t, &irctest.Server{Addr: tc.addr(t)}, func(c *Config) { c.TLS, c.TLSSkipVerify = tc.tls, tc.skipVerify })
			tn.upWait = 2 * time.Second
			key := tn.channelKey("#bridged")
			portal := &bridge.Portal{Key: key, MXID: tn.core.addPortal(key)}
			p := tn.session(t, alice, "Alice")
			_, err := p.HandleMatrixMessage(testCtx(t), matrixMessage(portal, alice, "", "anyone there?"))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotConnected)
			assert.Equal(t, tc.want, err.Error())
			st := p.State()
			assert.Equal(t, bridge.StateDisconnected, st.Kind)
			assert.Contains(t, st.Message, "cannot connect")
			assert.Contains(t, st.Message, tc.want[len("not connected to IRC: "):])
		})
	}
}

// TestTLSHandshakeTimesOut: a server that takes the connection and never
// answers the TLS handshake fails the attempt within the registration
// timeout, so the connector tries again instead of waiting for good.
func TestTLSHandshakeTimesOut(t *testing.T) {
	cfg := &connConfig{addr: plainServer(t, false), tls: true, registerTimeout: 300 * time.Millisecond}
	_, err := dial(testCtx(t), cfg)
	require.Error(t, err)
	assert.Equal(t, "the IRC server did not answer in time", connectError(err))
}
