package slackemu_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

var testApp = slackemu.App{ID: "A001", BotID: "B0APP", BotUser: "U0BOT", BotName: "isthmus", BotToken: "xoxb-app-1", AppToken: "xapp-1-app"}

// appFixture is the fixture workspace with the app installed and its bot
// in #general.
func appFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.emu.AddApp(testApp)
	f.emu.Join(f.general, testApp.BotUser)
	return f
}

func (f *fixture) appClient() *slack.Client {
	return f.client(testApp.BotToken, slack.OptionAppLevelToken(testApp.AppToken))
}

// socketClient is a raw Socket Mode connection, so tests decide when to
// acknowledge.
type socketClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialSocket(t *testing.T, f *fixture) *socketClient {
	t.Helper()
	_, wsURL, err := f.appClient().StartSocketModeContext(context.Background())
	require.NoError(t, err)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	return &socketClient{t: t, ws: ws}
}

type testEnvelope struct {
	Type         string `json:"type"`
	EnvelopeID   string `json:"envelope_id"`
	RetryAttempt int    `json:"retry_attempt"`
	Payload      struct {
		Type     string         `json:"type"`
		TeamID   string         `json:"team_id"`
		APIAppID string         `json:"api_app_id"`
		Event    map[string]any `json:"event"`
	} `json:"payload"`
}

func (c *socketClient) next() testEnvelope {
	c.t.Helper()
	require.NoError(c.t, c.ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	var env testEnvelope
	require.NoError(c.t, c.ws.ReadJSON(&env))
	return env
}

func TestSocketMode(t *testing.T) {
	f := appFixture(t)
	ctx := context.Background()

	t.Run("an app-level token opens connections and nothing else", func(t *testing.T) {
		_, err := f.client(testApp.AppToken).AuthTestContext(ctx)
		require.Error(t, err)
		assert.Equal(t, "not_allowed_token_type", err.Error())
		_, _, err = f.client(testApp.BotToken, slack.OptionAppLevelToken(testApp.BotToken)).StartSocketModeContext(ctx)
		require.Error(t, err)
		assert.Equal(t, "not_allowed_token_type", err.Error())
		auth, err := f.client(testApp.BotToken).AuthTestContext(ctx)
		require.NoError(t, err)
		assert.Equal(t, testApp.BotUser, auth.UserID)
		assert.Equal(t, testApp.BotID, auth.BotID)
	})

	sock := dialSocket(t, f)
	t.Run("a connection is greeted with hello", func(t *testing.T) {
		hello := sock.next()
		assert.Equal(t, "hello", hello.Type)
		assert.Equal(t, 1, f.emu.SocketConnections(testApp.ID))
	})

	var unacked testEnvelope
	t.Run("events of the bot's conversations come in acknowledged envelopes", func(t *testing.T) {
		f.emu.Typing(f.general, "U002") // RTM-only: not an Events API event
		ts := f.emu.Post(f.general, "U002", "hello app", "")
		env := sock.next()
		assert.Equal(t, "events_api", env.Type)
		assert.NotEmpty(t, env.EnvelopeID)
		assert.Equal(t, "event_callback", env.Payload.Type)
		assert.Equal(t, testApp.ID, env.Payload.APIAppID)
		assert.Equal(t, "T0001", env.Payload.TeamID)
		assert.Equal(t, "message", env.Payload.Event["type"])
		assert.Equal(t, ts, env.Payload.Event["ts"])
		require.NoError(t, sock.ws.WriteJSON(map[string]string{"envelope_id": env.EnvelopeID}))
		require.Eventually(t, func() bool { return f.emu.Acked() == 1 }, 5*time.Second, 10*time.Millisecond)

		f.emu.Post(f.random, "U002", "not for the app", "") // the bot is not in #random
		f.emu.Post(f.general, "U002", "left unacknowledged", "")
		unacked = sock.next()
		assert.Equal(t, "left unacknowledged", unacked.Payload.Event["text"])
		assert.Equal(t, 1, f.emu.Unacked(testApp.ID))
	})

	t.Run("an unacknowledged envelope comes again on the next connection", func(t *testing.T) {
		f.emu.DropRTM()
		again := dialSocket(t, f)
		assert.Equal(t, "hello", again.next().Type)
		env := again.next()
		assert.Equal(t, unacked.EnvelopeID, env.EnvelopeID)
		assert.Equal(t, 1, env.RetryAttempt)
	})
}

// TestSocketModeWithSlackGo checks the envelopes decode in slack-go's own
// Socket Mode client, which the adapter uses, including its ping watchdog.
func TestSocketModeWithSlackGo(t *testing.T) {
	f := appFixture(t)
	smc := socketmode.New(f.appClient(), socketmode.OptionPingInterval(3*slackemu.SocketPingInterval))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = smc.RunContext(ctx) }()
	deadline := time.After(10 * time.Second)
	posted := false
	for {
		select {
		case evt := <-smc.Events:
			switch evt.Type {
			case socketmode.EventTypeHello:
				if !posted {
					f.emu.Post(f.general, "U002", "via slack-go", "")
					posted = true
				}
			case socketmode.EventTypeEventsAPI:
				require.NoError(t, smc.Ack(*evt.Request))
				outer := evt.Data.(slackevents.EventsAPIEvent)
				msg, ok := outer.InnerEvent.Data.(*slackevents.MessageEvent)
				require.True(t, ok, "inner event %T", outer.InnerEvent.Data)
				assert.Equal(t, "via slack-go", msg.Text)
				var raw map[string]any
				require.NoError(t, json.Unmarshal(evt.Request.Payload, &raw))
				assert.Equal(t, "event_callback", raw["type"])
				require.Eventually(t, func() bool { return f.emu.Unacked(testApp.ID) == 0 }, 5*time.Second, 10*time.Millisecond)
				return
			}
		case <-deadline:
			t.Fatal("no events_api event through slack-go")
		}
	}
}
