package slack

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// TestWorkspaceEvents covers what happens to the workspace and its
// conversations in the Slack app while the session runs.
func TestWorkspaceEvents(t *testing.T) {
	env := newEnv(t)
	secret := env.emu.AddConversation(slackemu.Conversation{ID: "C0SECRET", Name: "secret", Kind: slackemu.PrivateChannel, Members: []string{"U001", "U002"}})
	env.login(t, alice, aliceToken)
	env.core.take(t, chatInfoOf(env.general))
	env.core.take(t, chatInfoOf(secret))
	topicOf := func(channel string) func(*bridge.RemoteEvent) bool {
		return func(ev *bridge.RemoteEvent) bool {
			return chatInfoOf(channel)(ev) && ev.ChatInfo != nil && ev.ChatInfo.Topic != nil
		}
	}

	t.Run("someone new in the workspace gets a ghost with their profile", func(t *testing.T) {
		env.emu.AddUser(slackemu.User{ID: "U005", Name: "erin", Profile: slackemu.UserProfile{DisplayName: "Erin E.", Image192: "https://avatars.example/erin.png", AvatarHash: "e1"}})
		ev := env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteProfile && ev.Sender.ID == "T0001-U005"
		})
		require.NotNil(t, ev.Sender.Profile)
		assert.Equal(t, "Erin E.", ev.Sender.Profile.Name)
		assert.Equal(t, "e1", ev.Sender.Profile.AvatarID)
	})

	t.Run("a join is a membership change, not a 'has joined' message", func(t *testing.T) {
		env.emu.Join(env.general, "U004")
		assert.Equal(t, bridge.RemoteUserID("T0001-U004"), env.core.take(t, kindIs(bridge.RemoteJoin)).Member.ID)
		env.emu.Leave(env.general, "U004")
		assert.Equal(t, bridge.RemoteUserID("T0001-U004"), env.core.take(t, kindIs(bridge.RemoteLeave)).Member.ID)
		require.Equal(t, "channel_leave", env.emu.Messages(env.general)[len(env.emu.Messages(env.general))-1].Subtype,
			"Slack posted its join and leave messages")
		// Events of a conversation are handled in order: once the fence is
		// through, the join and leave messages were handled.
		env.emu.Post(env.general, "U002", "fence after the join", "")
		env.core.take(t, messageWith("fence after the join"))
		env.core.none(t, 0, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteMessage && (strings.Contains(ev.Content.Body, "has joined") || strings.Contains(ev.Content.Body, "has left"))
		})
	})

	t.Run("a renamed private channel renames its portal", func(t *testing.T) {
		env.emu.Rename(secret, "hush")
		ev := env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return chatInfoOf(secret)(ev) && ev.ChatInfo != nil && ev.ChatInfo.Name != nil
		})
		assert.Equal(t, "hush", *ev.ChatInfo.Name)
	})

	t.Run("a new topic is the portal's topic, and Slack's message about it is shown", func(t *testing.T) {
		env.emu.SetTopic(env.general, "U002", "ship it")
		ev := env.core.take(t, topicOf(env.general))
		assert.Equal(t, "ship it", *ev.ChatInfo.Topic)
		assert.Equal(t, bridge.RemoteUserID("T0001-U002"), ev.Sender.ID, "set by the ghost of who set it")
		env.core.take(t, messageWith("Bob set the channel topic: ship it"))
	})

	t.Run("a private channel shows its purpose until it has a topic", func(t *testing.T) {
		steps := []struct {
			name, topic, purpose, want string
		}{
			{name: "a purpose without a topic is the topic", purpose: "plans only", want: "plans only"},
			{name: "a topic replaces it", topic: "launch friday", want: "launch friday"},
			{name: "a new purpose leaves the topic", purpose: "plans and more", want: "launch friday"},
			{name: "a cleared topic falls back to the purpose", topic: "-", want: "plans and more"},
		}
		for _, st := range steps {
			switch {
			case st.topic == "-":
				env.emu.SetTopic(secret, "U001", "")
			case st.topic != "":
				env.emu.SetTopic(secret, "U001", st.topic)
			default:
				env.emu.SetPurpose(secret, "U001", st.purpose)
			}
			ev := env.core.take(t, topicOf(secret))
			assert.Equal(t, st.want, *ev.ChatInfo.Topic, st.name)
		}
		msgs := env.emu.Messages(secret)
		assert.Equal(t, "group_topic", msgs[len(msgs)-1].Subtype, "a private channel's are group_ subtypes")
		env.core.take(t, messageWith("Alice set the group purpose: plans only"))
	})
}
