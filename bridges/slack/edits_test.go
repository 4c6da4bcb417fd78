package slack

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// TestEditEchoRewritten: Slack rewrites what it is sent (a bare URL becomes
// <url>), so the echo of a Matrix edit is known by its message, not its
// text.
func TestEditEchoRewritten(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, MXID: "!general:example.org"}
	res, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice}, Event: &event.Event{ID: "$d"},
		Content: matrixText("the doc", "")})
	require.NoError(t, err)
	env.core.take(t, messageWith("the doc")) // the post's echo; the core's message map drops it

	edit := func(text string) {
		t.Helper()
		require.NoError(t, sess.HandleMatrixEdit(env.ctx, &bridge.MatrixEdit{MatrixMessage: bridge.MatrixMessage{Portal: portal, Content: matrixText(text, "")},
			Target: &bridge.Message{RemoteID: res.ID}}))
	}
	edit("the doc is at https://docs.example/plan")
	msgs := env.emu.Messages(env.general)
	require.Equal(t, "the doc is at <https://docs.example/plan>", msgs[len(msgs)-1].Text, "Slack linked the URL")
	// Past the fence, the edit's echo was handled.
	env.emu.Post(env.general, "U002", "fence after the edit", "")
	env.core.take(t, messageWith("fence after the edit"))
	env.core.none(t, 0, kindIs(bridge.RemoteEdit))

	t.Run("an edit in the Slack app afterwards is still bridged", func(t *testing.T) {
		env.emu.Edit(env.general, string(res.ID), "moved to https://docs.example/v2")
		ev := env.core.take(t, kindIs(bridge.RemoteEdit))
		assert.Equal(t, res.ID, ev.Target)
		assert.Equal(t, "moved to https://docs.example/v2", ev.Content.Body)
	})

	t.Run("a failed edit leaves no echo to swallow the next one", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "bob's words", "")
		env.core.take(t, messageWith("bob's words"))
		err := sess.HandleMatrixEdit(env.ctx, &bridge.MatrixEdit{MatrixMessage: bridge.MatrixMessage{Portal: portal, Content: matrixText("not yours", "")},
			Target: &bridge.Message{RemoteID: bridge.MessageID(ts)}})
		require.Error(t, err, "only the author may edit")
		env.emu.Edit(env.general, ts, "bob's words, fixed")
		ev := env.core.take(t, kindIs(bridge.RemoteEdit))
		assert.Equal(t, "bob's words, fixed", ev.Content.Body)
	})
}

// TestEditEchoOnlyOurs: the echo of a Matrix edit swallows that edit's
// message_changed and no other: an edit made in Slack right after it
// reaches Matrix.
func TestEditEchoOnlyOurs(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, MXID: "!general:example.org"}
	tests := []struct {
		name        string
		post        string
		matrixEdit  string
		slackEdit   string
		matrixShown bool // the Matrix edit changes the text on Slack
	}{
		{"after a Matrix edit that changed the text", "lunch at 12", "lunch at 1", "lunch at 2, sorry", true},
		{"after a Matrix edit Slack had nothing to change for", "see you there", "see you there", "see you there!", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice},
				Event: &event.Event{ID: id.EventID(fmt.Sprintf("$post%d", i))}, Content: matrixText(tt.post, "")})
			require.NoError(t, err)
			env.core.take(t, messageWith(tt.post))

			require.NoError(t, sess.HandleMatrixEdit(env.ctx, &bridge.MatrixEdit{MatrixMessage: bridge.MatrixMessage{Portal: portal, Content: matrixText(tt.matrixEdit, "")},
				Target: &bridge.Message{RemoteID: res.ID}}))
			if tt.matrixShown {
				msgs := env.emu.Messages(env.general)
				require.Equal(t, tt.matrixEdit, msgs[len(msgs)-1].Text)
			}
			// At once, in the Slack app: no fence lets the Matrix edit's
			// echo go by first.
			env.emu.Edit(env.general, string(res.ID), tt.slackEdit)
			ev := env.core.take(t, kindIs(bridge.RemoteEdit))
			assert.Equal(t, res.ID, ev.Target)
			assert.Equal(t, tt.slackEdit, ev.Content.Body, "the Slack edit, not the Matrix edit's echo")

			fence := fmt.Sprintf("fence %d", i)
			env.emu.Post(env.general, "U002", fence, "")
			env.core.take(t, messageWith(fence))
			env.core.none(t, 0, kindIs(bridge.RemoteEdit))
		})
	}
}
