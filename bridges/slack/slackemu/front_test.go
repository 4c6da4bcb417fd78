package slackemu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

const (
	ginaToken  = "xoxp-gina-1"
	ginaCookie = "xoxd-gina-cookie"
	ginaBrowse = "xoxc-gina-1"
)

// frontFixture is the fixture's Acme and a second workspace, Globex, behind
// one Front. Globex reuses Acme's IDs on purpose (its #general has Acme's
// channel ID, its U001 is Gina): IDs are unique only within a workspace,
// so only the token can tell the two apart.
type frontFixture struct {
	*fixture
	globex *slackemu.Server
	front  *slackemu.Front
}

func newFrontFixture(t *testing.T) *frontFixture {
	t.Helper()
	f := newFixture(t)
	globex := slackemu.New(t, "T0002", "Globex")
	globex.AddUser(slackemu.User{ID: "U001", Name: "gina"})
	globex.AddToken(slackemu.Token{Value: ginaToken, User: "U001"})
	globex.AddToken(slackemu.Token{Value: ginaBrowse, User: "U001", Cookie: ginaCookie})
	globex.AddConversation(slackemu.Conversation{ID: f.general, Name: "general", Members: []string{"U001"}})
	return &frontFixture{fixture: f, globex: globex, front: slackemu.NewFront(t, f.emu, globex)}
}

// via is a slack-go client that only knows the Front's URL.
func (f *frontFixture) via(token string, opts ...slack.Option) *slack.Client {
	return slack.New(token, append([]slack.Option{slack.OptionAPIURL(f.front.APIURL())}, opts...)...)
}

// behind is where the Front serves what a workspace hands out.
func (f *frontFixture) behind(team string) string {
	return strings.TrimSuffix(f.front.APIURL(), "/api/") + "/" + team
}

// wsOf is an http(s) base as a ws(s) one.
func wsOf(base string) string { return "ws" + strings.TrimPrefix(base, "http") }

func TestFront(t *testing.T) {
	f := newFrontFixture(t)
	ctx := context.Background()

	t.Run("each call acts in the workspace that issued its token", func(t *testing.T) {
		for token, team := range map[string]string{aliceToken: "T0001", ginaToken: "T0002"} {
			resp, err := f.via(token).AuthTestContext(ctx)
			require.NoError(t, err)
			assert.Equal(t, team, resp.TeamID)
			assert.Equal(t, "U001", resp.UserID)
		}
		_, _, err := f.via(ginaToken).PostMessageContext(ctx, f.general, slack.MsgOptionText("hello globex", false))
		require.NoError(t, err)
		require.Len(t, f.globex.Messages(f.general), 1)
		assert.Equal(t, "hello globex", f.globex.Messages(f.general)[0].Text, "the body reached the workspace whole")
		assert.Empty(t, f.emu.Messages(f.general), "Acme's channel of the same ID got nothing")
		assert.Len(t, f.globex.CallsTo("chat.postMessage"), 1)
		assert.Empty(t, f.emu.CallsTo("chat.postMessage"))
	})

	t.Run("the token is found in the bearer header, the query and the body", func(t *testing.T) {
		for name, req := range map[string]func() *http.Request{
			"bearer": func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, f.front.APIURL()+"auth.test", nil)
				r.Header.Set("Authorization", "Bearer "+ginaToken)
				return r
			},
			"query": func() *http.Request {
				r, _ := http.NewRequest(http.MethodGet, f.front.APIURL()+"auth.test?token="+ginaToken, nil)
				return r
			},
			"form": func() *http.Request {
				r, _ := http.NewRequest(http.MethodPost, f.front.APIURL()+"auth.test", strings.NewReader(url.Values{"token": {ginaToken}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
		} {
			resp, err := http.DefaultClient.Do(req())
			require.NoError(t, err, name)
			var body struct {
				OK     bool   `json:"ok"`
				TeamID string `json:"team_id"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body), name)
			resp.Body.Close()
			assert.True(t, body.OK, name)
			assert.Equal(t, "T0002", body.TeamID, name)
		}
	})

	t.Run("calls no workspace takes get Slack's answers", func(t *testing.T) {
		initech := slackemu.New(t, "T0003", "Initech")
		initech.AddUser(slackemu.User{ID: "U001", Name: "peter"})
		initech.AddToken(slackemu.Token{Value: "xoxp-revoked", User: "U001"})
		initech.RevokeToken("xoxp-revoked")
		front := slackemu.NewFront(t, initech)
		for token, want := range map[string]string{"xoxp-nobody": "invalid_auth", "": "not_authed", "xoxp-revoked": "token_revoked"} {
			_, err := slack.New(token, slack.OptionAPIURL(front.APIURL())).AuthTestContext(ctx)
			assert.EqualError(t, err, want, "token %q", token)
		}
	})

	t.Run("a browser token's d cookie reaches its workspace", func(t *testing.T) {
		resp, err := f.via(ginaBrowse, slack.OptionHTTPClient(cookieClient{ginaCookie})).AuthTestContext(ctx)
		require.NoError(t, err)
		assert.Equal(t, "T0002", resp.TeamID)
		_, err = f.via(ginaBrowse).AuthTestContext(ctx)
		assert.EqualError(t, err, "invalid_auth", "without the cookie the workspace refuses it")
		_, err = f.via(carolToken, slack.OptionHTTPClient(cookieClient{ginaCookie})).AuthTestContext(ctx)
		assert.EqualError(t, err, "invalid_auth", "another workspace's cookie does not do")
	})

	t.Run("an RTM session is with the workspace that issued the token", func(t *testing.T) {
		_, wsURL, err := f.via(ginaToken).ConnectRTMContext(ctx)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(wsURL, wsOf(f.behind("T0002"))+"/rtm/"), wsURL)
		ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		require.NoError(t, err)
		t.Cleanup(func() { ws.Close() })
		c := &rtmClient{t: t, ws: ws}
		assert.Equal(t, "hello", c.next()["type"])
		f.emu.Post(f.general, "U002", "acme only", "")
		f.globex.Post(f.general, "U001", "globex only", "")
		assert.Equal(t, "globex only", c.nextOf("message")["text"])
	})

	t.Run("files go to and come from the workspace that issued the token", func(t *testing.T) {
		_, err := f.via(ginaToken).UploadFileContext(ctx, slack.UploadFileParameters{
			Filename: "plan.txt", FileSize: 4, Reader: strings.NewReader("plan"), Channel: f.general,
		})
		require.NoError(t, err)
		msgs := f.globex.Messages(f.general)
		m := msgs[len(msgs)-1]
		require.Len(t, m.Files, 1)
		assert.True(t, strings.HasPrefix(m.Files[0].URLPrivate, f.behind("T0002")+"/files-pri/T0002-"), m.Files[0].URLPrivate)
		var buf strings.Builder
		require.NoError(t, f.via(ginaToken).GetFileContext(ctx, m.Files[0].URLPrivateDownload, &buf))
		assert.Equal(t, "plan", buf.String())
		assert.Error(t, f.via(aliceToken).GetFileContext(ctx, m.Files[0].URLPrivateDownload, &strings.Builder{}), "an Acme token does not open a Globex file")
	})

	t.Run("a workspace icon is served behind the Front without a token", func(t *testing.T) {
		f.globex.SetTeamIcon([]byte("png"))
		team, err := f.via(ginaToken).GetTeamInfoContext(ctx)
		require.NoError(t, err)
		icon, _ := team.Icon["image_132"].(string)
		require.True(t, strings.HasPrefix(icon, f.behind("T0002")+"/team-icon/"), icon)
		resp, err := http.Get(icon)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("an app-level token opens Socket Mode in its workspace", func(t *testing.T) {
		f.emu.AddApp(testApp)
		_, wsURL, err := f.via(testApp.BotToken, slack.OptionAppLevelToken(testApp.AppToken)).StartSocketModeContext(ctx)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(wsURL, wsOf(f.behind("T0001"))+"/socket/"), wsURL)
		ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		require.NoError(t, err)
		defer ws.Close()
		var hello map[string]any
		require.NoError(t, ws.ReadJSON(&hello))
		assert.Equal(t, "hello", hello["type"])
	})

	t.Run("two workspaces with one team ID are refused", func(t *testing.T) {
		again := slackemu.New(t, "T0002", "Globex again")
		assert.Panics(t, func() { slackemu.NewFront(t, f.globex, again) })
	})
}
