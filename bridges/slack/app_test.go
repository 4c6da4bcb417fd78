package slack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

func TestAppConfig(t *testing.T) {
	tests := []struct {
		name    string
		section string
		err     string
	}{
		{"both tokens turn app mode on", "enabled: true\napp: {bot_token: xoxb-1, app_token: xapp-1}", ""},
		{"a user token is no bot token", "enabled: true\napp: {bot_token: xoxp-1, app_token: xapp-1}", "networks.slack.app.bot_token"},
		{"a bot token alone is not enough", "enabled: true\napp: {bot_token: xoxb-1}", "networks.slack.app.app_token"},
		{"an icon URL must be http(s)", "enabled: true\napp: {bot_token: xoxb-1, app_token: xapp-1, icon_url: 'mxc://x/y'}", "networks.slack.app.icon_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nets, err := kind{}.NewNetworks([]byte(tt.section), bridge.CommonConfig{Domain: "example.org"})
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.NotContains(t, err.Error(), "xoxp-1", "the error does not repeat the token")
				return
			}
			require.NoError(t, err)
			require.Len(t, nets, 1)
			assert.True(t, nets[0].Info().Relay, "the core relays through the network")
		})
	}
	t.Run("tokens print as secrets", func(t *testing.T) {
		c := AppConfig{BotToken: "xoxb-9", AppToken: "xapp-9"}
		assert.NotContains(t, fmtAny(c), "xoxb-9")
		assert.NotContains(t, fmtAny(c), "xapp-9")
	})
}

func TestAppMode(t *testing.T) {
	env := newEnv(t, withApp)
	app := func() *Session {
		require.Eventually(t, func() bool { return env.emu.SocketConnections(testApp.ID) == 1 }, 10*time.Second, 10*time.Millisecond)
		return env.net.appSession()
	}()
	require.NotNil(t, app)
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, MXID: "!general:example.org"}
	dana := &bridge.User{MXID: "@dana:example.org"}
	relay := func(t *testing.T, evt id.EventID, c *event.MessageEventContent) *bridge.MessageResult {
		t.Helper()
		res, err := env.net.HandleRelayMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: dana, SenderName: "Dana", Event: &event.Event{ID: evt}, Content: c})
		require.NoError(t, err)
		return res
	}
	last := func() slackemu.Message {
		msgs := env.emu.Messages(env.general)
		return msgs[len(msgs)-1]
	}

	t.Run("the app's bot watches a channel from when it joins", func(t *testing.T) {
		_, _, err := env.net.ResolveChat(env.ctx, "T0001-C0GENERAL")
		assert.ErrorIs(t, err, bridge.ErrPortalNotFound, "not before the bot is in it")
		env.emu.Join(env.general, testApp.BotUser)
		info := env.core.take(t, kindIs(bridge.RemoteChatInfo))
		assert.Equal(t, portal.Key, info.Portal)
		assert.True(t, info.CreatePortal)
		assert.Equal(t, "general", *info.ChatInfo.Name)
		assert.Empty(t, info.ChatInfo.Invite, "nobody is logged in")
		for _, m := range info.ChatInfo.Members {
			assert.NotEqual(t, bridge.RemoteUserID("T0001-U0BOT"), m.ID, "the bridge's own bot gets no ghost")
		}
		env.emu.Post(env.general, "U002", "hello app", "")
		msg := env.core.take(t, messageWith("hello app"))
		assert.Equal(t, bridge.RemoteUserID("T0001-U002"), msg.Sender.ID)
		assert.Eventually(t, func() bool { return env.emu.Unacked(testApp.ID) == 0 }, 5*time.Second, 10*time.Millisecond,
			"every envelope is acknowledged")
	})

	t.Run("a Matrix user without a login is relayed under their name and icon", func(t *testing.T) {
		res := relay(t, "$relay", matrixText("hi from Matrix", ""))
		m := last()
		assert.Equal(t, string(res.ID), m.TS)
		assert.Equal(t, "hi from Matrix", m.Text)
		assert.Equal(t, "Dana", m.Username)
		assert.Equal(t, testApp.BotID, m.BotID)
		require.NotNil(t, m.Icons)
		assert.Equal(t, "https://avatars.example/dana.png", m.Icons.ImageURL)
		echo := env.core.take(t, messageWith("hi from Matrix"))
		assert.Equal(t, res.ID, echo.ID, "the echo carries the ts the core has mapped, so it drops it")
	})

	t.Run("a relayed emote is italic text under the name", func(t *testing.T) {
		c := matrixText("waves", "")
		c.MsgType = event.MsgEmote
		relay(t, "$emote", c)
		assert.Equal(t, "_waves_", last().Text)
		assert.Equal(t, "Dana", last().Username)
	})

	t.Run("a relayed file says whose it is", func(t *testing.T) {
		env.core.addMedia("mxc://example.org/relayed", "relayed bytes")
		res := relay(t, "$file", &event.MessageEventContent{MsgType: event.MsgFile, Body: "notes.txt", URL: "mxc://example.org/relayed"})
		assert.Nil(t, res)
		m := last()
		assert.Equal(t, "*Dana* sent a file.", m.Text)
		require.Len(t, m.Files, 1)
		assert.Equal(t, bridge.MessageID(m.TS), env.core.mappedTo(t, "$file"))
	})

	t.Run("the bot's DMs and channels it is not in are not bridged", func(t *testing.T) {
		dm := env.emu.AddConversation(slackemu.Conversation{ID: "D0BOT", Kind: slackemu.IM, Members: []string{testApp.BotUser, "U002"}})
		env.emu.Post(dm, "U002", "psst, bot", "")
		env.core.none(t, 300*time.Millisecond, messageWith("psst, bot"))
		_, err := env.net.HandleRelayMessage(env.ctx, &bridge.MatrixMessage{Portal: &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0002-C1"}},
			Sender: dana, Content: matrixText("x", "")})
		assert.ErrorIs(t, err, bridge.ErrPermanent)
		_, _, err = env.net.ResolveChat(env.ctx, "T0001-C0NOPE")
		assert.ErrorIs(t, err, bridge.ErrPortalNotFound)
	})

	t.Run("an alias of a channel the bot is in resolves to its portal", func(t *testing.T) {
		chat, info, err := env.net.ResolveChat(env.ctx, "T0001-C0GENERAL")
		require.NoError(t, err)
		assert.Equal(t, bridge.ChatID("T0001-C0GENERAL"), chat)
		assert.Equal(t, "general", *info.Name)
	})

	t.Run("what was said while Socket Mode was down is caught up", func(t *testing.T) {
		env.emu.SetRTMDown(true)
		require.Eventually(t, func() bool { return env.emu.SocketConnections(testApp.ID) == 0 }, 5*time.Second, 10*time.Millisecond)
		env.emu.Post(env.general, "U002", "missed by the app", "")
		env.emu.SetRTMDown(false)
		env.core.take(t, messageWith("missed by the app"))
	})
}

func fmtAny(v any) string { return fmt.Sprintf("%v %+v %#v", v, v, v) }

// TestAppStopWhileRetrying: app mode that could not reach Slack at start
// keeps trying in the background; Stop ends that, and no app connects
// afterwards.
func TestAppStopWhileRetrying(t *testing.T) {
	env := newEnv(t)
	env.emu.RateLimit("auth.test", 1, 60) // longer than MaxRetryAfter: not reachable yet
	cfg := env.cfg
	withApp(&cfg)
	n := NewNetwork(cfg, bridge.CommonConfig{Domain: "example.org"})
	require.NoError(t, n.start(env.ctx, newRecorder(), env.db), "an unreachable Slack is no reason not to start")
	require.NotNil(t, n.appRetried, "retrying in the background")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Stop(ctx))
	select {
	case <-n.appRetried:
	default:
		t.Fatal("the retry still runs after Stop")
	}
	assert.Nil(t, n.appSession(), "no app connected")
	assert.Zero(t, env.emu.SocketConnections(testApp.ID), "no Socket Mode connection")
}
