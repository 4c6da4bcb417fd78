package slack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// chatInfoOf matches the chat info event of a conversation.
func chatInfoOf(channel string) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool {
		return ev.Kind == bridge.RemoteChatInfo && ev.Portal.Chat == chatKey(team, channel)
	}
}

// TestNewConversations covers conversations that appear while the session
// runs: a channel the user creates in the Slack app, and a group DM someone
// opens with them. Each gets its portal at once, before anyone writes in it.
func TestNewConversations(t *testing.T) {
	env := newEnv(t)
	env.login(t, alice, aliceToken)
	env.core.take(t, chatInfoOf(env.general))

	t.Run("a channel the user creates gets its portal, with them invited", func(t *testing.T) {
		ch := env.emu.CreateChannel("U001", "plans")
		info := env.core.take(t, chatInfoOf(ch))
		assert.True(t, info.CreatePortal)
		require.NotNil(t, info.ChatInfo)
		assert.Equal(t, "plans", *info.ChatInfo.Name)
		assert.Contains(t, info.ChatInfo.Invite, alice)
		assert.False(t, info.ChatInfo.IsDM)
	})

	t.Run("a channel someone else creates is not the user's", func(t *testing.T) {
		ch := env.emu.CreateChannel("U002", "bobs")
		env.emu.Post(env.general, "U002", "after bobs", "")
		env.core.take(t, messageWith("after bobs"))
		env.core.none(t, 0, chatInfoOf(ch))
	})

	t.Run("a group DM someone opens with the user is their portal at once", func(t *testing.T) {
		mpim := env.emu.OpenMPIM("U002", "U001", "U003")
		info := env.core.take(t, chatInfoOf(mpim))
		assert.Equal(t, string(alice), info.Portal.Receiver, "a group DM portal belongs to its receiver")
		assert.True(t, info.CreatePortal)
		assert.True(t, info.ChatInfo.IsDM)
		var members []bridge.RemoteUserID
		for _, m := range info.ChatInfo.Members {
			members = append(members, m.ID)
		}
		assert.ElementsMatch(t, []bridge.RemoteUserID{"T0001-U001", "T0001-U002", "T0001-U003"}, members)

		env.emu.Post(mpim, "U002", "hello both", "")
		msg := env.core.take(t, messageWith("hello both"))
		assert.Equal(t, info.Portal, msg.Portal)
	})
}
