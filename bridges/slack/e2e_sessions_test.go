package slack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
)

// Carol's browser session: an xoxc- token that Slack accepts only with the
// d cookie it was issued with.
const (
	e2eCarolTok    = "xoxc-e2e-carol"
	e2eCarolCookie = "xoxd-e2e-carol-cookie"
)

// TestEndToEndSessions is about logins rather than messages, in a world of
// its own so that a revoked token does not spoil TestEndToEnd: Carol logs
// in with a browser session (token and cookie), talks through it, runs
// into Slack's rate limit, and has her token revoked.
func TestEndToEndSessions(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.emu.AddToken(slackemu.Token{Value: e2eCarolTok, User: "U003", Cookie: e2eCarolCookie})
	require.Contains(t, w.command("login slack "+e2eAliceTok), "alice")
	room := w.joinPortal(w.general)
	carol := w.bw.NewUser("carol")
	carolMgmt := carol.ManagementRoom()
	bot := bridgeworld.BotMXID()
	carolRoom := room

	t.Run("a browser token is refused without its own d cookie and accepted with it", func(t *testing.T) {
		assert.Contains(t, carol.Command(carolMgmt, "login slack "+e2eCarolTok), "usage", "a browser token needs its cookie")
		reply := carol.Command(carolMgmt, "login slack "+e2eCarolTok+" xoxd-not-the-cookie")
		assert.Contains(t, reply, "refused", "Slack does not take the token with another cookie")
		assert.NotContains(t, reply, e2eCarolTok, "the answer never repeats a credential")
		assert.Contains(t, carol.Command(carolMgmt, "login slack "+e2eCarolTok+" "+e2eCarolCookie), "carol on Acme")
		w.in(t).waitSlack("carol's RTM connection", func() bool { return w.emu.RTMConnections("U003") == 1 })
	})

	t.Run("a browser session talks both ways", func(t *testing.T) {
		w := w.in(t)
		carolRoom = w.joinPortalAs(carol.Client, w.general)
		require.Equal(t, room, carolRoom)
		w.emu.Post(w.general, "U002", "hello carol", "")
		waitAs(t, w, carol.Client, carolRoom, "bob's message", from(w.ghost("U002"), "hello carol"))
		_, err := carol.Client.SendText(ctx, carolRoom, "hello from a browser session")
		require.NoError(t, err)
		w.slackMessage(w.general, "carol's message", func(m slackemu.Message) bool {
			return m.User == "U003" && m.Text == "hello from a browser session"
		})
	})

	t.Run("a burst into Slack's rate limit waits out Retry-After and arrives in order, each once", func(t *testing.T) {
		w := w.in(t)
		w.emu.RateLimit("chat.postMessage", 3, 1)
		before := len(w.emu.CallsTo("chat.postMessage"))
		var sent []string
		for i := 1; i <= 6; i++ {
			text := fmt.Sprintf("burst %d", i)
			_, err := carol.Client.SendText(ctx, carolRoom, text)
			require.NoError(t, err)
			sent = append(sent, text)
		}
		w.slackMessage(w.general, "the last of the burst", func(m slackemu.Message) bool { return m.Text == "burst 6" })
		var got []string
		for _, m := range w.emu.Messages(w.general) {
			if strings.HasPrefix(m.Text, "burst ") {
				assert.Equal(t, "U003", m.User)
				got = append(got, m.Text)
			}
		}
		assert.Equal(t, sent, got, "every message once, in the order sent")

		calls := w.emu.CallsTo("chat.postMessage")[before:]
		limited := 0
		for i, c := range calls {
			if !c.Limited {
				continue
			}
			limited++
			require.Greater(t, len(calls), i+1, "a refused call is tried again")
			assert.GreaterOrEqual(t, calls[i+1].At.Sub(c.At), time.Second, "the retry waited Retry-After")
		}
		assert.Equal(t, 3, limited)
		for _, text := range sent {
			assert.Equal(t, 1, w.countAfterMarker(room, withBody(text)), "%q appears once in Matrix", text)
		}
	})

	t.Run("a token revoked mid-session is told at once and messages get an error notice", func(t *testing.T) {
		w := w.in(t)
		w.emu.RevokeToken(e2eCarolTok)
		carol.WaitFor(carolMgmt, "the notice that the login stopped", func(evt *event.Event) bool {
			return evt.Sender == bot && strings.Contains(bridgeworld.Body(evt), "stopped") && strings.Contains(bridgeworld.Body(evt), "Acme")
		})
		_, err := carol.Client.SendText(ctx, carolRoom, "is this thing on?")
		require.NoError(t, err)
		notice := carol.WaitFor(carolRoom, "the error notice", func(evt *event.Event) bool {
			return evt.Sender == bot && strings.Contains(bridgeworld.Body(evt), "not delivered")
		})
		assert.Contains(t, bridgeworld.Body(notice), "log in again")
		for _, m := range w.emu.Messages(w.general) {
			assert.NotEqual(t, "is this thing on?", m.Text, "nothing reached Slack")
		}
		_, err = w.alice.SendText(ctx, room, "alice still gets through")
		require.NoError(t, err)
		w.slackMessage(w.general, "alice's message", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "alice still gets through" })
	})

	t.Run("logout forgets the token, and revokes it on Slack only when asked", func(t *testing.T) {
		w := w.in(t)
		w.emu.AddToken(slackemu.Token{Value: e2eAliceTok2, User: "U001"})
		assert.Contains(t, w.command("logout slack"), "Logged out")
		assert.False(t, w.emu.Revoked(e2eAliceTok), "a plain logout revoked the token")
		require.Contains(t, w.command("login slack "+e2eAliceTok2), "alice")
		assert.Contains(t, w.command("logout slack revoke"), "revoked")
		assert.True(t, w.emu.Revoked(e2eAliceTok2), "the token still works on Slack")
		assert.Contains(t, w.command("status"), "no sessions")
	})
}
