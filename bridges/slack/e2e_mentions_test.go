package slack_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// e2eMentions: people, channels and the whole room mentioned on either
// side notify the same people on the other.
func e2eMentions(t *testing.T, w *world, room id.RoomID) {
	ctx := context.Background()
	bob, carol := w.ghost("U002"), w.ghost("U003")
	pill := func(target, label string) string {
		return `<a href="https://matrix.to/#/` + target + `">` + label + `</a>`
	}
	send := func(t *testing.T, c *event.MessageEventContent) {
		t.Helper()
		_, err := w.alice.SendMessageEvent(ctx, room, event.EventMessage, c)
		require.NoError(t, err)
	}

	t.Run("a Slack mention is a pill of the ghost, or of the logged-in user's own account, and mentions them", func(t *testing.T) {
		w := w.in(t)
		w.emu.Post(w.general, "U002", "<@U003> and <@U001>, lunch?", "")
		evt := w.waitFor(room, "bob's mention", from(bob, "Carol and alice, lunch?"))
		c := evt.Content.AsMessage()
		assert.Equal(t, pill(carol.String(), "Carol")+" and "+pill(w.aliceID.String(), "alice")+", lunch?", c.FormattedBody)
		require.NotNil(t, c.Mentions)
		assert.ElementsMatch(t, []id.UserID{carol, w.aliceID}, c.Mentions.UserIDs)
	})

	t.Run("a pill of a ghost is a Slack mention", func(t *testing.T) {
		w := w.in(t)
		send(t, &event.MessageEventContent{MsgType: event.MsgText, Body: "Bob: review please", Format: event.FormatHTML,
			FormattedBody: pill(bob.String(), "Bob") + ": review please", Mentions: &event.Mentions{UserIDs: []id.UserID{bob}}})
		w.slackMessage(w.general, "alice's mention of bob", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "<@U002>: review please" })
	})

	t.Run("@room is a channel mention", func(t *testing.T) {
		w := w.in(t)
		send(t, &event.MessageEventContent{MsgType: event.MsgText, Body: "@room standup now", Mentions: &event.Mentions{Room: true}})
		w.slackMessage(w.general, "alice's @room", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "<!channel> standup now" })
	})

	t.Run("a link to a portal by its alias is a channel reference", func(t *testing.T) {
		w := w.in(t)
		alias := w.aliases.Alias(e2eTeam + "-" + w.general)
		resolved, err := w.alice.ResolveAlias(ctx, alias)
		require.NoError(t, err)
		require.Equal(t, room, resolved.RoomID, "the portal has the alias the link uses")
		send(t, &event.MessageEventContent{MsgType: event.MsgText, Body: "see #general", Format: event.FormatHTML,
			FormattedBody: "see " + pill(alias.String(), "#general")})
		w.slackMessage(w.general, "alice's channel link", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "see <#"+w.general+">" })
	})

	t.Run("Slack's channel mention mentions the room", func(t *testing.T) {
		w := w.in(t)
		w.emu.Post(w.general, "U002", "<!channel> deploy freeze", "")
		evt := w.waitFor(room, "bob's channel mention", from(bob, "@room deploy freeze"))
		c := evt.Content.AsMessage()
		require.NotNil(t, c.Mentions)
		assert.True(t, c.Mentions.Room)
	})
}
