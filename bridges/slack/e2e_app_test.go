package slack_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// e2eRelay: app mode, for Dana, a Matrix user with no Slack login.
func e2eRelay(t *testing.T, w *world, general id.RoomID) {
	ctx := context.Background()
	uid, tok := w.hs.CreateUser(t, "dana", "password-dana")
	dana, err := mautrix.NewClient(w.hs.URL, id.UserID(uid), tok)
	require.NoError(t, err)
	bob := w.ghost("U002")

	t.Run("a user without a login is relayed by the app under their name", func(t *testing.T) {
		w := w.in(t)
		room := w.joinPortalAs(dana, w.general)
		require.Equal(t, general, room)
		_, err := dana.SendText(ctx, room, "hello from dana")
		require.NoError(t, err)
		m := w.slackMessage(w.general, "dana's relayed message", func(m slackemu.Message) bool { return m.Text == "hello from dana" })
		assert.Equal(t, "dana", m.Username)
		assert.Equal(t, e2eApp.BotID, m.BotID)
		assert.Equal(t, 1, w.countAfterMarker(room, withBody("hello from dana")),
			"seen by Alice's login and by the app, the echo is still dropped")
	})

	t.Run("a channel nobody logged into is bridged by the app, both ways", func(t *testing.T) {
		w := w.in(t)
		room := w.joinPortalAs(dana, w.random)
		w.emu.Post(w.random, "U002", "anyone in random?", "")
		waitAs(t, w, dana, room, "bob's message", from(bob, "anyone in random?"))
		_, err := dana.SendText(ctx, room, "dana is")
		require.NoError(t, err)
		m := w.slackMessage(w.random, "dana's answer", func(m slackemu.Message) bool { return m.Text == "dana is" })
		assert.Equal(t, "dana", m.Username)
	})
}

// waitAs is world.waitFor through another user's client.
func waitAs(t *testing.T, w *world, c *mautrix.Client, room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	other := *w
	other.alice = c
	other.t = t
	return other.waitFor(room, what, match)
}
