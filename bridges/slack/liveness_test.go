package slack

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// TestDeadSocket: an RTM socket that stops answering without closing is
// given up, and what was said meanwhile is caught up.
func TestDeadSocket(t *testing.T) {
	env := newEnv(t)
	_, sess, err := env.net.Login(env.ctx, &bridge.User{MXID: alice}, []string{aliceToken})
	require.NoError(t, err)
	s := sess.(*Session)
	// Short, so that the test does not wait four times 30 seconds, yet long
	// enough that a pong slowed by a loaded machine is not taken for a
	// dead socket (slack-go gives up after four intervals).
	s.pingInterval = 400 * time.Millisecond
	s.Connect(env.ctx)
	t.Cleanup(func() { _ = s.Disconnect(context.Background()) })
	env.core.waitState(t, bridge.StateConnected)
	env.emu.Post(env.general, "U002", "before", "")
	env.core.take(t, messageWith("before"))

	env.emu.StallRTM("U001")
	env.emu.Post(env.general, "U002", "said to a dead socket", "")
	env.core.waitState(t, bridge.StateDisconnected)
	env.core.waitState(t, bridge.StateConnected)
	env.core.take(t, messageWith("said to a dead socket"))
	// The emulator sees a socket closed only when its read fails.
	require.Eventually(t, func() bool { return env.emu.StalledRTM("U001") == 0 }, 15*time.Second, 20*time.Millisecond,
		"the dead socket was closed")
	require.Eventually(t, func() bool { return env.emu.RTMConnections("U001") == 1 }, 15*time.Second, 20*time.Millisecond,
		"one live socket instead")

	env.emu.Post(env.general, "U002", "after", "")
	env.core.take(t, messageWith("after"))
}

// TestPresenceSubscription: the presence subscription follows who is in
// the user's conversations, not only at connect time.
func TestPresenceSubscription(t *testing.T) {
	env := newEnv(t)
	env.emu.AddUser(slackemu.User{ID: "U005", Name: "erin"})
	env.emu.AddUser(slackemu.User{ID: "U006", Name: "frank"})
	env.emu.AddToken(slackemu.Token{Value: "xoxp-frank", User: "U006"})
	s := env.login(t, alice, aliceToken)
	s.presence.mu.Lock()
	s.presence.every = 10 * time.Millisecond // no test waits for the pace
	s.presence.mu.Unlock()
	subscribed := func(t *testing.T, want ...string) {
		t.Helper()
		require.Eventually(t, func() bool { return slices.Equal(env.emu.Subscriptions("U001"), want) }, 15*time.Second, 20*time.Millisecond,
			"subscribed to %v, want %v", env.emu.Subscriptions("U001"), want)
	}
	online := func(user string) func(*bridge.RemoteEvent) bool {
		return func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemotePresence && ev.Sender.ID == userKey(team, user) && ev.Presence.State == event.PresenceOnline
		}
	}
	subscribed(t, "U002", "U003")

	t.Run("a new member of a channel is subscribed to and their presence reaches their ghost", func(t *testing.T) {
		env.emu.Join(env.general, "U004")
		subscribed(t, "U002", "U003", "U004")
		env.emu.SetPresence("U004", true)
		env.core.take(t, online("U004"))
	})

	t.Run("the members of a channel the user joins are subscribed to", func(t *testing.T) {
		design := env.emu.AddConversation(slackemu.Conversation{Name: "design", Members: []string{"U005"}})
		env.emu.Join(design, "U001")
		subscribed(t, "U002", "U003", "U004", "U005")
		env.emu.SetPresence("U005", true)
		env.core.take(t, online("U005"))
	})

	t.Run("the other person of a new DM is subscribed to", func(t *testing.T) {
		frank := slack.New("xoxp-frank", slack.OptionAPIURL(env.emu.APIURL()))
		_, _, _, err := frank.OpenConversationContext(context.Background(), &slack.OpenConversationParameters{Users: []string{"U001"}})
		require.NoError(t, err)
		subscribed(t, "U002", "U003", "U004", "U005", "U006")
		env.emu.SetPresence("U006", true)
		env.core.take(t, online("U006"))
	})

	t.Run("someone who left every shared conversation is dropped", func(t *testing.T) {
		env.emu.Leave(env.general, "U004")
		subscribed(t, "U002", "U003", "U005", "U006")
	})
}
