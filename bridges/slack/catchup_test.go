package slack

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// messagesFrom returns the bodies and thread roots of the messages queued
// from index from on, in order.
func (r *recorder) messagesFrom(from int) (bodies []string, roots map[string]bridge.MessageID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	roots = map[string]bridge.MessageID{}
	for _, ev := range r.events[from:] {
		if ev.Kind == bridge.RemoteMessage && ev.Content != nil {
			bodies = append(bodies, ev.Content.Body)
			roots[ev.Content.Body] = ev.Content.ThreadRoot
		}
	}
	return bodies, roots
}

func TestThreadCatchUp(t *testing.T) {
	t.Run("thread replies posted while RTM was down arrive in their threads, in order, once", func(t *testing.T) {
		env := newEnv(t)
		env.login(t, alice, aliceToken)
		root := env.emu.Post(env.general, "U002", "root", "")
		env.core.take(t, messageWith("root"))
		env.emu.Post(env.general, "U003", "live reply", root)
		env.core.take(t, messageWith("live reply"))

		env.emu.SetRTMDown(true)
		env.core.waitState(t, bridge.StateDisconnected)
		from := env.core.count()
		env.emu.Post(env.general, "U003", "missed reply 1", root)
		env.emu.Post(env.general, "U002", "missed top", "")
		env.emu.Post(env.general, "U001", "missed reply 2", root)
		newRoot := env.emu.Post(env.general, "U002", "new root", "")
		env.emu.Post(env.general, "U003", "new thread reply", newRoot)
		env.emu.SetRTMDown(false)
		env.core.waitState(t, bridge.StateConnected)
		env.core.take(t, messageWith("new thread reply"))

		bodies, roots := env.core.messagesFrom(from)
		assert.Equal(t, []string{"missed reply 1", "missed top", "missed reply 2", "new root", "new thread reply"}, bodies,
			"what was missed, once each, in Slack's order; the reply seen live is not read again")
		assert.Equal(t, bridge.MessageID(root), roots["missed reply 1"])
		assert.Equal(t, bridge.MessageID(root), roots["missed reply 2"])
		assert.Equal(t, bridge.MessageID(newRoot), roots["new thread reply"])
		assert.Empty(t, roots["missed top"])
	})

	t.Run("a restarted session catches up on threads from its stored cursor", func(t *testing.T) {
		env := newEnv(t)
		sess := env.login(t, alice, aliceToken)
		root := env.emu.Post(env.general, "U002", "old root", "")
		env.core.take(t, messageWith("old root"))
		env.emu.Post(env.general, "U003", "reply seen live", root)
		env.core.take(t, messageWith("reply seen live"))
		require.NoError(t, sess.Disconnect(context.Background()))
		from := env.core.count()
		env.emu.Post(env.general, "U003", "reply while stopped", root)

		again, err := env.net.LoadSession(env.ctx, &bridge.User{MXID: alice}, sess.login)
		require.NoError(t, err)
		again.Connect(env.ctx)
		t.Cleanup(func() { _ = again.Disconnect(context.Background()) })
		env.core.take(t, messageWith("reply while stopped"))
		bodies, roots := env.core.messagesFrom(from)
		assert.Equal(t, []string{"reply while stopped"}, bodies)
		assert.Equal(t, bridge.MessageID(root), roots["reply while stopped"])
	})
}
