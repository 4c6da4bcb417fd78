package slack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		section string
		want    int
		err     string
	}{
		{"a disabled section configures no network", "enabled: false", 0, ""},
		{"an enabled section configures one network", "enabled: true\napi_url: http://127.0.0.1:1/api/", 1, ""},
		{"an unknown key is refused with its path", "enabled: true\napiurl: x", 0, "networks.slack"},
		{"an API URL without a trailing slash is refused", "enabled: true\napi_url: https://slack.com/api", 0, "networks.slack.api_url"},
		{"a negative backfill is refused", "enabled: true\nbackfill: -1", 0, "networks.slack.backfill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nets, err := kind{}.NewNetworks([]byte(tt.section), bridge.CommonConfig{Domain: "example.org"})
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, nets, tt.want)
		})
	}
	t.Run("the example config decodes and validates", func(t *testing.T) {
		section := strings.TrimPrefix(kind{}.ExampleConfig(), "slack:\n")
		section = strings.ReplaceAll(section, "\n  ", "\n")
		nets, err := kind{}.NewNetworks([]byte(strings.TrimPrefix(section, "  ")), bridge.CommonConfig{Domain: "example.org"})
		require.NoError(t, err)
		assert.Empty(t, nets, "the example is disabled")
	})
}

func TestLogin(t *testing.T) {
	env := newEnv(t)
	env.emu.AddToken(slackemu.Token{Value: "xoxp-revoked", User: "U002"})
	env.emu.RevokeToken("xoxp-revoked")

	tests := []struct {
		name      string
		args      []string
		permanent bool
		usage     bool
	}{
		{"a user token is checked and accepted", []string{aliceToken}, false, false},
		{"a browser token with its cookie is accepted", []string{carolToken, carolCookie}, false, false},
		{"a browser token with the cookie as d=value is accepted", []string{carolToken, "d=" + carolCookie}, false, false},
		{"a browser token without its cookie is a usage error", []string{carolToken}, false, true},
		{"a browser token with a wrong cookie is refused for good", []string{carolToken, "xoxd-wrong"}, true, false},
		{"a revoked token is refused for good", []string{"xoxp-revoked"}, true, false},
		{"something that is no token is a usage error", []string{"hunter2"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, s, err := env.net.Login(env.ctx, &bridge.User{MXID: alice}, tt.args)
			switch {
			case tt.usage:
				assert.ErrorIs(t, err, ErrUsage)
			case tt.permanent:
				require.Error(t, err)
				assert.ErrorIs(t, err, bridge.ErrPermanent)
				for _, a := range tt.args {
					assert.NotContains(t, err.Error(), a, "the error is shown to the user and must not repeat credentials")
				}
			default:
				require.NoError(t, err)
				require.NotNil(t, s)
				assert.Equal(t, bridge.LoginID(team), l.ID, "one login per workspace")
				assert.Equal(t, "Acme", strings.Split(l.RemoteName, " on ")[1])
				var md metadata
				require.NoError(t, json.Unmarshal(l.Metadata, &md))
				assert.Equal(t, tt.args[0], md.Token)
			}
		})
	}

	t.Run("a stored login loads without I/O and keeps the cookie", func(t *testing.T) {
		l, _, err := env.net.Login(env.ctx, &bridge.User{MXID: carol}, []string{carolToken, carolCookie})
		require.NoError(t, err)
		s, err := env.net.LoadSession(env.ctx, &bridge.User{MXID: carol}, l)
		require.NoError(t, err)
		assert.Equal(t, carolCookie, s.(*Session).md.Cookie)
	})

	t.Run("unreadable metadata is refused without quoting it", func(t *testing.T) {
		_, err := env.net.LoadSession(env.ctx, &bridge.User{MXID: alice}, &bridge.Login{Metadata: []byte(`{"token": 5, "secret": "` + aliceToken + `"`)})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), aliceToken)
	})
}

func TestSyncOnLogin(t *testing.T) {
	env := newEnv(t)
	env.emu.Post(env.general, "U002", "before the bridge", "")
	env.login(t, alice, aliceToken)

	info := env.core.take(t, kindIs(bridge.RemoteChatInfo))
	assert.Equal(t, bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, info.Portal)
	assert.True(t, info.CreatePortal)
	require.NotNil(t, info.ChatInfo.Name)
	assert.Equal(t, "general", *info.ChatInfo.Name)
	assert.Equal(t, "company-wide", *info.ChatInfo.Topic)
	assert.Contains(t, info.ChatInfo.Invite, alice)
	var members []bridge.RemoteUserID
	for _, m := range info.ChatInfo.Members {
		members = append(members, m.ID)
	}
	assert.ElementsMatch(t, []bridge.RemoteUserID{"T0001-U001", "T0001-U002", "T0001-U003"}, members)

	old := env.core.take(t, messageWith("before the bridge"))
	assert.Equal(t, bridge.RemoteUserID("T0001-U002"), old.Sender.ID, "history is backfilled with its senders")

	assert.Eventually(t, func() bool { return len(env.emu.Subscriptions("U001")) > 0 }, 5*time.Second, 20*time.Millisecond,
		"presence is subscribed for the people in the user's conversations")
	assert.Equal(t, []string{"U002", "U003"}, env.emu.Subscriptions("U001"))
}

func TestSlackToMatrix(t *testing.T) {
	env := newEnv(t)
	env.login(t, alice, aliceToken)
	env.core.take(t, kindIs(bridge.RemoteChatInfo))
	portal := bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}
	env.core.portals[portal] = &bridge.Portal{Key: portal, MXID: "!general:example.org"}

	t.Run("a message becomes formatted text with pills and mentions", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "*hi* <@U001>, see <#C0GENERAL>", "")
		ev := env.core.take(t, kindIs(bridge.RemoteMessage))
		assert.Equal(t, bridge.MessageID(ts), ev.ID)
		assert.Equal(t, portal, ev.Portal)
		assert.Equal(t, bridge.RemoteUserID("T0001-U002"), ev.Sender.ID)
		require.NotNil(t, ev.Sender.Profile)
		assert.Equal(t, "Bob", ev.Sender.Profile.Name)
		assert.Equal(t, "b0b", ev.Sender.Profile.AvatarID)
		assert.Equal(t, "*hi* Alice, see #general", ev.Content.Body)
		assert.Contains(t, ev.Content.HTML, `<strong>hi</strong>`)
		assert.Contains(t, ev.Content.HTML, `href="https://matrix.to/#/!general:example.org"`)
		assert.Equal(t, []id.UserID{alice}, ev.Content.Mentions, "a logged-in user is mentioned as their own account")
		assert.Equal(t, ts, slackTS(ev.Timestamp), "the original time is kept")
	})

	t.Run("@here and @channel mention the room", func(t *testing.T) {
		env.emu.Post(env.general, "U002", "<!here> standup", "")
		ev := env.core.take(t, messageWith("@room standup"))
		assert.True(t, ev.Content.MentionsRoom)
	})

	t.Run("what the user says in the Slack app is theirs on Matrix", func(t *testing.T) {
		env.emu.Post(env.general, "U001", "from my phone", "")
		ev := env.core.take(t, messageWith("from my phone"))
		assert.Equal(t, alice, ev.Sender.Matrix, "the core sends it through the double puppet")
	})

	t.Run("edits, reactions and deletions follow the message", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "typo", "")
		env.core.take(t, messageWith("typo"))
		env.emu.Edit(env.general, ts, "fixed")
		edit := env.core.take(t, kindIs(bridge.RemoteEdit))
		assert.Equal(t, bridge.MessageID(ts), edit.Target)
		assert.Equal(t, "fixed", edit.Content.Body)

		env.emu.React(env.general, ts, "U003", "+1", true)
		r := env.core.take(t, kindIs(bridge.RemoteReaction))
		assert.Equal(t, "👍", r.Reaction)
		assert.Equal(t, bridge.MessageID(ts), r.Target)
		assert.Equal(t, bridge.RemoteUserID("T0001-U003"), r.Sender.ID)
		env.emu.React(env.general, ts, "U003", "partyparrot", true)
		assert.Equal(t, ":partyparrot:", env.core.take(t, kindIs(bridge.RemoteReaction)).Reaction, "custom emoji travel by name")
		env.emu.React(env.general, ts, "U003", "+1", false)
		assert.Equal(t, "👍", env.core.take(t, kindIs(bridge.RemoteReactionRemove)).Reaction)

		env.emu.Delete(env.general, ts)
		del := env.core.take(t, kindIs(bridge.RemoteDelete))
		assert.Equal(t, bridge.MessageID(ts), del.Target)
	})

	t.Run("an edit that keeps the text is not bridged", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "link https://x.org", "")
		env.core.take(t, messageWith("link https://x.org"))
		env.emu.Edit(env.general, ts, "link https://x.org")
		env.core.none(t, 300*time.Millisecond, kindIs(bridge.RemoteEdit))
	})

	t.Run("subtypes keep their meaning or at least their text", func(t *testing.T) {
		root := env.emu.Post(env.general, "U002", "root", "")
		env.core.take(t, messageWith("root"))
		env.emu.Post(env.general, "U003", "in thread", root)
		reply := env.core.take(t, messageWith("in thread"))
		assert.Equal(t, bridge.MessageID(root), reply.Content.ThreadRoot)

		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "me_message", User: "U002", Text: "waves"})
		assert.Equal(t, event.MsgEmote, env.core.take(t, messageWith("waves")).Content.MsgType)

		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "bot_message", BotID: "B9", Username: "deploybot", Text: "deployed"})
		bot := env.core.take(t, messageWith("deployed"))
		assert.Equal(t, bridge.RemoteUserID("T0001-B9"), bot.Sender.ID)
		assert.Equal(t, "deploybot", bot.Sender.Profile.Name)

		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "brand_new_subtype", User: "U002", Text: "still text"})
		env.core.take(t, messageWith("still text"))
	})

	t.Run("a thread reply also sent to the channel is a reply to the root, and can be edited and deleted", func(t *testing.T) {
		root := env.emu.Post(env.general, "U002", "broadcast root", "")
		env.core.take(t, messageWith("broadcast root"))
		ts := env.emu.Broadcast(env.general, "U003", "for all to see", root)
		ev := env.core.take(t, messageWith("for all to see"))
		assert.Equal(t, bridge.MessageID(ts), ev.ID)
		assert.Equal(t, bridge.MessageID(root), ev.Content.ReplyTo, "in the main timeline, replying to the root")
		assert.Empty(t, ev.Content.ThreadRoot, "not hidden in the thread")
		assert.Eventually(t, func() bool {
			c, err := env.net.cursor(env.ctx, alice, team, env.general)
			return err == nil && c == ts
		}, 5*time.Second, 20*time.Millisecond, "it is in the channel's history, so catch-up starts after it")

		env.emu.Edit(env.general, ts, "for all to see, edited")
		edit := env.core.take(t, kindIs(bridge.RemoteEdit))
		assert.Equal(t, bridge.MessageID(ts), edit.Target)
		assert.Equal(t, "for all to see, edited", edit.Content.Body)
		env.emu.Delete(env.general, ts)
		assert.Equal(t, bridge.MessageID(ts), env.core.take(t, kindIs(bridge.RemoteDelete)).Target)
	})

	t.Run("blocks and attachments are shown when the text is empty or says less", func(t *testing.T) {
		blocks := `[{"type":"header","text":{"type":"plain_text","text":"Deploy finished"}},` +
			`{"type":"section","text":{"type":"mrkdwn","text":"*api* by <@U002>"},"fields":[{"type":"mrkdwn","text":"*Env:* prod"}]}]`
		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "bot_message", BotID: "B9", Username: "deploybot", Text: "Deploy finished", Blocks: json.RawMessage(blocks)})
		ev := env.core.take(t, messageWith("Deploy finished\n*api* by Bob\n*Env:* prod"))
		assert.True(t, strings.HasPrefix(ev.Content.HTML, "<h3>Deploy finished</h3><strong>api</strong> by <a href="), ev.Content.HTML)
		assert.True(t, strings.HasSuffix(ev.Content.HTML, ">Bob</a><br><strong>Env:</strong> prod"), ev.Content.HTML)

		rich := `[{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"hi "},{"type":"user","user_id":"U001"}]}]}]`
		env.emu.PostMessage(env.general, slackemu.Message{User: "U002", Blocks: json.RawMessage(rich)})
		ev = env.core.take(t, messageWith("hi Alice"))
		assert.Equal(t, []id.UserID{alice}, ev.Content.Mentions)

		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "bot_message", BotID: "B9", Username: "ci",
			Attachments: json.RawMessage(`[{"fallback":"Build 42 failed","color":"danger"}]`)})
		env.core.take(t, messageWith("Build 42 failed"))

		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "brand_new_subtype", User: "U002",
			Blocks: json.RawMessage(`[{"type":"some_future_block"}]`), Text: "the fallback text"})
		env.core.take(t, messageWith("the fallback text"))

		// An element slack-go cannot decode fails the whole message there;
		// the text still comes through.
		env.emu.PostMessage(env.general, slackemu.Message{User: "U002", Text: "undecodable blocks, readable text",
			Blocks: json.RawMessage(unknownElement)})
		env.core.take(t, messageWith("undecodable blocks, readable text"))
	})

	t.Run("a shared file becomes a media message after its text", func(t *testing.T) {
		f := env.emu.AddFile("U002", "cat.png", []byte("png"))
		ts := env.emu.PostMessage(env.general, slackemu.Message{Subtype: "file_share", User: "U002", Text: "look", Files: []slackemu.File{f}, Upload: true})
		env.core.take(t, messageWith("look"))
		media := env.core.take(t, messageWith("cat.png"))
		assert.Equal(t, bridge.MessageID(ts+"/"+f.ID), media.ID)
		assert.Equal(t, event.MsgImage, media.Content.MsgType)
		require.NotNil(t, media.Content.Media)
		assert.Equal(t, "image/png", media.Content.Media.MimeType)
	})

	t.Run("membership, typing, presence and profiles are bridged", func(t *testing.T) {
		env.emu.Join(env.general, "U004")
		join := env.core.take(t, kindIs(bridge.RemoteJoin))
		assert.Equal(t, bridge.RemoteUserID("T0001-U004"), join.Member.ID)
		env.emu.Leave(env.general, "U004")
		assert.Equal(t, bridge.RemoteUserID("T0001-U004"), env.core.take(t, kindIs(bridge.RemoteLeave)).Member.ID)

		env.emu.Typing(env.general, "U002")
		typing := env.core.take(t, kindIs(bridge.RemoteTyping))
		assert.True(t, typing.Typing)

		env.emu.SetPresence("U002", true)
		p := env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemotePresence && ev.Sender.ID == "T0001-U002" && ev.Presence.State == event.PresenceOnline
		})
		assert.Equal(t, bridge.NetworkID("slack"), p.Portal.Network)

		env.emu.UpdateUser(slackemu.User{ID: "U002", Name: "bob", Profile: slackemu.UserProfile{DisplayName: "Robert"}})
		prof := env.core.take(t, kindIs(bridge.RemoteProfile))
		assert.Equal(t, "Robert", prof.Sender.Profile.Name)
	})

	t.Run("a renamed channel renames its portal", func(t *testing.T) {
		env.emu.Rename(env.general, "everyone")
		ev := env.core.take(t, kindIs(bridge.RemoteChatInfo))
		assert.Equal(t, "everyone", *ev.ChatInfo.Name)
	})
}

func TestDirectMessages(t *testing.T) {
	env := newEnv(t)
	dm := env.emu.AddConversation(slackemu.Conversation{ID: "D0BOB", Kind: slackemu.IM, Members: []string{"U001", "U002"}})
	env.login(t, alice, aliceToken)
	info := env.core.take(t, func(ev *bridge.RemoteEvent) bool { return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.IsDM })
	assert.Equal(t, bridge.PortalKey{Network: "slack", Chat: "T0001-D0BOB", Receiver: string(alice)}, info.Portal,
		"a DM portal belongs to its receiver")
	assert.Equal(t, "Bob", *info.ChatInfo.Name)

	env.emu.Post(dm, "U002", "psst", "")
	msg := env.core.take(t, messageWith("psst"))
	assert.Equal(t, string(alice), msg.Portal.Receiver)

	sess := env.login(t, carol, carolToken, carolCookie)
	chat, err := sess.StartDM(env.ctx, "T0001-U002")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(chat), "T0001-D"))
	_, err = sess.StartDM(env.ctx, "T9999-U002")
	assert.ErrorIs(t, err, bridge.ErrPermanent, "a user of a workspace the user is not logged into cannot be reached")

	t.Run("a DM with someone of another workspace goes through the login there", func(t *testing.T) {
		// A second login of Carol's, as if of workspace T0002 (the emulator
		// serves one workspace; only the routing is under test).
		raw, err := json.Marshal(metadata{Credentials: Credentials{Token: carolToken, Cookie: carolCookie}, TeamID: "T0002", TeamName: "Beta", UserID: "U003"})
		require.NoError(t, err)
		_, err = env.net.LoadSession(env.ctx, &bridge.User{MXID: carol}, &bridge.Login{User: carol, Network: networkID, ID: "T0002", Metadata: raw})
		require.NoError(t, err)
		assert.True(t, sess.InChat(""), "a new DM may go through any login: StartDM routes it")
		chat, err := sess.StartDM(env.ctx, "T0002-U002")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(chat), "T0002-D"), "the chat is in the ghost's workspace: %s", chat)
	})
}

func matrixText(body, html string) *event.MessageEventContent {
	c := &event.MessageEventContent{MsgType: event.MsgText, Body: body}
	if html != "" {
		c.Format, c.FormattedBody = event.FormatHTML, html
	}
	return c
}

func TestMatrixToSlack(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	// Carol is in #general too: the echoes of what Alice does reach her
	// login as well, and must not be bridged back by it either.
	env.login(t, carol, carolToken, carolCookie)
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, MXID: "!general:example.org"}
	send := func(c *event.MessageEventContent) *bridge.MessageResult {
		t.Helper()
		res, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice}, Event: &event.Event{ID: "$x"}, Content: c})
		require.NoError(t, err)
		return res
	}
	last := func() slackemu.Message {
		msgs := env.emu.Messages(env.general)
		return msgs[len(msgs)-1]
	}

	t.Run("formatted text and pills become mrkdwn posted as the user", func(t *testing.T) {
		bob := env.core.GhostMXID(networkID, "T0001-U002")
		res := send(matrixText("hi Bob", `<b>hi</b> <a href="https://matrix.to/#/`+string(bob)+`">Bob</a> &amp; <a href="https://matrix.to/#/@carol:example.org">Carol</a>`+
			` &amp; <a href="https://matrix.to/#/@erin:example.org">Erin</a>`))
		m := last()
		assert.Equal(t, string(res.ID), m.TS)
		assert.Equal(t, "U001", m.User)
		assert.Equal(t, "*hi* <@U002> &amp; <@U003> &amp; Erin", m.Text,
			"ghosts and logged-in users are Slack mentions, other Matrix users their names")
	})

	t.Run("a pill of another workspace's ghost is just its name", func(t *testing.T) {
		mx := env.core.GhostMXID(networkID, "T0002-U003")
		send(matrixText("x", `<a href="https://matrix.to/#/`+string(mx)+`">Zed</a>`))
		assert.Equal(t, "Zed", last().Text)
	})

	t.Run("plain text is escaped so it cannot ping the channel", func(t *testing.T) {
		send(matrixText("<!channel> 1 < 2", ""))
		assert.Equal(t, "&lt;!channel&gt; 1 &lt; 2", last().Text)
	})

	t.Run("an emote is a me_message and a thread reply goes into the thread", func(t *testing.T) {
		c := matrixText("waves", "")
		c.MsgType = event.MsgEmote
		root := send(c)
		assert.Equal(t, "me_message", last().Subtype)
		_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice}, Event: &event.Event{ID: "$y"},
			Content: matrixText("reply", ""), ThreadRoot: &bridge.Message{RemoteID: root.ID}})
		require.NoError(t, err)
		assert.Equal(t, string(root.ID), last().ThreadTS)
	})

	t.Run("a Matrix reply goes into the thread of what it answers and is also sent to the channel", func(t *testing.T) {
		question := env.emu.Post(env.general, "U002", "who's in?", "")
		reply := func(to string, text string) slackemu.Message {
			t.Helper()
			_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice}, Event: &event.Event{ID: "$r"},
				Content: matrixText(text, ""), ReplyTo: &bridge.Message{RemoteID: bridge.MessageID(to)}})
			require.NoError(t, err)
			return last()
		}
		first := reply(question, "me")
		assert.Equal(t, question, first.ThreadTS)
		assert.Equal(t, "thread_broadcast", first.Subtype, "seen in the channel, as the reply is in Matrix")
		second := reply(first.TS, "me too")
		assert.Equal(t, question, second.ThreadTS, "a reply to a reply goes into the same thread, under its parent")
	})

	t.Run("an edit updates the message and its echo is not bridged back", func(t *testing.T) {
		res := send(matrixText("draft", ""))
		env.core.take(t, messageWith("draft")) // the echo of the post; the core's message map drops it
		err := sess.HandleMatrixEdit(env.ctx, &bridge.MatrixEdit{MatrixMessage: bridge.MatrixMessage{Portal: portal, Content: matrixText("final", "")},
			Target: &bridge.Message{RemoteID: res.ID}})
		require.NoError(t, err)
		assert.Equal(t, "final", last().Text)
		env.core.none(t, 300*time.Millisecond, kindIs(bridge.RemoteEdit))

		require.NoError(t, sess.HandleMatrixRedaction(env.ctx, &bridge.MatrixRedaction{Portal: portal, Target: &bridge.Message{RemoteID: res.ID}}))
		assert.NotEqual(t, string(res.ID), last().TS)
		env.core.none(t, 300*time.Millisecond, kindIs(bridge.RemoteDelete))
	})

	t.Run("reactions use Slack's names and a retry is harmless", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "react to me", "")
		r := &bridge.MatrixReaction{Portal: portal, Target: &bridge.Message{RemoteID: bridge.MessageID(ts)}, Key: "👍️"}
		require.NoError(t, sess.HandleMatrixReaction(env.ctx, r))
		require.NoError(t, sess.HandleMatrixReaction(env.ctx, r), "already_reacted means done")
		msgs := env.emu.Messages(env.general)
		var reacted slackemu.Message
		for _, m := range msgs {
			if m.TS == ts {
				reacted = m
			}
		}
		require.Len(t, reacted.Reactions, 1)
		assert.Equal(t, "+1", reacted.Reactions[0].Name)
		require.NoError(t, sess.HandleMatrixReactionRemove(env.ctx, r))
		env.core.none(t, 300*time.Millisecond, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteReaction || ev.Kind == bridge.RemoteReactionRemove
		})
		err := sess.HandleMatrixReaction(env.ctx, &bridge.MatrixReaction{Portal: portal, Target: r.Target, Key: "nice"})
		assert.ErrorIs(t, err, bridge.ErrPermanent, "free text cannot be a Slack reaction")
	})

	t.Run("Matrix presence sets Slack presence", func(t *testing.T) {
		require.NoError(t, sess.HandleMatrixPresence(env.ctx, event.PresenceUnavailable, ""))
		assert.Equal(t, "away", env.emu.CallsTo("users.setPresence")[0].Params["presence"])
		require.NoError(t, sess.HandleMatrixPresence(env.ctx, event.PresenceOnline, ""))
		assert.Equal(t, "auto", env.emu.CallsTo("users.setPresence")[1].Params["presence"])
	})

	t.Run("a portal of another workspace is refused", func(t *testing.T) {
		other := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0002-C1"}}
		_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: other, Content: matrixText("x", "")})
		assert.ErrorIs(t, err, bridge.ErrPermanent)
		assert.False(t, sess.InChat("T0002-C1"))
		assert.True(t, sess.InChat("T0001-C1"))
	})
}

// TestRevokedTokenMidSession: each way Slack stops accepting a login
// while its session runs marks the login bad and fails Matrix messages at
// once with a notice.
func TestRevokedTokenMidSession(t *testing.T) {
	tests := []struct {
		code string
		lose func(*slackemu.Server)
	}{
		{"token_revoked", func(emu *slackemu.Server) { emu.RevokeToken(aliceToken) }},
		{"invalid_auth", func(emu *slackemu.Server) { emu.SignOutToken(aliceToken) }},
		{"account_inactive", func(emu *slackemu.Server) { emu.DeactivateUser("U001") }},
	}
	for _, tt := range tests {
		t.Run(tt.code+" marks the login bad and refuses messages", func(t *testing.T) {
			env := newEnv(t)
			sess := env.login(t, alice, aliceToken)
			tt.lose(env.emu)

			st := env.core.waitState(t, bridge.StateBadCredential)
			// The RTM reconnect or a Web API call finds it first; only the
			// latter knows Slack's code, so the message is not checked for it.
			assert.NotEmpty(t, st.Message)
			portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}}
			_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Content: matrixText("hello?", "")})
			require.Error(t, err)
			assert.ErrorIs(t, err, bridge.ErrPermanent, "messages fail at once with a notice instead of retrying forever")
			assert.Contains(t, err.Error(), "log in again")
		})
	}
}

func TestRateLimit(t *testing.T) {
	t.Run("a 429 is waited out and the messages keep their order", func(t *testing.T) {
		env := newEnv(t)
		sess := env.login(t, alice, aliceToken)
		portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}}
		env.emu.RateLimit("chat.postMessage", 2, 1)
		start := time.Now()
		for _, text := range []string{"one", "two", "three"} {
			_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Content: matrixText(text, "")})
			require.NoError(t, err)
		}
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "Retry-After was honoured")
		var texts []string
		for _, m := range env.emu.Messages(env.general) {
			texts = append(texts, m.Text)
		}
		assert.Equal(t, []string{"one", "two", "three"}, texts[len(texts)-3:])
	})

	t.Run("a wait longer than allowed fails instead of stalling the portal", func(t *testing.T) {
		env := newEnv(t, func(c *Config) { c.MaxRetryAfter = time.Second })
		sess := env.login(t, alice, aliceToken)
		env.emu.RateLimit("chat.postMessage", 1, 30)
		portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}}
		_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Content: matrixText("x", "")})
		assert.ErrorIs(t, err, errRateLimited)
	})
}

// unknownElement is a block with an element of a type slack-go does not
// know: a context block may hold text and images, and later more.
const unknownElement = `[{"type":"context","elements":[{"type":"sparkline","values":[1,2,3]}]}]`

func TestCatchUp(t *testing.T) {
	t.Run("messages sent while RTM was down arrive in order after it comes back", func(t *testing.T) {
		env := newEnv(t)
		env.login(t, alice, aliceToken)
		env.core.take(t, kindIs(bridge.RemoteChatInfo))
		env.emu.SetRTMDown(true)
		env.core.waitState(t, bridge.StateDisconnected)
		for _, text := range []string{"missed 1", "missed 2", "missed 3"} {
			env.emu.Post(env.general, "U002", text, "")
		}
		env.emu.PostMessage(env.general, slackemu.Message{User: "U002", Text: "missed 4", Blocks: json.RawMessage(unknownElement)})
		env.emu.Post(env.general, "U002", "missed 5", "")
		env.emu.SetRTMDown(false)
		env.core.waitState(t, bridge.StateConnected)
		first := env.core.take(t, messageWith("missed 1"))
		second := env.core.take(t, messageWith("missed 2"))
		third := env.core.take(t, messageWith("missed 3"))
		assert.True(t, first.Timestamp.Before(second.Timestamp) && second.Timestamp.Before(third.Timestamp))
		env.core.take(t, messageWith("missed 4"))
		env.core.take(t, messageWith("missed 5"))
	})

	t.Run("a restarted session catches up from its stored cursor", func(t *testing.T) {
		env := newEnv(t)
		sess := env.login(t, alice, aliceToken)
		env.emu.Post(env.general, "U002", "seen live", "")
		env.core.take(t, messageWith("seen live"))
		require.NoError(t, sess.Disconnect(context.Background()))
		env.emu.Post(env.general, "U002", "while stopped", "")
		// "seen live" may have been queued twice already (backfill racing
		// the live event; the core's message map drops the second): only
		// what the restarted session queues counts.
		restartAt := env.core.count()

		again, err := env.net.LoadSession(env.ctx, &bridge.User{MXID: alice}, sess.login)
		require.NoError(t, err)
		again.Connect(env.ctx)
		t.Cleanup(func() { _ = again.Disconnect(context.Background()) })
		env.core.take(t, messageWith("while stopped"))
		env.core.noneAfter(t, restartAt, 300*time.Millisecond, messageWith("seen live"))
	})
}

// TestSecretsNeverLogged runs logins, a session, failures and a revoked
// token with trace logging into a buffer, and checks that no token or
// cookie appears in the logs, the reported states or the errors.
func TestSecretsNeverLogged(t *testing.T) {
	env := newEnv(t, withApp)
	require.Eventually(t, func() bool { return env.emu.SocketConnections(testApp.ID) == 1 }, 10*time.Second, 10*time.Millisecond)
	var errs []string
	for _, args := range [][]string{{aliceToken}, {carolToken, carolCookie}, {carolToken, "xoxd-wrong-cookie-secret"}, {"xoxp-unknown-secret"}} {
		if _, _, err := env.net.Login(env.ctx, &bridge.User{MXID: alice}, args); err != nil {
			errs = append(errs, err.Error())
		}
	}
	sess := env.login(t, carol, carolToken, carolCookie)
	env.emu.Post(env.general, "U002", "hello", "")
	env.core.take(t, messageWith("hello"))
	env.emu.RevokeToken(carolToken)
	env.core.waitState(t, bridge.StateBadCredential)
	_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}}, Content: matrixText("x", "")})
	require.Error(t, err)
	errs = append(errs, err.Error())

	env.core.mu.Lock()
	for _, st := range env.core.states {
		errs = append(errs, st.Message)
	}
	env.core.mu.Unlock()
	logs := env.logs.String()
	require.NotEmpty(t, logs, "the test must actually capture logs")
	for _, secret := range []string{aliceToken, carolToken, carolCookie, "xoxd-wrong-cookie-secret", "xoxp-unknown-secret", testApp.BotToken, testApp.AppToken, "secret"} {
		assert.NotContains(t, logs, secret)
		for _, e := range errs {
			assert.NotContains(t, e, secret)
		}
	}
	assert.Equal(t, "[credentials]", sessCreds(sess))
}

func sessCreds(s *Session) string {
	var b strings.Builder
	_, _ = b.WriteString(s.md.Credentials.String())
	return b.String()
}

func TestSlackTS(t *testing.T) {
	for _, ts := range []string{"1700000000.000001", "1700000000.123456"} {
		t.Run(ts+" survives time and back", func(t *testing.T) {
			assert.Equal(t, ts, slackTS(tsTime(ts)))
		})
	}
	t.Run("a malformed ts is now", func(t *testing.T) {
		assert.WithinDuration(t, time.Now(), tsTime("nope"), time.Second)
	})
}

func TestFiles(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	env.core.take(t, kindIs(bridge.RemoteChatInfo))

	t.Run("a Slack file is fetched with the login's credentials", func(t *testing.T) {
		f := env.emu.AddFile("U002", "notes.txt", []byte("secret plans"))
		env.emu.PostMessage(env.general, slackemu.Message{Subtype: "file_share", User: "U002", Files: []slackemu.File{f}, Upload: true})
		ev := env.core.take(t, messageWith("notes.txt"))
		assert.Equal(t, event.MsgFile, ev.Content.MsgType)
		data, mime, err := env.net.FetchMedia(env.ctx, ev.Content.Media)
		require.NoError(t, err)
		assert.Equal(t, "secret plans", string(data))
		assert.Equal(t, "text/plain; charset=utf-8", mime)

		_, _, err = env.net.FetchMedia(env.ctx, &bridge.Media{URL: strings.Replace(ev.Content.Media.URL, "T0001-", "T0404-", 1)})
		assert.ErrorIs(t, err, bridge.ErrPermanent, "no login of that workspace")
	})

	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}, MXID: "!general:example.org"}
	upload := func(t *testing.T, evt id.EventID, c *event.MessageEventContent) {
		t.Helper()
		res, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice},
			Event: &event.Event{ID: evt}, Content: c})
		require.NoError(t, err)
		assert.Nil(t, res, "the message ts is learnt from the echo, not from the upload")
	}
	lastMessage := func() slackemu.Message {
		msgs := env.emu.Messages(env.general)
		return msgs[len(msgs)-1]
	}

	t.Run("a Matrix image is uploaded to Slack and mapped to its message by the echo", func(t *testing.T) {
		env.core.addMedia("mxc://example.org/abc", "PNGDATA")
		upload(t, "$img", &event.MessageEventContent{MsgType: event.MsgImage, Body: "pic.png", URL: "mxc://example.org/abc"})
		last := lastMessage()
		require.Len(t, last.Files, 1)
		assert.Equal(t, "pic.png", last.Files[0].Name)
		assert.Empty(t, last.Text)
		data, ok := env.emu.FileData(last.Files[0].ID)
		require.True(t, ok)
		assert.Equal(t, "PNGDATA", string(data))
		assert.Equal(t, bridge.MessageID(last.TS), env.core.mappedTo(t, "$img"))
		env.core.none(t, 300*time.Millisecond, messageWith("pic.png"))
	})

	t.Run("a captioned file carries its caption as the message text", func(t *testing.T) {
		env.core.addMedia("mxc://example.org/doc", "%PDF")
		upload(t, "$doc", &event.MessageEventContent{MsgType: event.MsgFile, Body: "quarterly numbers", FileName: "report.pdf", URL: "mxc://example.org/doc"})
		last := lastMessage()
		assert.Equal(t, "quarterly numbers", last.Text)
		require.Len(t, last.Files, 1)
		assert.Equal(t, "report.pdf", last.Files[0].Name)
		assert.Equal(t, bridge.MessageID(last.TS), env.core.mappedTo(t, "$doc"))
		env.core.none(t, 300*time.Millisecond, messageWith("report.pdf"))
	})

	t.Run("a file whose echo comes only in catch-up is mapped and not bridged back", func(t *testing.T) {
		env.core.addMedia("mxc://example.org/late", "late")
		env.emu.SetRTMDown(true)
		env.core.waitState(t, bridge.StateDisconnected)
		upload(t, "$late", &event.MessageEventContent{MsgType: event.MsgFile, Body: "late.bin", URL: "mxc://example.org/late"})
		ts := lastMessage().TS
		env.emu.SetRTMDown(false)
		env.core.waitState(t, bridge.StateConnected)
		assert.Equal(t, bridge.MessageID(ts), env.core.mappedTo(t, "$late"))
		env.core.none(t, 300*time.Millisecond, messageWith("late.bin"))
	})

	t.Run("an upload whose echo comes only after a restart is still mapped", func(t *testing.T) {
		env.core.addMedia("mxc://example.org/restart", "across a restart")
		env.emu.SetRTMDown(true)
		env.core.waitState(t, bridge.StateDisconnected)
		upload(t, "$restart", &event.MessageEventContent{MsgType: event.MsgFile, Body: "restart.txt", URL: "mxc://example.org/restart"})
		ts := lastMessage().TS
		require.NoError(t, sess.Disconnect(env.ctx))

		// A new process: nothing of the old network's memory is left.
		again := NewNetwork(env.cfg, bridge.CommonConfig{Domain: "example.org"})
		require.NoError(t, again.start(env.ctx, env.core, env.db))
		restarted, err := again.LoadSession(env.ctx, &bridge.User{MXID: alice}, sess.login)
		require.NoError(t, err)
		env.emu.SetRTMDown(false)
		restarted.Connect(env.ctx)
		t.Cleanup(func() { _ = restarted.Disconnect(context.Background()) })
		assert.Equal(t, bridge.MessageID(ts), env.core.mappedTo(t, "$restart"))
		env.core.none(t, 300*time.Millisecond, messageWith("restart.txt"))
		sess = restarted.(*Session)
	})

	t.Run("another login in the channel does not bridge the upload back either", func(t *testing.T) {
		env.login(t, carol, carolToken, carolCookie)
		env.core.addMedia("mxc://example.org/shared", "both see it")
		upload(t, "$shared", &event.MessageEventContent{MsgType: event.MsgFile, Body: "shared.txt", URL: "mxc://example.org/shared"})
		assert.Equal(t, bridge.MessageID(lastMessage().TS), env.core.mappedTo(t, "$shared"))
		env.core.none(t, 300*time.Millisecond, messageWith("shared.txt"))
	})

	t.Run("media the homeserver cannot give fails for good", func(t *testing.T) {
		_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice}, Event: &event.Event{ID: "$gone"},
			Content: &event.MessageEventContent{MsgType: event.MsgFile, Body: "a.bin", URL: "mxc://example.org/gone"}})
		assert.ErrorIs(t, err, bridge.ErrPermanent)
	})
}

func TestReadMarkersAndArchive(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	env.core.take(t, kindIs(bridge.RemoteChatInfo))
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}}
	marker := kindIs(bridge.RemoteReadMarker)
	send := func(text string) error {
		_, err := sess.HandleMatrixMessage(env.ctx, &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: alice},
			Event: &event.Event{ID: id.EventID("$" + text)}, Content: matrixText(text, "")})
		return err
	}

	t.Run("reading in the Slack app moves the user's Matrix read marker", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "read in the app", "")
		env.emu.Mark(env.general, "U001", ts)
		ev := env.core.take(t, marker)
		assert.Equal(t, portal.Key, ev.Portal)
		assert.Equal(t, bridge.MessageID(ts), ev.Target)
		assert.Equal(t, alice, ev.Sender.Matrix, "the core marks it read through the double puppet")
	})

	t.Run("a Matrix receipt marks Slack once, and its echo is not bridged back", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "read in Matrix", "")
		before := len(env.emu.CallsTo("conversations.mark"))
		for range 2 {
			require.NoError(t, sess.HandleMatrixReadReceipt(env.ctx, portal, &bridge.Message{RemoteID: bridge.MessageID(ts)}))
		}
		assert.Len(t, env.emu.CallsTo("conversations.mark"), before+1)
		assert.Equal(t, ts, env.emu.ReadMarker(env.general, "U001"))
		env.core.none(t, 300*time.Millisecond, marker)
	})

	t.Run("a marker older than the last one is ignored both ways", func(t *testing.T) {
		old := env.emu.Messages(env.general)[0].TS
		env.emu.Mark(env.general, "U001", old)
		env.core.none(t, 300*time.Millisecond, marker)
		before := len(env.emu.CallsTo("conversations.mark"))
		require.NoError(t, sess.HandleMatrixReadReceipt(env.ctx, portal, &bridge.Message{RemoteID: bridge.MessageID(old)}))
		assert.Len(t, env.emu.CallsTo("conversations.mark"), before)
	})

	t.Run("an archived channel gets a notice and refuses messages until unarchived", func(t *testing.T) {
		env.emu.Archive(env.general, "U002", true)
		notice := env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteMessage && ev.Content.MsgType == event.MsgNotice
		})
		assert.Empty(t, notice.Sender.ID, "the bridge bot says it")
		assert.Contains(t, notice.Content.Body, "Bob archived this channel")
		err := send("anyone there?")
		assert.ErrorIs(t, err, bridge.ErrPermanent)
		assert.Contains(t, err.Error(), "archived")

		env.emu.Archive(env.general, "U002", false)
		notice = env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteMessage && ev.Content.MsgType == event.MsgNotice
		})
		assert.Contains(t, notice.Content.Body, "unarchived")
		assert.NoError(t, send("back again"))
	})

	t.Run("an archive missed while RTM was down is caught up", func(t *testing.T) {
		env.emu.SetRTMDown(true)
		env.core.waitState(t, bridge.StateDisconnected)
		env.emu.Archive(env.general, "U003", true)
		env.emu.SetRTMDown(false)
		env.core.waitState(t, bridge.StateConnected)
		notice := env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteMessage && ev.Content.MsgType == event.MsgNotice
		})
		assert.Contains(t, notice.Content.Body, "archived this channel")
		assert.ErrorIs(t, send("still there?"), bridge.ErrPermanent)
	})

	t.Run("a channel archived before the login saw it gets no portal", func(t *testing.T) {
		env.emu.AddConversation(slackemu.Conversation{ID: "C0OLD", Name: "old", Archived: true, Members: []string{"U003"}})
		sess := env.login(t, carol, carolToken, carolCookie)
		require.NotNil(t, sess)
		env.core.none(t, 300*time.Millisecond, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteChatInfo && ev.Portal.Chat == "T0001-C0OLD"
		})
	})
}

func TestReadReceiptsAndLogout(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	env.core.take(t, kindIs(bridge.RemoteChatInfo))
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "slack", Chat: "T0001-C0GENERAL"}}

	t.Run("a read receipt marks the conversation read up to that message", func(t *testing.T) {
		ts := env.emu.Post(env.general, "U002", "read me", "")
		require.NoError(t, sess.HandleMatrixReadReceipt(env.ctx, portal, &bridge.Message{RemoteID: bridge.MessageID(ts + "/F1")}))
		calls := env.emu.CallsTo("conversations.mark")
		require.Len(t, calls, 1)
		assert.Equal(t, ts, calls[0].Params["ts"])
		assert.Equal(t, "C0GENERAL", calls[0].Params["channel"])
	})

	t.Run("logout forgets the account and the cursors but revokes nothing", func(t *testing.T) {
		require.NoError(t, sess.LogoutRemote(env.ctx))
		assert.Empty(t, env.net.matrixAccount(team, "U001"))
		cursors, err := env.net.cursors(env.ctx, alice, team)
		require.NoError(t, err)
		assert.Empty(t, cursors)
		_, _, err = env.net.Login(env.ctx, &bridge.User{MXID: alice}, []string{aliceToken})
		assert.NoError(t, err, "the token still works on Slack")
	})
}

func TestEchoSet(t *testing.T) {
	alice, carol := &Session{}, &Session{}
	tests := []struct {
		name    string
		adds    int
		cancels int
		takes   int
		want    []bool
	}{
		{"an action done once is recognised once", 1, 0, 2, []bool{true, false}},
		{"an action done twice is recognised twice", 2, 0, 3, []bool{true, true, false}},
		{"nothing done is never recognised", 0, 0, 1, []bool{false}},
		{"an action taken back expects no echo", 2, 1, 2, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEchoSet(time.Minute)
			for range tt.adds {
				e.add("k")
			}
			for range tt.cancels {
				e.cancel("k")
			}
			var got []bool
			for range tt.takes {
				got = append(got, e.take(alice, "k", ""))
			}
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("every session that sees the echo recognises it", func(t *testing.T) {
		e := newEchoSet(time.Minute)
		e.add("k")
		assert.True(t, e.take(alice, "k", ""))
		assert.True(t, e.take(carol, "k", ""))
		assert.False(t, e.take(carol, "k", ""))
	})
	t.Run("an echo that comes before the call's answer is recognised whatever it shows", func(t *testing.T) {
		e := newEchoSet(time.Minute)
		e.add("k")
		assert.True(t, e.take(alice, "k", "anything"))
	})
	t.Run("once the answer is known, only what the action left is its echo", func(t *testing.T) {
		e := newEchoSet(time.Minute)
		e.add("k")
		e.settle("k", "stored <https://x.example>", "stored https://x.example")
		assert.False(t, e.take(alice, "k", "something else"))
		assert.True(t, e.take(alice, "k", "stored <https://x.example>"))
		assert.False(t, e.take(alice, "k", "stored <https://x.example>"), "once")
		assert.True(t, e.take(carol, "k", "stored https://x.example"), "in any form given")
	})
	t.Run("an old action is forgotten", func(t *testing.T) {
		e := newEchoSet(time.Millisecond)
		e.add("k")
		time.Sleep(5 * time.Millisecond)
		assert.False(t, e.take(alice, "k", ""))
	})
}

func TestTSAfter(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"a later second is after", "1700000001.000000", "1700000000.999999", true},
		{"a later microsecond is after", "1700000000.000002", "1700000000.000001", true},
		{"the same ts is not after", "1700000000.000001", "1700000000.000001", false},
		{"an earlier ts is not after", "1700000000.000001", "1700000000.000002", false},
		{"more digits of seconds are after, as numbers", "10000000000.000000", "9999999999.999999", true},
		{"every ts is after none", "1.000000", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, tsAfter(tt.a, tt.b)) })
	}
	t.Run("a buffered cursor only moves forward", func(t *testing.T) {
		b := newCursorBuffer()
		b.move("C1", "1700000000.000002")
		b.move("C1", "1700000000.000001")
		assert.Equal(t, "1700000000.000002", b.moved["C1"])
	})
}
