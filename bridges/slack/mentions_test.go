package slack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// TestMatrixMentionsToSlack sends Matrix messages through the session's
// own resolver and reads what Slack stored.
func TestMatrixMentionsToSlack(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	random := env.emu.AddConversation(slackemu.Conversation{ID: "C0RANDOM", Name: "random", Members: []string{"U001"}})
	general := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, MXID: "!general:example.org"}
	dm := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-D0BOB", Receiver: string(alice)}, MXID: "!dm:example.org"}
	env.core.mu.Lock()
	env.core.portals[general.Key] = general
	env.core.portals[dm.Key] = dm
	env.core.mu.Unlock()
	send := func(c *event.MessageEventContent) string {
		t.Helper()
		_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: general, Sender: &bridge.User{MXID: alice}, Event: &event.Event{ID: "$m"}, Content: c})
		require.NoError(t, err)
		msgs := env.emu.Messages(env.general)
		return msgs[len(msgs)-1].Text
	}
	pill := func(target, label string) string {
		return `<a href="https://matrix.to/#/` + target + `">` + label + `</a>`
	}

	t.Run("a link to a channel's portal by its alias or its room ID is a channel reference", func(t *testing.T) {
		tests := []struct {
			name, target, want string
		}{
			{"the portal's alias, as clients link it", "#slack_T0001-C0RANDOM:example.org", "<#" + random + ">"},
			{"the alias percent-encoded in the link", "%23slack_T0001-C0RANDOM%3Aexample.org", "<#" + random + ">"},
			{"the portal's room ID", "!general:example.org", "<#C0GENERAL>"},
			{"an alias of another workspace's portal", "#slack_T0002-C0RANDOM:example.org", "#elsewhere"},
			{"an alias on another server", "#slack_T0001-C0RANDOM:other.example", "#elsewhere"},
			{"an alias outside the bridge's namespace", "#random:example.org", "#elsewhere"},
			{"a DM portal", "!dm:example.org", "#elsewhere"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				label := "#elsewhere"
				assert.Equal(t, "see "+tt.want, send(matrixText("see "+label, "see "+pill(tt.target, label))))
			})
		}
	})

	t.Run("a room mention is a channel mention", func(t *testing.T) {
		tests := []struct {
			name     string
			content  *event.MessageEventContent
			mentions *event.Mentions
			want     string
		}{
			{"a leading @room with m.mentions.room", matrixText("@room standup", ""), &event.Mentions{Room: true}, "<!channel> standup"},
			{"an inline @room in formatted text", matrixText("standup, @room!", "<b>standup</b>, @room!"), &event.Mentions{Room: true}, "*standup*, <!channel>!"},
			{"m.mentions.room without the word", matrixText("standup", ""), &event.Mentions{Room: true}, "<!channel> standup"},
			{"@room from a client without m.mentions", matrixText("@room standup", ""), nil, "<!channel> standup"},
			{"@room in a message whose m.mentions leaves the room out", matrixText("I typed @room", ""), &event.Mentions{}, "I typed @room"},
			{"@room inside code", matrixText("`@room`", "<code>@room</code>"), &event.Mentions{}, "`@room`"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.content.Mentions = tt.mentions
				assert.Equal(t, tt.want, send(tt.content))
			})
		}
	})
}
