package slackemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// The tests drive the emulator with slack-go, the client the adapter uses,
// so a shape the emulator gets wrong shows up as a decoding failure here.

const (
	aliceToken  = "xoxp-alice-1"
	bobToken    = "xoxp-bob-1"
	carolToken  = "xoxc-carol-1"
	carolCookie = "xoxd-carol-cookie"
)

type fixture struct {
	emu     *slackemu.Server
	general string
	random  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	emu := slackemu.New(t, "T0001", "Acme")
	emu.AddUser(slackemu.User{ID: "U001", Name: "alice", Profile: slackemu.UserProfile{DisplayName: "Alice"}})
	emu.AddUser(slackemu.User{ID: "U002", Name: "bob"})
	emu.AddUser(slackemu.User{ID: "U003", Name: "carol"})
	emu.AddToken(slackemu.Token{Value: aliceToken, User: "U001"})
	emu.AddToken(slackemu.Token{Value: bobToken, User: "U002"})
	emu.AddToken(slackemu.Token{Value: carolToken, User: "U003", Cookie: carolCookie})
	emu.AddToken(slackemu.Token{Value: "xoxb-bot-1", User: "U002", BotID: "B001"})
	general := emu.AddConversation(slackemu.Conversation{Name: "general", General: true, Topic: "all hands", Members: []string{"U001", "U002", "U003"}})
	random := emu.AddConversation(slackemu.Conversation{Name: "random", Kind: slackemu.PrivateChannel, Members: []string{"U002"}})
	return &fixture{emu: emu, general: general, random: random}
}

func (f *fixture) client(token string, opts ...slack.Option) *slack.Client {
	return slack.New(token, append([]slack.Option{slack.OptionAPIURL(f.emu.APIURL())}, opts...)...)
}

// cookieClient adds the d cookie to every request, the way the adapter
// sends it for xoxc- tokens.
type cookieClient struct{ cookie string }

func (c cookieClient) Do(r *http.Request) (*http.Response, error) {
	r.AddCookie(&http.Cookie{Name: "d", Value: c.cookie})
	return http.DefaultClient.Do(r)
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	f.emu.AddUser(slackemu.User{ID: "U009", Name: "gone", Deleted: true})
	f.emu.AddToken(slackemu.Token{Value: "xoxp-gone", User: "U009"})
	f.emu.AddToken(slackemu.Token{Value: "xoxp-revoked", User: "U002"})
	f.emu.RevokeToken("xoxp-revoked")

	tests := []struct {
		name    string
		client  *slack.Client
		wantErr string
		user    string
	}{
		{"a user token is accepted as a form parameter", f.client(aliceToken), "", "U001"},
		{"a browser token with its d cookie is accepted", f.client(carolToken, slack.OptionHTTPClient(cookieClient{carolCookie})), "", "U003"},
		{"a browser token without the d cookie is invalid", f.client(carolToken), "invalid_auth", ""},
		{"a browser token with another d cookie is invalid", f.client(carolToken, slack.OptionHTTPClient(cookieClient{"xoxd-other"})), "invalid_auth", ""},
		{"an unknown token is invalid", f.client("xoxp-nope"), "invalid_auth", ""},
		{"a revoked token says so", f.client("xoxp-revoked"), "token_revoked", ""},
		{"a deactivated user's token is inactive", f.client("xoxp-gone"), "account_inactive", ""},
		{"a missing token is not authed", f.client(""), "not_authed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.AuthTestContext(context.Background())
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.user, resp.UserID)
			assert.Equal(t, "T0001", resp.TeamID)
			assert.Equal(t, "Acme", resp.Team)
		})
	}

	t.Run("errors come with HTTP 200 and a bearer token is accepted", func(t *testing.T) {
		for token, want := range map[string]string{"xoxp-nope": `"error":"invalid_auth"`, aliceToken: `"ok":true`} {
			req, err := http.NewRequest(http.MethodPost, f.emu.APIURL()+"auth.test", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var body json.RawMessage
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, string(body), want)
		}
	})

	t.Run("a bot token reports its bot ID", func(t *testing.T) {
		resp, err := f.client("xoxb-bot-1").AuthTestContext(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "B001", resp.BotID)
	})

	t.Run("calls are recorded without the token", func(t *testing.T) {
		calls := f.emu.CallsTo("auth.test")
		require.NotEmpty(t, calls)
		for _, c := range calls {
			assert.NotContains(t, c.Params, "token")
		}
	})
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	f.emu.RateLimit("auth.test", 2, 3)
	api := f.client(aliceToken)

	for i := range 2 {
		_, err := api.AuthTestContext(context.Background())
		var rl *slack.RateLimitedError
		require.True(t, errors.As(err, &rl), "call %d must be rate limited, got %v", i, err)
		assert.Equal(t, 3*time.Second, rl.RetryAfter)
	}
	_, err := api.AuthTestContext(context.Background())
	assert.NoError(t, err, "the limit lasts for the given number of calls")
	var limited []bool
	for _, c := range f.emu.CallsTo("auth.test") {
		limited = append(limited, c.Limited)
	}
	assert.Equal(t, []bool{true, true, false}, limited, "refused calls are recorded as such")
}

// TestHold: a held method does its work at once and answers only when
// released; other people's calls of it, and the caller's other methods,
// are not held.
func TestHold(t *testing.T) {
	f := newFixture(t)
	release := f.emu.Hold("conversations.open", "U001")
	t.Cleanup(release)
	answered := make(chan error, 1)
	go func() {
		_, _, _, err := f.client(aliceToken).OpenConversation(&slack.OpenConversationParameters{Users: []string{"U003"}})
		answered <- err
	}()
	require.Eventually(t, func() bool { return f.emu.IMWith("U001", "U003") != "" }, 10*time.Second, 5*time.Millisecond,
		"the DM is opened before the answer")
	_, _, _, err := f.client(bobToken).OpenConversation(&slack.OpenConversationParameters{Users: []string{"U003"}})
	require.NoError(t, err, "bob's call is not held")
	_, err = f.client(aliceToken).AuthTest()
	require.NoError(t, err, "alice's other methods are not held")
	select {
	case err := <-answered:
		t.Fatalf("the held call answered: %v", err)
	default:
	}
	release()
	select {
	case err := <-answered:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the released call did not answer")
	}
	release() // harmless twice
}

func TestUsersAndConversations(t *testing.T) {
	f := newFixture(t)
	alice := f.client(aliceToken)
	ctx := context.Background()

	t.Run("users.info returns the profile", func(t *testing.T) {
		u, err := alice.GetUserInfoContext(ctx, "U001")
		require.NoError(t, err)
		assert.Equal(t, "alice", u.Name)
		assert.Equal(t, "Alice", u.Profile.DisplayName)
		assert.Equal(t, "T0001", u.TeamID)
		_, err = alice.GetUserInfoContext(ctx, "U404")
		assert.EqualError(t, err, "user_not_found")
	})

	t.Run("users.profile.get defaults to the caller", func(t *testing.T) {
		p, err := alice.GetUserProfileContext(ctx, &slack.GetUserProfileParameters{})
		require.NoError(t, err)
		assert.Equal(t, "Alice", p.DisplayName)
	})

	t.Run("users.conversations lists only the caller's conversations of the asked types", func(t *testing.T) {
		chans, next, err := alice.GetConversationsForUserContext(ctx, &slack.GetConversationsForUserParameters{
			Types: []string{"public_channel", "private_channel"},
		})
		require.NoError(t, err)
		assert.Empty(t, next)
		require.Len(t, chans, 1)
		assert.Equal(t, "general", chans[0].Name)
		assert.Equal(t, "all hands", chans[0].Topic.Value)
		assert.True(t, chans[0].IsMember)
	})

	t.Run("users.conversations paginates with a cursor", func(t *testing.T) {
		for _, n := range []string{"a", "b", "c"} {
			f.emu.AddConversation(slackemu.Conversation{Name: n, Members: []string{"U002"}})
		}
		bob := f.client(bobToken)
		var names []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			chans, next, err := bob.GetConversationsForUserContext(ctx, &slack.GetConversationsForUserParameters{
				Types: []string{"public_channel", "private_channel"}, Limit: 2, Cursor: cursor,
			})
			require.NoError(t, err)
			for _, c := range chans {
				names = append(names, c.Name)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		assert.ElementsMatch(t, []string{"general", "random", "a", "b", "c"}, names)
	})

	t.Run("a private channel is not found by a non-member", func(t *testing.T) {
		_, err := alice.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: f.random})
		assert.EqualError(t, err, "channel_not_found")
	})

	t.Run("conversations.members lists member IDs", func(t *testing.T) {
		members, _, err := alice.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: f.general})
		require.NoError(t, err)
		assert.Equal(t, []string{"U001", "U002", "U003"}, members)
	})

	t.Run("conversations.open makes one IM per pair and reuses it", func(t *testing.T) {
		ch, already, _, err := alice.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U002"}})
		require.NoError(t, err)
		assert.False(t, already)
		assert.True(t, strings.HasPrefix(ch.ID, "D"))
		again, already, _, err := alice.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U002"}})
		require.NoError(t, err)
		assert.True(t, already)
		assert.Equal(t, ch.ID, again.ID)
		info, err := f.client(bobToken).GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: ch.ID})
		require.NoError(t, err)
		assert.True(t, info.IsIM)
		assert.Equal(t, "U001", info.User, "an IM names the other person")
		assert.Equal(t, ch.ID, f.emu.IMWith("U002", "U001"), "tests find the IM by its people")
		assert.Empty(t, f.emu.IMWith("U001", "U404"))
	})

	t.Run("conversations.open with several users makes an MPIM", func(t *testing.T) {
		ch, _, _, err := alice.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U002", "U003"}, ReturnIM: true})
		require.NoError(t, err)
		assert.True(t, ch.IsMpIM)
		assert.ElementsMatch(t, []string{"U001", "U002", "U003"}, f.emu.Members(ch.ID))
	})
}

func TestMessages(t *testing.T) {
	f := newFixture(t)
	alice := f.client(aliceToken)
	ctx := context.Background()

	_, ts, err := alice.PostMessageContext(ctx, f.general, slack.MsgOptionText("hello *world*", false))
	require.NoError(t, err)

	t.Run("a posted message is stored with the caller as author", func(t *testing.T) {
		msgs := f.emu.Messages(f.general)
		require.Len(t, msgs, 1)
		assert.Equal(t, "U001", msgs[0].User)
		assert.Equal(t, "hello *world*", msgs[0].Text)
		assert.Equal(t, ts, msgs[0].TS)
	})

	t.Run("posting where the caller is not a member fails", func(t *testing.T) {
		_, _, err := alice.PostMessageContext(ctx, f.random, slack.MsgOptionText("x", false))
		assert.EqualError(t, err, "channel_not_found")
	})

	t.Run("an empty message is refused", func(t *testing.T) {
		_, _, err := alice.PostMessageContext(ctx, f.general, slack.MsgOptionText("", false))
		assert.EqualError(t, err, "no_text")
	})

	t.Run("only the author may update", func(t *testing.T) {
		_, _, _, err := f.client(bobToken).UpdateMessageContext(ctx, f.general, ts, slack.MsgOptionText("hacked", false))
		assert.EqualError(t, err, "cant_update_message")
		_, _, _, err = alice.UpdateMessageContext(ctx, f.general, ts, slack.MsgOptionText("hello there", false))
		require.NoError(t, err)
		m := f.emu.Messages(f.general)[0]
		assert.Equal(t, "hello there", m.Text)
		require.NotNil(t, m.Edited)
		assert.Equal(t, "U001", m.Edited.User)
	})

	t.Run("reactions are added once and removed", func(t *testing.T) {
		ref := slack.NewRefToMessage(f.general, ts)
		require.NoError(t, alice.AddReactionContext(ctx, "thumbsup", ref))
		assert.EqualError(t, alice.AddReactionContext(ctx, "thumbsup", ref), "already_reacted")
		require.NoError(t, f.client(bobToken).AddReactionContext(ctx, "thumbsup", ref))
		m := f.emu.Messages(f.general)[0]
		require.Len(t, m.Reactions, 1)
		assert.Equal(t, 2, m.Reactions[0].Count)
		require.NoError(t, alice.RemoveReactionContext(ctx, "thumbsup", ref))
		assert.EqualError(t, alice.RemoveReactionContext(ctx, "thumbsup", ref), "no_reaction")
	})

	t.Run("a /me message has the me_message subtype", func(t *testing.T) {
		_, _, err := alice.PostMessageContext(ctx, f.general, slack.MsgOptionText("waves", false), slack.MsgOptionMeMessage())
		require.NoError(t, err)
		msgs := f.emu.Messages(f.general)
		assert.Equal(t, "me_message", msgs[len(msgs)-1].Subtype)
	})

	t.Run("a bot posting under another name makes a bot_message", func(t *testing.T) {
		_, _, err := f.client("xoxb-bot-1").PostMessageContext(ctx, f.general, slack.MsgOptionText("relayed", false),
			slack.MsgOptionUsername("dave (Matrix)"), slack.MsgOptionIconURL("https://example.org/a.png"))
		require.NoError(t, err)
		msgs := f.emu.Messages(f.general)
		last := msgs[len(msgs)-1]
		assert.Equal(t, "bot_message", last.Subtype)
		assert.Equal(t, "B001", last.BotID)
		assert.Equal(t, "dave (Matrix)", last.Username)
	})

	t.Run("a thread reply counts on its parent and stays out of history", func(t *testing.T) {
		_, _, err := alice.PostMessageContext(ctx, f.general, slack.MsgOptionText("in thread", false), slack.MsgOptionTS(ts))
		require.NoError(t, err)
		hist, err := alice.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: f.general})
		require.NoError(t, err)
		for _, m := range hist.Messages {
			assert.NotEqual(t, "in thread", m.Text)
			if m.Timestamp == ts {
				assert.Equal(t, 1, m.ReplyCount)
			}
		}
		replies, _, _, err := alice.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: f.general, Timestamp: ts})
		require.NoError(t, err)
		require.Len(t, replies, 2)
		assert.Equal(t, "in thread", replies[1].Text)
		byReply, _, _, err := alice.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: f.general, Timestamp: replies[1].Timestamp})
		require.NoError(t, err)
		assert.Equal(t, replies, byReply, "a reply's ts names its whole thread")
	})

	t.Run("a reply also sent to the channel is a thread_broadcast in history", func(t *testing.T) {
		_, bts, err := alice.PostMessageContext(ctx, f.general, slack.MsgOptionText("for everyone", false), slack.MsgOptionTS(ts), slack.MsgOptionBroadcast())
		require.NoError(t, err)
		hist, err := alice.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: f.general, Limit: 1})
		require.NoError(t, err)
		require.Len(t, hist.Messages, 1)
		assert.Equal(t, bts, hist.Messages[0].Timestamp)
		assert.Equal(t, "thread_broadcast", hist.Messages[0].SubType)
		assert.Equal(t, ts, hist.Messages[0].ThreadTimestamp)
	})

	t.Run("attachments are kept as posted", func(t *testing.T) {
		_, ats, err := alice.PostMessageContext(ctx, f.general, slack.MsgOptionAttachments(slack.Attachment{Fallback: "fb", Title: "T"}))
		require.NoError(t, err)
		hist, err := alice.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: f.general, Limit: 1})
		require.NoError(t, err)
		require.Len(t, hist.Messages, 1)
		assert.Equal(t, ats, hist.Messages[0].Timestamp)
		require.Len(t, hist.Messages[0].Attachments, 1)
		assert.Equal(t, "fb", hist.Messages[0].Attachments[0].Fallback)
	})

	t.Run("only the author may delete", func(t *testing.T) {
		_, _, err := f.client(bobToken).DeleteMessageContext(ctx, f.general, ts)
		assert.EqualError(t, err, "cant_delete_message")
		_, _, err = alice.DeleteMessageContext(ctx, f.general, ts)
		require.NoError(t, err)
		_, _, err = alice.DeleteMessageContext(ctx, f.general, ts)
		assert.EqualError(t, err, "message_not_found")
	})
}

func TestJoinLeaveKick(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob := f.client(bobToken)
	side := f.emu.AddConversation(slackemu.Conversation{Name: "side", Members: []string{"U002"}})

	t.Run("a public channel can be joined, once", func(t *testing.T) {
		ch, warning, _, err := f.client(aliceToken).JoinConversationContext(ctx, side)
		require.NoError(t, err)
		assert.Equal(t, side, ch.ID)
		assert.Empty(t, warning)
		_, warning, _, err = f.client(aliceToken).JoinConversationContext(ctx, side)
		require.NoError(t, err)
		assert.Equal(t, "already_in_channel", warning)
		assert.ElementsMatch(t, []string{"U001", "U002"}, f.emu.Members(side))
	})

	t.Run("a private channel cannot be joined", func(t *testing.T) {
		_, _, _, err := f.client(aliceToken).JoinConversationContext(ctx, f.random)
		assert.EqualError(t, err, "channel_not_found")
	})

	t.Run("leaving twice says not_in_channel without an error", func(t *testing.T) {
		notIn, err := f.client(aliceToken).LeaveConversationContext(ctx, side)
		require.NoError(t, err)
		assert.False(t, notIn)
		notIn, err = f.client(aliceToken).LeaveConversationContext(ctx, side)
		require.NoError(t, err)
		assert.True(t, notIn)
		_, err = f.client(aliceToken).LeaveConversationContext(ctx, f.general)
		assert.EqualError(t, err, "cant_leave_general")
	})

	t.Run("a member can kick another, not themselves", func(t *testing.T) {
		_, _, _, err := f.client(carolToken, slack.OptionHTTPClient(cookieClient{carolCookie})).JoinConversationContext(ctx, side)
		require.NoError(t, err)
		require.NoError(t, bob.KickUserFromConversationContext(ctx, side, "U003"))
		assert.Equal(t, []string{"U002"}, f.emu.Members(side))
		assert.EqualError(t, bob.KickUserFromConversationContext(ctx, side, "U003"), "not_in_channel")
		assert.EqualError(t, bob.KickUserFromConversationContext(ctx, side, "U002"), "cant_kick_self")
	})
}

func TestHistoryPagination(t *testing.T) {
	f := newFixture(t)
	var ts []string
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		ts = append(ts, f.emu.Post(f.general, "U002", text, ""))
	}
	alice := f.client(aliceToken)
	ctx := context.Background()

	texts := func(ms []slack.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return out
	}

	tests := []struct {
		name   string
		params slack.GetConversationHistoryParameters
		want   []string
		more   bool
	}{
		{"all history comes newest first", slack.GetConversationHistoryParameters{}, []string{"five", "four", "three", "two", "one"}, false},
		{"limit cuts the newest and says there is more", slack.GetConversationHistoryParameters{Limit: 2}, []string{"five", "four"}, true},
		{"oldest is exclusive by default", slack.GetConversationHistoryParameters{Oldest: ts[2]}, []string{"five", "four"}, false},
		{"oldest is inclusive when asked", slack.GetConversationHistoryParameters{Oldest: ts[2], Inclusive: true}, []string{"five", "four", "three"}, false},
		{"latest is exclusive by default", slack.GetConversationHistoryParameters{Latest: ts[1]}, []string{"one"}, false},
		{"both bounds inclusive", slack.GetConversationHistoryParameters{Oldest: ts[1], Latest: ts[3], Inclusive: true}, []string{"four", "three", "two"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params.ChannelID = f.general
			h, err := alice.GetConversationHistoryContext(ctx, &tt.params)
			require.NoError(t, err)
			assert.Equal(t, tt.want, texts(h.Messages))
			assert.Equal(t, tt.more, h.HasMore)
			assert.Equal(t, tt.more, h.ResponseMetaData.NextCursor != "")
		})
	}

	t.Run("the cursor walks the rest of a bounded range", func(t *testing.T) {
		var got []string
		p := slack.GetConversationHistoryParameters{ChannelID: f.general, Oldest: ts[0], Limit: 2}
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			h, err := alice.GetConversationHistoryContext(ctx, &p)
			require.NoError(t, err)
			got = append(got, texts(h.Messages)...)
			if !h.HasMore {
				break
			}
			p.Cursor = h.ResponseMetaData.NextCursor
		}
		assert.Equal(t, []string{"five", "four", "three", "two"}, got)
	})

	t.Run("a bad cursor is refused", func(t *testing.T) {
		_, err := alice.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: f.general, Cursor: "!!"})
		assert.EqualError(t, err, "invalid_cursor")
	})
}

func TestPresence(t *testing.T) {
	f := newFixture(t)
	alice := f.client(aliceToken)
	ctx := context.Background()

	p, err := alice.GetUserPresenceContext(ctx, "U002")
	require.NoError(t, err)
	assert.Equal(t, "away", p.Presence, "a user without a client is away")

	f.emu.SetPresence("U002", true)
	p, err = alice.GetUserPresenceContext(ctx, "U002")
	require.NoError(t, err)
	assert.Equal(t, "active", p.Presence)

	require.NoError(t, alice.SetUserPresenceContext(ctx, "away"))
	p, err = alice.GetUserPresenceContext(ctx, "")
	require.NoError(t, err)
	assert.True(t, p.ManualAway)
	assert.Equal(t, "away", p.Presence)

	assert.EqualError(t, alice.SetUserPresenceContext(ctx, "busy"), "invalid_presence")
}

func TestFileUpload(t *testing.T) {
	f := newFixture(t)
	alice := f.client(aliceToken)
	ctx := context.Background()

	sum, err := alice.UploadFileContext(ctx, slack.UploadFileParameters{
		Filename: "cat.png", FileSize: 4, Reader: strings.NewReader("meow"),
		Channel: f.general, InitialComment: "look", Title: "Cat",
	})
	require.NoError(t, err)
	assert.Equal(t, "Cat", sum.Title)

	msgs := f.emu.Messages(f.general)
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, "file_share", m.Subtype)
	assert.Equal(t, "look", m.Text)
	require.Len(t, m.Files, 1)
	assert.Equal(t, "image/png", m.Files[0].Mimetype)

	t.Run("the private URL needs the token", func(t *testing.T) {
		resp, err := http.Get(m.Files[0].URLPrivate)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)

		var buf strings.Builder
		require.NoError(t, alice.GetFileContext(ctx, m.Files[0].URLPrivateDownload, &buf))
		assert.Equal(t, "meow", buf.String())
	})
}

// rtmClient is a bare websocket client, so the tests see exactly what the
// emulator sends.
type rtmClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRTM(t *testing.T, f *fixture, token string, extra url.Values) *rtmClient {
	t.Helper()
	info, wsURL, err := f.client(token).ConnectRTMContext(context.Background())
	require.NoError(t, err)
	require.NotNil(t, info.User)
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	c := &rtmClient{t: t, ws: ws}
	assert.Equal(t, "hello", c.next()["type"])
	return c
}

func (c *rtmClient) next() map[string]any {
	c.t.Helper()
	require.NoError(c.t, c.ws.SetReadDeadline(time.Now().Add(5*time.Second)))
	var ev map[string]any
	require.NoError(c.t, c.ws.ReadJSON(&ev))
	return ev
}

// nextOf skips events of other types (presence of the connection itself).
func (c *rtmClient) nextOf(kind string) map[string]any {
	c.t.Helper()
	for range 20 {
		if ev := c.next(); ev["type"] == kind {
			return ev
		}
	}
	c.t.Fatalf("no %s event", kind)
	return nil
}

func (c *rtmClient) send(v any) {
	c.t.Helper()
	require.NoError(c.t, c.ws.WriteJSON(v))
}

func TestRTM(t *testing.T) {
	f := newFixture(t)
	alice := dialRTM(t, f, aliceToken, nil)

	t.Run("a ping gets a pong echoing its fields", func(t *testing.T) {
		alice.send(map[string]any{"id": 7, "type": "ping", "time": 1234})
		ev := alice.nextOf("pong")
		assert.EqualValues(t, 7, ev["reply_to"])
		assert.EqualValues(t, 1234, ev["time"])
	})

	t.Run("a message from the Slack app reaches members", func(t *testing.T) {
		ts := f.emu.Post(f.general, "U002", "hi alice", "")
		ev := alice.nextOf("message")
		assert.Equal(t, ts, ev["ts"])
		assert.Equal(t, "U002", ev["user"])
		assert.Equal(t, f.general, ev["channel"])
		assert.Equal(t, "hi alice", ev["text"])
	})

	t.Run("the user's own Web API posts come back as events", func(t *testing.T) {
		_, ts, err := f.client(aliceToken).PostMessageContext(context.Background(), f.general, slack.MsgOptionText("mine", false))
		require.NoError(t, err)
		ev := alice.nextOf("message")
		assert.Equal(t, ts, ev["ts"])
		assert.Equal(t, "U001", ev["user"])
	})

	t.Run("edits, deletes and reactions arrive with their documented shapes", func(t *testing.T) {
		ts := f.emu.Post(f.general, "U002", "typo", "")
		alice.nextOf("message")
		require.True(t, f.emu.Edit(f.general, ts, "fixed"))
		ev := alice.nextOf("message")
		assert.Equal(t, "message_changed", ev["subtype"])
		inner := ev["message"].(map[string]any)
		assert.Equal(t, ts, inner["ts"])
		assert.Equal(t, "fixed", inner["text"])
		assert.Equal(t, "typo", ev["previous_message"].(map[string]any)["text"])

		require.True(t, f.emu.React(f.general, ts, "U002", "tada", true))
		ev = alice.nextOf("reaction_added")
		assert.Equal(t, "tada", ev["reaction"])
		assert.Equal(t, map[string]any{"type": "message", "channel": f.general, "ts": ts}, ev["item"])

		require.True(t, f.emu.Delete(f.general, ts))
		ev = alice.nextOf("message")
		assert.Equal(t, "message_deleted", ev["subtype"])
		assert.Equal(t, ts, ev["deleted_ts"])
	})

	t.Run("a new channel is announced to everyone and its creator joins it", func(t *testing.T) {
		ch := f.emu.CreateChannel("U002", "plans")
		ev := alice.nextOf("channel_created")
		c := ev["channel"].(map[string]any)
		assert.Equal(t, ch, c["id"])
		assert.Equal(t, "plans", c["name"])
		assert.Equal(t, "U002", c["creator"])
		assert.Equal(t, []string{"U002"}, f.emu.Members(ch))
	})

	t.Run("a group DM opened with the user is announced to them", func(t *testing.T) {
		mpim := f.emu.OpenMPIM("U002", "U001", "U003")
		ev := alice.nextOf("mpim_open")
		assert.Equal(t, mpim, ev["channel"])
		assert.Equal(t, mpim, f.emu.OpenMPIM("U003", "U002", "U001"), "the same people share one group DM")
	})

	t.Run("a broadcast thread reply carries its root", func(t *testing.T) {
		root := f.emu.Post(f.general, "U002", "root", "")
		alice.nextOf("message")
		ts := f.emu.Broadcast(f.general, "U003", "also in the channel", root)
		ev := alice.nextOf("message")
		assert.Equal(t, ts, ev["ts"])
		assert.Equal(t, "thread_broadcast", ev["subtype"])
		assert.Equal(t, root, ev["thread_ts"])
		r := ev["root"].(map[string]any)
		assert.Equal(t, root, r["ts"])
		assert.EqualValues(t, 1, r["reply_count"])
		assert.NotContains(t, ev, "reply_broadcast", "not a field of the documented event")
	})

	t.Run("typing is sent to the others in the channel", func(t *testing.T) {
		bob := dialRTM(t, f, bobToken, nil)
		alice.send(map[string]any{"id": 8, "type": "typing", "channel": f.general})
		ev := bob.nextOf("user_typing")
		assert.Equal(t, "U001", ev["user"])
		assert.Equal(t, f.general, ev["channel"])
		assert.Equal(t, []string{f.general}, f.emu.TypingSent("U001"), "tests can see who typed where")
	})

	t.Run("presence_sub answers with current presence, then changes", func(t *testing.T) {
		alice.send(map[string]any{"id": 9, "type": "presence_sub", "ids": []string{"U003"}})
		ev := alice.nextOf("presence_change")
		assert.Equal(t, "U003", ev["user"])
		assert.Equal(t, "away", ev["presence"])
		f.emu.SetPresence("U003", true)
		ev = alice.nextOf("presence_change")
		assert.Equal(t, "active", ev["presence"])
		assert.Equal(t, []string{"U003"}, f.emu.Subscriptions("U001"))
	})

	t.Run("users.setPresence tells the user's own connections", func(t *testing.T) {
		require.NoError(t, f.client(aliceToken).SetUserPresenceContext(context.Background(), "away"))
		ev := alice.nextOf("manual_presence_change")
		assert.Equal(t, "away", ev["presence"])
	})

	t.Run("joins and leaves are announced with their messages", func(t *testing.T) {
		f.emu.Leave(f.general, "U003")
		ev := alice.nextOf("member_left_channel")
		assert.Equal(t, "U003", ev["user"])
		assert.Equal(t, "channel_leave", alice.nextOf("message")["subtype"])
		f.emu.Join(f.general, "U003")
		assert.Equal(t, "U003", alice.nextOf("member_joined_channel")["user"])
		assert.Equal(t, "channel_join", alice.nextOf("message")["subtype"])
	})

	t.Run("a revoked token loses its connection", func(t *testing.T) {
		f.emu.RevokeToken(aliceToken)
		require.NoError(t, alice.ws.SetReadDeadline(time.Now().Add(5*time.Second)))
		for {
			if _, _, err := alice.ws.ReadMessage(); err != nil {
				break
			}
		}
		assert.Eventually(t, func() bool { return f.emu.RTMConnections("U001") == 0 }, 5*time.Second, 10*time.Millisecond)
	})
}

func TestMarksAndArchive(t *testing.T) {
	f := newFixture(t)
	alice := dialRTM(t, f, aliceToken, nil)
	ctx := context.Background()

	t.Run("conversations.mark is broadcast to the caller's own connections", func(t *testing.T) {
		ts := f.emu.Post(f.general, "U002", "read me", "")
		require.NoError(t, f.client(aliceToken).MarkConversationContext(ctx, f.general, ts))
		ev := alice.nextOf("channel_marked")
		assert.Equal(t, f.general, ev["channel"])
		assert.Equal(t, ts, ev["ts"])
		assert.Equal(t, ts, f.emu.ReadMarker(f.general, "U001"))
	})

	t.Run("reading in the Slack app marks an IM with im_marked", func(t *testing.T) {
		dm := f.emu.AddConversation(slackemu.Conversation{Kind: slackemu.IM, Members: []string{"U001", "U002"}})
		ts := f.emu.Post(dm, "U002", "psst", "")
		f.emu.Mark(dm, "U001", ts)
		ev := alice.nextOf("im_marked")
		assert.Equal(t, dm, ev["channel"])
		assert.Equal(t, ts, ev["ts"])
	})

	t.Run("an archived channel says so, takes no messages, and comes back", func(t *testing.T) {
		f.emu.Archive(f.general, "U002", true)
		msg := alice.nextOf("message")
		assert.Equal(t, "channel_archive", msg["subtype"])
		assert.Equal(t, "<@U002|bob> archived the channel", msg["text"])
		assert.Equal(t, "channel_archive", alice.nextOf("channel_archive")["type"])
		_, _, err := f.client(aliceToken).PostMessageContext(ctx, f.general, slack.MsgOptionText("anyone?", false))
		require.Error(t, err)
		assert.Equal(t, "is_archived", err.Error())

		f.emu.Archive(f.general, "U002", false)
		assert.Equal(t, "channel_unarchive", alice.nextOf("channel_unarchive")["type"])
		assert.Equal(t, "channel_unarchive", alice.nextOf("message")["subtype"])
		_, _, err = f.client(aliceToken).PostMessageContext(ctx, f.general, slack.MsgOptionText("back", false))
		assert.NoError(t, err)
	})
}

func TestRTMSessionStartsAtConnect(t *testing.T) {
	f := newFixture(t)
	_, wsURL, err := f.client(aliceToken).ConnectRTMContext(context.Background())
	require.NoError(t, err)
	ts := f.emu.Post(f.general, "U002", "said before the socket opened", "")
	assert.Zero(t, f.emu.RTMConnections("U001"), "no socket yet")
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.NoError(t, err)
	t.Cleanup(func() { ws.Close() })
	c := &rtmClient{t: t, ws: ws}
	assert.Equal(t, "hello", c.next()["type"], "hello comes first")
	ev := c.nextOf("message")
	assert.Equal(t, ts, ev["ts"], "then what happened since rtm.connect")
}

func TestRTMDown(t *testing.T) {
	f := newFixture(t)
	dialRTM(t, f, aliceToken, nil)
	f.emu.SetRTMDown(true)
	assert.Eventually(t, func() bool { return f.emu.RTMConnections("") == 0 }, 5*time.Second, 10*time.Millisecond)

	_, _, err := f.client(aliceToken).ConnectRTMContext(context.Background())
	assert.EqualError(t, err, "internal_error", "rtm.connect fails while RTM is down")

	f.emu.SetRTMDown(false)
	dialRTM(t, f, aliceToken, nil)
	assert.Equal(t, 1, f.emu.RTMConnections("U001"))
}

// TestSlackGoRTM runs slack-go's own managed RTM loop against the
// emulator: the hello, ping/pong latency reports and message events must
// decode into its types.
func TestSlackGoRTM(t *testing.T) {
	f := newFixture(t)
	rtm := f.client(aliceToken).NewRTM(slack.RTMOptionPingInterval(50 * time.Millisecond))
	go rtm.ManageConnection()
	t.Cleanup(func() { _ = rtm.Disconnect() })

	var sawHello, sawLatency bool
	posted := false
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-rtm.IncomingEvents:
			switch data := ev.Data.(type) {
			case *slack.HelloEvent:
				sawHello = true
			case *slack.LatencyReport:
				sawLatency = true
			case *slack.MessageEvent:
				assert.Equal(t, "from bob", data.Text)
				assert.Equal(t, "U002", data.User)
				assert.True(t, sawHello)
				return
			}
			if sawHello && sawLatency && !posted {
				posted = true
				f.emu.Post(f.general, "U002", "from bob", "")
			}
		case <-deadline:
			t.Fatalf("no message event (hello=%v latency=%v)", sawHello, sawLatency)
		}
	}
}
