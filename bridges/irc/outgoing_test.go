package irc

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

func TestOutgoing(t *testing.T) {
	cfg := defaultConfig()
	cfg.Name = "out"
	cfg.MediaURL = "https://matrix.example.org/"
	n, err := newNetwork(cfg, testDomain)
	require.NoError(t, err)
	n.bot = newBot(n)
	n.mx = newFakeMatrix()
	portal := &bridge.Portal{Key: n.channelKey("#c"), MXID: "!room:x"}
	for _, tc := range []struct {
		name    string
		content event.MessageEventContent
		want    outgoing
	}{
		{"a text is a PRIVMSG", event.MessageEventContent{MsgType: event.MsgText, Body: "hi"}, outgoing{command: "PRIVMSG", text: "hi"}},
		{"an emote is an ACTION", event.MessageEventContent{MsgType: event.MsgEmote, Body: "waves"}, outgoing{command: "PRIVMSG", action: true, text: "waves"}},
		{"a notice is a NOTICE", event.MessageEventContent{MsgType: event.MsgNotice, Body: "fyi"}, outgoing{command: "NOTICE", text: "fyi"}},
		{"HTML becomes IRC formatting", event.MessageEventContent{MsgType: event.MsgText, Body: "**b**", Format: event.FormatHTML, FormattedBody: "<b>b</b>"},
			outgoing{command: "PRIVMSG", text: "\x02b\x02"}},
		{"an image is a link to the media repository", event.MessageEventContent{MsgType: event.MsgImage, Body: "cat.png", URL: "mxc://example.org/abc123"},
			outgoing{command: "PRIVMSG", action: true, text: "sent an image: https://matrix.example.org/_matrix/media/v3/download/example.org/abc123/cat.png"}},
		{"a file name with spaces is escaped", event.MessageEventContent{MsgType: event.MsgFile, Body: "my notes.txt", URL: "mxc://example.org/f1"},
			outgoing{command: "PRIVMSG", action: true, text: "sent a file: https://matrix.example.org/_matrix/media/v3/download/example.org/f1/my%20notes.txt"}},
		{"an encrypted file is not linked", event.MessageEventContent{MsgType: event.MsgFile, Body: "secret.pdf", File: &event.EncryptedFileInfo{URL: "mxc://example.org/e1"}},
			outgoing{command: "PRIVMSG", action: true, text: "sent a file (secret.pdf), encrypted: open it in Matrix"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := matrixContent(portal, "@u:x", "", &tc.content)
			assert.Equal(t, tc.want, n.outgoing(context.Background(), msg, &tc.content))
		})
	}

	t.Run("a reply without a fallback still names the author", func(t *testing.T) {
		c := event.MessageEventContent{MsgType: event.MsgText, Body: "> <@irc_out_bob:x> old\n\nnew"}
		c.RelatesTo = (&event.RelatesTo{}).SetReplyTo("$old")
		msg := matrixContent(portal, "@u:x", "", &c)
		msg.ReplyTo = &bridge.Message{RemoteSender: "bob", EventID: "$old"}
		assert.Equal(t, "bob: new", n.outgoing(context.Background(), msg, &c).text, "the plain-text fallback is dropped")
	})
}

func TestLoginPicksNickAndIdentifies(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	services := srv.Connect(t, "NickServ")
	tn := startNetwork(t, srv, func(c *Config) { c.Channels = nil })
	ctx := testCtx(t)
	t.Run("a chosen nick that is not a nick is refused", func(t *testing.T) {
		_, _, err := tn.Login(ctx, &bridge.User{MXID: alice}, []string{"not a nick"})
		assert.Error(t, err)
	})
	l, s, err := tn.Login(ctx, &bridge.User{MXID: alice}, []string{"AliceChosen", "s3cret"})
	require.NoError(t, err)
	assert.Equal(t, "AliceChosen", l.RemoteName)
	assert.NotContains(t, string(l.Metadata), "s3cret", "the password stays in the adapter's table")
	_, err = s.(*Puppet).up(ctx)
	require.NoError(t, err)
	m := services.WaitFor("the identify", irctest.IsText("PRIVMSG", "IDENTIFY"))
	assert.Equal(t, "AliceChosen", m.Nick())
	assert.Equal(t, "IDENTIFY AliceChosen s3cret", m.Trailing(), "without SASL the password goes to NickServ, naming the account")
	s.(*Puppet).setDisplayName("Someone Else")
	row, err := tn.store.puppet(ctx, alice)
	require.NoError(t, err)
	assert.True(t, row.Chosen, "a display name does not override a chosen nick")
}

func TestRefusedMessagesFailInTheirRoom(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			carol := srv.Connect(t, "carol")
			carol.Join("#quiet")
			tn := startNetwork(t, srv, func(c *Config) { c.Channels = []ChannelConfig{{Channel: "#quiet"}} })
			tn.waitBotIn(t, "#quiet")
			room := tn.core.addPortal(tn.channelKey("#quiet"))
			portal := &bridge.Portal{Key: tn.channelKey("#quiet"), MXID: room}

			t.Run("a message the channel takes is delivered", func(t *testing.T) {
				require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "before +m"), "Alice"))
				carol.WaitFor("the message", irctest.IsText("PRIVMSG", "before +m"))
			})

			t.Run("a message a +m channel refuses fails, permanently, with the server's words", func(t *testing.T) {
				carol.Send("MODE #quiet +m")
				carol.WaitFor("+m", irctest.IsCommand("MODE", "carol"))
				err := tn.send(t, matrixMessage(portal, alice, "", "while muted"), "Alice")
				require.ErrorIs(t, err, ErrNotDelivered)
				assert.ErrorIs(t, err, bridge.ErrPermanent, "retrying would be refused again")
				assert.Contains(t, err.Error(), "#quiet on IRC refused it: ")
				// A notice is queued on the reader, as it reads the refusal,
				// and sent by the worker: once the reader is past a fence,
				// a marker queued after it comes after any such notice.
				p, err := tn.puppetFor(testCtx(t), alice)
				require.NoError(t, err)
				c, err := p.conn.wait(testCtx(t))
				require.NoError(t, err)
				require.NoError(t, c.fence(testCtx(t)))
				tn.notify(alice, "marker after the refusal")
				tn.core.waitNotice(t, alice, "marker after the refusal")
				tn.core.mu.Lock()
				defer tn.core.mu.Unlock()
				for _, n := range tn.core.notices[alice] {
					assert.NotContains(t, n, "not delivered", "the failure is told in the room, not the management room")
				}
			})

			t.Run("a private message to a nick that is not there fails", func(t *testing.T) {
				dm := &bridge.Portal{Key: tn.dmKey("nobody", alice), MXID: "!dm:test"}
				err := tn.send(t, matrixMessage(dm, alice, "", "anyone?"), "Alice")
				require.ErrorIs(t, err, ErrNotDelivered)
				assert.Contains(t, err.Error(), "nobody on IRC refused it: No such nick")
			})

			t.Run("once voiced, the user's messages go through again", func(t *testing.T) {
				carol.Send("MODE #quiet +v Alice[m]")
				carol.WaitFor("the voice", irctest.IsCommand("MODE", "carol"))
				require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "with voice"), "Alice"))
				carol.WaitFor("the message", irctest.IsText("PRIVMSG", "with voice"))
			})
		})
	}
}

// FuzzIRCToHTML checks that any IRC text converts without panicking, to
// valid UTF-8 when it was UTF-8, and that the body never holds codes.
func FuzzIRCToHTML(f *testing.F) {
	for _, seed := range []string{"plain", "\x02b\x1di\x0304,08c\x0fx", "\x04ff0000\x16r", "alice[m]: hi", "<&>\"'", "\x03,\x03\x0399,99"} {
		f.Add(seed)
	}
	mention := func(nick string) (id.UserID, bool) { return "@a:x", strings.EqualFold(nick, "alice[m]") }
	f.Fuzz(func(t *testing.T, in string) {
		body, html, _ := ircToHTML(in, mention)
		if utf8.ValidString(in) {
			assert.True(t, utf8.ValidString(body))
			assert.True(t, utf8.ValidString(html))
		}
		assert.NotContains(t, body, "\x02")
		assert.NotContains(t, html, "<script")
	})
}

// FuzzHTMLToIRC checks that any Matrix HTML converts without panicking.
func FuzzHTMLToIRC(f *testing.F) {
	for _, seed := range []string{"<b>x</b>", "<a href=\"https://matrix.to/#/@a:x\">A</a>", "<font color=\"#zzz\">c</font>", "<pre><code>x</code></pre>", "<mx-reply>r</mx-reply>t"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		_ = htmlToIRC(in, func(user id.UserID, shown string) string { return shown })
	})
}
