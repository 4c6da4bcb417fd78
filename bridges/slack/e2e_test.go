package slack_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// TestEndToEnd runs the whole bridge in this process against Dendrite and
// the Slack emulator, and checks what a user sees on each side: Alice logs
// in from the management room and uses #general from Matrix while Bob and
// Carol use the Slack app.
func TestEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	require.Contains(t, w.command("login slack "+e2eAliceTok), "alice")
	room := w.joinPortal(w.general)
	bob := w.ghost("U002")

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
