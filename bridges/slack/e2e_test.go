package slack_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// reactionFrom matches a reaction by sender, target and key.
func reactionFrom(sender id.UserID, target id.EventID, key string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		r := evt.Content.AsReaction()
		return evt.Type == event.EventReaction && evt.Sender == sender && r != nil && r.RelatesTo.EventID == target && r.RelatesTo.Key == key
	}
}

// TestEndToEnd runs the whole bridge in this process against Dendrite and
// the Slack emulator, and checks what a user sees on each side: Alice logs
// in from the management room and uses #general from Matrix while Bob and
// Carol use the Slack app.
func TestEndToEnd(t *testing.T) {
	w := newWorld(t)
	require.Contains(t, w.command("login slack "+e2eAliceTok), "alice")
	room := w.joinPortal(w.general)
	// One homeserver for all: the parts run in order, each leaving the
	// world as the next expects it.
	e2eMessages(t, w, room)
	e2eMentions(t, w, room)
	e2eFiles(t, w, room)
	e2eDirectChats(t, w)
	e2eOpenedDM(t, w)
	e2eConversations(t, w)
	e2ePresenceAndTyping(t, w, room)
	e2eDoublePuppet(t, w, room)
	e2eReadMarkersAndArchive(t, w, room)
	e2eRelay(t, w, room)
	e2eOutage(t, w, room)
}

// e2eMessages: text, edits, deletions, reactions and threads both ways.
func e2eMessages(t *testing.T, w *world, room id.RoomID) {
	ctx := context.Background()
	bob, carol := w.ghost("U002"), w.ghost("U003")

	t.Run("a Slack message is shown by its sender's ghost with formatting", func(t *testing.T) {
		w := w.in(t)
		w.emu.Post(w.general, "U002", "hello from *Slack*", "")
		msg := w.waitFor(room, "bob's message", from(bob, "hello from *Slack*"))
		assert.Equal(t, "hello from <strong>Slack</strong>", msg.Content.AsMessage().FormattedBody)
	})

	t.Run("a Matrix message is posted on Slack as the user and its echo is dropped", func(t *testing.T) {
		w := w.in(t)
		_, err := w.alice.SendText(ctx, room, "hello from Matrix")
		require.NoError(t, err)
		w.slackMessage(w.general, "alice's message", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "hello from Matrix" })
		assert.Equal(t, 1, w.countAfterMarker(room, withBody("hello from Matrix")), "the message appears once in Matrix")
	})

	t.Run("a Slack edit is an m.replace and a Slack deletion a redaction", func(t *testing.T) {
		w := w.in(t)
		ts := w.emu.Post(w.general, "U002", "teh plan", "")
		orig := w.waitFor(room, "the original", from(bob, "teh plan"))
		w.emu.Edit(w.general, ts, "the *plan*")
		edit := w.waitFor(room, "the edit", func(evt *event.Event) bool {
			c := evt.Content.AsMessage()
			return evt.Sender == bob && c.NewContent != nil && c.NewContent.Body == "the *plan*"
		})
		c := edit.Content.AsMessage()
		assert.Equal(t, orig.ID, c.RelatesTo.GetReplaceID())
		assert.Equal(t, "the <strong>plan</strong>", c.NewContent.FormattedBody)
		w.emu.Delete(w.general, ts)
		w.waitFor(room, "the redaction", func(evt *event.Event) bool { return evt.ID == orig.ID && evt.Unsigned.RedactedBecause != nil })
	})

	t.Run("a Matrix edit updates the Slack message and a redaction deletes it", func(t *testing.T) {
		w := w.in(t)
		sent, err := w.alice.SendText(ctx, room, "draft one")
		require.NoError(t, err)
		msg := w.slackMessage(w.general, "the draft", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "draft one" })
		edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "final **one**", Format: event.FormatHTML, FormattedBody: "final <b>one</b>"}
		edit.SetEdit(sent.EventID)
		_, err = w.alice.SendMessageEvent(ctx, room, event.EventMessage, edit)
		require.NoError(t, err)
		w.slackMessage(w.general, "the edit", func(m slackemu.Message) bool { return m.TS == msg.TS && m.Text == "final *one*" })
		assert.Equal(t, 0, w.countAfterMarker(room, func(evt *event.Event) bool {
			c := evt.Content.AsMessage()
			return evt.Sender != w.aliceID && c != nil && c.RelatesTo.GetReplaceID() == sent.EventID
		}), "the edit's echo is not bridged back")

		w.redact(room, sent.EventID)
		w.waitSlack("the deletion", func() bool {
			return !slices.ContainsFunc(w.emu.Messages(w.general), func(m slackemu.Message) bool { return m.TS == msg.TS })
		})
	})

	t.Run("Slack reactions are Matrix annotations with Unicode keys, both ways", func(t *testing.T) {
		w := w.in(t)
		ts := w.emu.Post(w.general, "U002", "ship it?", "")
		target := w.waitFor(room, "bob's question", from(bob, "ship it?"))
		w.emu.React(w.general, ts, "U003", "tada", true)
		w.emu.React(w.general, ts, "U003", "partyparrot", true)
		tada := w.waitFor(room, "carol's 🎉", reactionFrom(carol, target.ID, "🎉"))
		w.waitFor(room, "the custom emoji", reactionFrom(carol, target.ID, ":partyparrot:"))
		w.emu.React(w.general, ts, "U003", "tada", false)
		w.waitFor(room, "the reaction's redaction", func(evt *event.Event) bool { return evt.ID == tada.ID && evt.Unsigned.RedactedBecause != nil })

		mine, err := w.alice.SendReaction(ctx, room, target.ID, "❤️")
		require.NoError(t, err)
		reactedBy := func(name, user string) func() bool {
			return func() bool {
				for _, m := range w.emu.Messages(w.general) {
					if m.TS == ts {
						return slices.ContainsFunc(m.Reactions, func(r slackemu.Reaction) bool { return r.Name == name && slices.Contains(r.Users, user) })
					}
				}
				return false
			}
		}
		w.waitSlack("alice's heart", reactedBy("heart", "U001"))
		assert.Equal(t, 1, w.countAfterMarker(room, func(evt *event.Event) bool {
			r := evt.Content.AsReaction()
			return evt.Type == event.EventReaction && r != nil && r.RelatesTo.EventID == target.ID && r.RelatesTo.Key == "❤️"
		}), "the reaction's echo is not bridged back")
		w.redact(room, mine.EventID)
		w.waitSlack("the heart removed", func() bool { return !reactedBy("heart", "U001")() })
	})

	t.Run("Slack threads are Matrix threads, both ways", func(t *testing.T) {
		w := w.in(t)
		root := w.emu.Post(w.general, "U002", "thread root", "")
		rootEvt := w.waitFor(room, "the root", from(bob, "thread root"))
		w.emu.Post(w.general, "U003", "in the thread", root)
		reply := w.waitFor(room, "carol's reply", from(carol, "in the thread"))
		rel := reply.Content.AsMessage().RelatesTo
		require.NotNil(t, rel)
		assert.Equal(t, event.RelThread, rel.Type)
		assert.Equal(t, rootEvt.ID, rel.EventID)

		mine := &event.MessageEventContent{MsgType: event.MsgText, Body: "me too"}
		mine.RelatesTo = (&event.RelatesTo{}).SetThread(rootEvt.ID, reply.ID)
		_, err := w.alice.SendMessageEvent(ctx, room, event.EventMessage, mine)
		require.NoError(t, err)
		m := w.slackMessage(w.general, "alice's thread reply", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "me too" })
		assert.Equal(t, root, m.ThreadTS)
	})

	t.Run("a thread reply also sent to the channel is in the main timeline as a reply to its root", func(t *testing.T) {
		w := w.in(t)
		root := w.emu.Post(w.general, "U002", "broadcast root", "")
		rootEvt := w.waitFor(room, "the root", from(bob, "broadcast root"))
		ts := w.emu.Broadcast(w.general, "U003", "everyone should see this", root)
		reply := w.waitFor(room, "carol's broadcast", from(carol, "everyone should see this"))
		rel := reply.Content.AsMessage().RelatesTo
		require.NotNil(t, rel)
		assert.NotEqual(t, event.RelThread, rel.Type, "not hidden in the thread")
		assert.Equal(t, rootEvt.ID, rel.GetReplyTo())

		answer := &event.MessageEventContent{MsgType: event.MsgText, Body: "seen it"}
		answer.RelatesTo = (&event.RelatesTo{}).SetReplyTo(reply.ID)
		_, err := w.alice.SendMessageEvent(ctx, room, event.EventMessage, answer)
		require.NoError(t, err)
		m := w.slackMessage(w.general, "alice's Matrix reply", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "seen it" })
		assert.Equal(t, root, m.ThreadTS, "in the thread of the broadcast, under its parent")
		assert.Equal(t, "thread_broadcast", m.Subtype, "and in the channel, as it is in Matrix")
		assert.Equal(t, 1, w.countAfterMarker(room, withBody("seen it")), "its echo is not bridged back")

		w.emu.Edit(w.general, ts, "everyone should see this edit")
		w.waitFor(room, "the broadcast's edit", func(evt *event.Event) bool {
			c := evt.Content.AsMessage()
			return evt.Sender == carol && c.NewContent != nil && c.NewContent.Body == "everyone should see this edit" && c.RelatesTo.GetReplaceID() == reply.ID
		})
		w.emu.Delete(w.general, ts)
		w.waitFor(room, "the broadcast's redaction", func(evt *event.Event) bool { return evt.ID == reply.ID && evt.Unsigned.RedactedBecause != nil })
	})

	t.Run("an app's blocks are shown when its text is only the notification", func(t *testing.T) {
		w := w.in(t)
		blocks := `[{"type":"header","text":{"type":"plain_text","text":"Deploy finished"}},` +
			`{"type":"section","text":{"type":"mrkdwn","text":"*api* is live"},"fields":[{"type":"mrkdwn","text":"*Env:* prod"}]},` +
			`{"type":"rich_text","elements":[{"type":"rich_text_list","style":"bullet","elements":[` +
			`{"type":"rich_text_section","elements":[{"type":"text","text":"fixed "},{"type":"text","text":"login","style":{"code":true}}]},` +
			`{"type":"rich_text_section","elements":[{"type":"text","text":"thanks "},{"type":"user","user_id":"U002"}]}]}]}]`
		w.emu.PostMessage(w.general, slackemu.Message{Subtype: "bot_message", BotID: "B0DEPLOY", Username: "deploybot",
			Text: "Deploy finished", Blocks: json.RawMessage(blocks)})
		evt := w.waitFor(room, "the deploy message", func(evt *event.Event) bool {
			return evt.Sender == w.ghost("B0DEPLOY") && strings.HasPrefix(body(evt), "Deploy finished\n")
		})
		c := evt.Content.AsMessage()
		assert.Equal(t, "Deploy finished\n*api* is live\n*Env:* prod\n• fixed `login`\n• thanks Bob", c.Body)
		assert.Contains(t, c.FormattedBody, "<h3>Deploy finished</h3><strong>api</strong> is live")
		assert.Contains(t, c.FormattedBody, "<ul><li>fixed <code>login</code></li><li>thanks <a href=\"https://matrix.to/#/"+bob.String()+"\">Bob</a></li></ul>")
	})
}

// e2eFiles: files both ways, and what happens to an uploaded one.
func e2eFiles(t *testing.T, w *world, room id.RoomID) {
	ctx := context.Background()
	bob := w.ghost("U002")

	t.Run("a file posted in Slack is an image whose bytes come from the media repo", func(t *testing.T) {
		w := w.in(t)
		png := []byte("\x89PNG\r\n\x1a\nnot really a picture")
		f := w.emu.AddFile("U002", "cat.png", png)
		w.emu.PostMessage(w.general, slackemu.Message{Subtype: "file_share", User: "U002", Files: []slackemu.File{f}, Upload: true})
		evt := w.waitFor(room, "bob's picture", from(bob, "cat.png"))
		c := evt.Content.AsMessage()
		assert.Equal(t, event.MsgImage, c.MsgType)
		require.NotEmpty(t, c.URL)
		uri, err := c.URL.Parse()
		require.NoError(t, err)
		data, err := w.alice.DownloadBytes(ctx, uri)
		require.NoError(t, err)
		assert.Equal(t, png, data, "the bytes were fetched from Slack with the login's token")
		assert.Equal(t, "image/png", c.Info.MimeType)
	})

	var fileEvt id.EventID
	var fileMsg slackemu.Message
	t.Run("a Matrix file is uploaded to Slack as the user", func(t *testing.T) {
		w := w.in(t)
		up, err := w.alice.UploadBytes(ctx, []byte("minutes of the meeting"), "text/plain")
		require.NoError(t, err)
		resp, err := w.alice.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgFile, Body: "minutes.txt", URL: up.ContentURI.CUString(), Info: &event.FileInfo{MimeType: "text/plain"},
		})
		require.NoError(t, err)
		fileEvt = resp.EventID
		fileMsg = w.slackMessage(w.general, "alice's file", func(m slackemu.Message) bool {
			return m.User == "U001" && len(m.Files) == 1 && m.Files[0].Name == "minutes.txt"
		})
		data, ok := w.emu.FileData(fileMsg.Files[0].ID)
		require.True(t, ok)
		assert.Equal(t, "minutes of the meeting", string(data))
		assert.Equal(t, 1, w.countAfterMarker(room, withBody("minutes.txt")), "the upload's echo is not bridged back")
	})

	t.Run("edits, reactions and redactions of an uploaded file reach Slack", func(t *testing.T) {
		w := w.in(t)
		require.NotEmpty(t, fileEvt)
		edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "the minutes"}
		edit.SetEdit(fileEvt) // makes it "* the minutes" with the text as m.new_content
		_, err := w.alice.SendMessageEvent(ctx, room, event.EventMessage, edit)
		require.NoError(t, err)
		w.slackMessage(w.general, "the edited caption", func(m slackemu.Message) bool { return m.TS == fileMsg.TS && m.Text == "the minutes" })

		_, err = w.alice.SendReaction(ctx, room, fileEvt, "👍")
		require.NoError(t, err)
		w.slackMessage(w.general, "the reaction on the file", func(m slackemu.Message) bool {
			return m.TS == fileMsg.TS && slices.ContainsFunc(m.Reactions, func(r slackemu.Reaction) bool {
				return r.Name == "+1" && slices.Contains(r.Users, "U001")
			})
		})

		w.redact(room, fileEvt)
		w.waitSlack("the file message deleted", func() bool {
			return !slices.ContainsFunc(w.emu.Messages(w.general), func(m slackemu.Message) bool { return m.TS == fileMsg.TS })
		})
	})
}
