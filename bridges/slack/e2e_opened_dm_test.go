package slack_test

import (
	"context"
	"testing"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// e2eOpenedDM: a DM opened on Slack is a direct chat on Matrix before
// anyone writes in it.
func e2eOpenedDM(t *testing.T, w *world) {
	ctx := context.Background()

	t.Run("a DM someone opens in the Slack app invites the user at once", func(t *testing.T) {
		w := w.in(t)
		w.emu.AddUser(slackemu.User{ID: "U004", Name: "dave", Profile: slackemu.UserProfile{DisplayName: "Dave"}})
		w.emu.AddToken(slackemu.Token{Value: "xoxp-e2e-dave", User: "U004"})
		dave := slack.New("xoxp-e2e-dave", slack.OptionAPIURL(w.emu.APIURL()))
		dm, _, _, err := dave.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U001"}})
		require.NoError(t, err)
		require.Empty(t, w.emu.Messages(dm.ID), "nothing was said yet")
		room := w.directInvite()
		_, err = w.alice.JoinRoomByID(ctx, room)
		require.NoError(t, err)
		w.emu.Post(dm.ID, "U004", "hi alice, it's dave", "")
		w.waitFor(room, "dave's first message in the DM he opened", from(w.ghost("U004"), "hi alice, it's dave"))
	})
}
