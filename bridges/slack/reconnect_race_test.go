package slack

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnectAfterATimedOutDisconnect: a Disconnect that gave up waiting
// (its context ended first) followed at once by Connect starts the new
// run only once the old one ended, so the two never share the session's
// spawned work, and the login comes back with one socket.
func TestConnectAfterATimedOutDisconnect(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	for range 5 {
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		assert.ErrorIs(t, sess.Disconnect(gone), context.Canceled)
		sess.Connect(env.ctx)
	}
	require.Eventually(t, func() bool { return env.emu.RTMConnections("U001") == 1 }, 10*time.Second, 10*time.Millisecond,
		"one socket for the login once the runs settled")
	env.emu.Post(env.general, "U002", "still bridged", "")
	env.core.take(t, messageWith("still bridged"))
}
