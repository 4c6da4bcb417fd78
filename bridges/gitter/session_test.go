package gitter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

func TestLogin(t *testing.T) {
	f := newFixture(t, nil, Config{})
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no token asks for one", nil, "usage: login gitter <personal access token>"},
		{"two arguments are refused", []string{"a", "b"}, "usage"},
		{"a refused token says so without repeating it", []string{"wrong-secret-token"}, "Gitter refused that token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.net.Login(f.ctx, f.user, tc.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "wrong-secret-token")
		})
	}
	t.Run("a good token logs in as its Gitter user", func(t *testing.T) {
		l, sess, err := f.net.Login(f.ctx, f.user, []string{f.aliceTok})
		require.NoError(t, err)
		assert.Equal(t, "alice", l.RemoteName)
		assert.Equal(t, bridge.RemoteUserID(f.alice.ID), l.RemoteID)
		loaded, err := f.net.LoadSession(f.ctx, f.user, l)
		require.NoError(t, err)
		assert.Equal(t, sess.(*Session).me, loaded.(*Session).me, "a stored login loads without I/O")
	})
}

func TestRoomSync(t *testing.T) {
	f := newFixture(t, nil, Config{})
	f.login(t)
	infos := f.core.eventsOf(bridge.RemoteChatInfo)
	require.Len(t, infos, 2)
	t.Run("a group room becomes a shared portal named by its URI", func(t *testing.T) {
		ev := infos[0]
		assert.Equal(t, bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.room.ID)}, ev.Portal)
		assert.True(t, ev.CreatePortal)
		assert.Equal(t, "acme/chat", *ev.ChatInfo.Name)
		assert.Equal(t, "Acme talk", *ev.ChatInfo.Topic)
		assert.Equal(t, []id.UserID{f.user.MXID}, ev.ChatInfo.Invite)
		require.Len(t, ev.ChatInfo.Members, 2)
		assert.Equal(t, f.user.MXID, ev.ChatInfo.Members[0].Matrix, "alice is the logged-in user, not a ghost")
		assert.Equal(t, "Bob B", ev.ChatInfo.Members[1].Profile.Name)
	})
	t.Run("a one-to-one room becomes the user's DM portal", func(t *testing.T) {
		ev := infos[1]
		assert.Equal(t, bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.dm.ID), Receiver: "@alice:example.org"}, ev.Portal)
		assert.True(t, ev.ChatInfo.IsDM)
		assert.Nil(t, ev.ChatInfo.Name, "DM portals take the ghost's name")
	})
}

func TestGitterToMatrix(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	f.login(t)
	wait := func(kind bridge.RemoteEventKind, n int) []*bridge.RemoteEvent {
		t.Helper()
		eventually(t, func() bool { return len(f.core.eventsOf(kind)) >= n }, fmt.Sprintf("%d %s events", n, kind))
		return f.core.eventsOf(kind)
	}

	m := f.emu.Post(f.room.ID, f.bob.ID, "hi @alice, *look*")
	msgs := wait(bridge.RemoteMessage, 1)
	t.Run("a message arrives from the sender's ghost with its timestamp", func(t *testing.T) {
		ev := msgs[0]
		assert.Equal(t, bridge.MessageID(m.ID), ev.ID)
		assert.Equal(t, bridge.RemoteUserID(f.bob.ID), ev.Sender.ID)
		assert.Equal(t, "Bob B", ev.Sender.Profile.Name)
		assert.Empty(t, ev.Sender.Matrix)
		assert.True(t, m.Sent.Equal(ev.Timestamp))
		assert.True(t, ev.CreatePortal)
	})
	t.Run("markdown becomes HTML and a mention of the user a pill to them", func(t *testing.T) {
		c := msgs[0].Content
		assert.Equal(t, "hi @alice, *look*", c.Body)
		assert.Equal(t, `hi <a href="https://matrix.to/#/@alice:example.org">alice</a>, <em>look</em>`, c.HTML)
		assert.Equal(t, []id.UserID{"@alice:example.org"}, c.Mentions)
	})
	t.Run("a status message is an emote", func(t *testing.T) {
		f.emu.PostStatus(f.room.ID, f.bob.ID, "waves")
		ev := wait(bridge.RemoteMessage, 2)[1]
		assert.Equal(t, event.MsgEmote, ev.Content.MsgType)
	})
	t.Run("an edit replaces the message", func(t *testing.T) {
		f.emu.Edit(f.room.ID, f.bob.ID, m.ID, "hi @alice, *see*")
		ev := wait(bridge.RemoteEdit, 1)[0]
		assert.Equal(t, bridge.MessageID(m.ID), ev.Target)
		assert.Contains(t, ev.Content.HTML, "<em>see</em>")
		assert.True(t, strings.HasPrefix(string(ev.ID), m.ID+"@"), "the revision has its own ID")
	})
	t.Run("a deletion redacts the message", func(t *testing.T) {
		f.emu.Delete(f.room.ID, f.bob.ID, m.ID)
		ev := wait(bridge.RemoteDelete, 1)[0]
		assert.Equal(t, bridge.MessageID(m.ID), ev.Target)
	})
	t.Run("what the user wrote on Gitter comes as their own Matrix account", func(t *testing.T) {
		f.emu.Post(f.dm.ID, f.alice.ID, "sent from the Gitter app")
		ev := wait(bridge.RemoteMessage, 3)[2]
		assert.Equal(t, f.user.MXID, ev.Sender.Matrix)
		assert.Equal(t, "@alice:example.org", ev.Portal.Receiver)
	})
	t.Run("members joining and leaving on Gitter join and leave their ghosts", func(t *testing.T) {
		carol, _ := f.emu.AddUser("carol", "Carol C")
		f.emu.Join(f.room.ID, carol.ID)
		f.emu.Leave(f.room.ID, carol.ID)
		assert.Equal(t, bridge.RemoteUserID(carol.ID), wait(bridge.RemoteJoin, 1)[0].Sender.ID)
		assert.Equal(t, bridge.RemoteUserID(carol.ID), wait(bridge.RemoteLeave, 1)[0].Member.ID)
	})
	t.Run("presence in a room becomes ghost presence", func(t *testing.T) {
		f.emu.SetPresence(f.room.ID, f.bob.ID, true)
		ev := wait(bridge.RemotePresence, 1)[0]
		assert.Equal(t, bridge.RemoteUserID(f.bob.ID), ev.Sender.ID)
		assert.Equal(t, event.PresenceOnline, ev.Presence.State)
	})
	t.Run("a topic change on Gitter updates the portal", func(t *testing.T) {
		f.emu.SetTopic(f.room.ID, "New topic")
		infos := wait(bridge.RemoteChatInfo, 3)
		assert.Equal(t, "New topic", *infos[2].ChatInfo.Topic)
	})
	t.Run("a room joined on Gitter becomes a portal and is followed", func(t *testing.T) {
		other := f.emu.AddRoom("acme/other", "", gitterapi.RoomOrgChannel, f.bob.ID)
		f.emu.Join(other.ID, f.alice.ID)
		wait(bridge.RemoteChatInfo, 4)
		eventually(t, func() bool { return f.emu.StreamCount() == 3 }, "stream for the new room")
		f.emu.Post(other.ID, f.bob.ID, "welcome")
		ev := wait(bridge.RemoteMessage, 4)[3]
		assert.Equal(t, bridge.ChatID(other.ID), ev.Portal.Chat)
	})
	t.Run("a room left on Gitter makes the user leave the portal", func(t *testing.T) {
		f.emu.Leave(f.room.ID, f.alice.ID)
		eventually(t, func() bool {
			for _, ev := range f.core.eventsOf(bridge.RemoteLeave) {
				if ev.Member.Matrix == f.user.MXID {
					return true
				}
			}
			return false
		}, "the user's leave")
	})
}

func TestMatrixToGitter(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	s := f.login(t)
	// The network learns bob's username from the member list.
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.room.ID)}}
	send := func(content *event.MessageEventContent) (*bridge.MessageResult, error) {
		return s.HandleMatrixMessage(f.ctx, &bridge.MatrixMessage{Portal: portal, Sender: f.user, Content: content})
	}
	last := func() gitterapi.Message {
		msgs := f.emu.Messages(f.room.ID)
		return msgs[len(msgs)-1]
	}
	res, err := send(&event.MessageEventContent{
		MsgType:       event.MsgText,
		Body:          "hi Bob B, look",
		Format:        event.FormatHTML,
		FormattedBody: fmt.Sprintf(`hi <a href="https://matrix.to/#/%s">Bob B</a>, <strong>look</strong>`, f.ghost(f.bob)),
	})
	require.NoError(t, err)
	t.Run("a formatted message with a pill arrives as markdown with a mention", func(t *testing.T) {
		m := last()
		assert.Equal(t, bridge.MessageID(m.ID), res.ID)
		assert.Equal(t, "hi @bob, **look**", m.Text)
		assert.Equal(t, "alice", m.FromUser.Username)
		assert.Equal(t, []gitterapi.Mention{{ScreenName: "bob", UserID: f.bob.ID}}, m.Mentions)
	})
	t.Run("the stream's echo of it is not bridged back as new", func(t *testing.T) {
		time.Sleep(50 * time.Millisecond)
		for _, ev := range f.core.eventsOf(bridge.RemoteMessage) {
			// The recorder has no message map; the position still moved
			// past it, so a later catch-up will not repeat it either.
			assert.Equal(t, f.user.MXID, ev.Sender.Matrix, "an echo would come as the user, deduplicated by the core")
		}
	})
	t.Run("an emote is a status message", func(t *testing.T) {
		_, err := send(&event.MessageEventContent{MsgType: event.MsgEmote, Body: "waves"})
		require.NoError(t, err)
		assert.True(t, last().Status)
	})
	t.Run("an edit updates the Gitter message", func(t *testing.T) {
		err := s.HandleMatrixEdit(f.ctx, &bridge.MatrixEdit{
			MatrixMessage: bridge.MatrixMessage{Portal: portal, Sender: f.user, Content: &event.MessageEventContent{
				MsgType: event.MsgText, Body: "* fixed", NewContent: &event.MessageEventContent{MsgType: event.MsgText, Body: "fixed"},
			}},
			Target: &bridge.Message{RemoteID: res.ID, Kind: "message"},
		})
		require.NoError(t, err)
		m, _ := find(f.emu.Messages(f.room.ID), string(res.ID))
		assert.Equal(t, "fixed", m.Text)
		assert.False(t, m.EditedAt.IsZero())
	})
	t.Run("a redaction deletes the Gitter message", func(t *testing.T) {
		err := s.HandleMatrixRedaction(f.ctx, &bridge.MatrixRedaction{Portal: portal, Sender: f.user, Target: &bridge.Message{RemoteID: res.ID, Kind: "message"}})
		require.NoError(t, err)
		m, _ := find(f.emu.Messages(f.room.ID), string(res.ID))
		assert.True(t, m.Deleted())
	})
	t.Run("deleting someone else's message is a permanent error", func(t *testing.T) {
		other := f.emu.Post(f.room.ID, f.bob.ID, "mine")
		err := s.HandleMatrixRedaction(f.ctx, &bridge.MatrixRedaction{Portal: portal, Sender: f.user, Target: &bridge.Message{RemoteID: bridge.MessageID(other.ID), Kind: "message"}})
		assert.ErrorIs(t, err, bridge.ErrPermanent)
	})
	t.Run("files are refused as not supported", func(t *testing.T) {
		_, err := send(&event.MessageEventContent{MsgType: event.MsgImage, Body: "cat.png"})
		assert.ErrorIs(t, err, bridge.ErrNotSupported)
		assert.ErrorIs(t, err, bridge.ErrPermanent)
	})
	t.Run("a server error is left to the core to retry", func(t *testing.T) {
		f.emu.FailNext("POST", "/v1/rooms/", 500, 1)
		_, err := send(&event.MessageEventContent{MsgType: event.MsgText, Body: "again"})
		require.Error(t, err)
		assert.NotErrorIs(t, err, bridge.ErrPermanent)
	})
	t.Run("a topic change sets the Gitter topic", func(t *testing.T) {
		require.NoError(t, s.HandleMatrixTopic(f.ctx, portal, f.user, "From Matrix"))
		assert.Equal(t, "From Matrix", f.emu.Room(f.room.ID, f.bob.ID).Topic)
	})
	t.Run("presence goes to Gitter as eyeballs", func(t *testing.T) {
		require.NoError(t, s.HandleMatrixPresence(f.ctx, event.PresenceOnline, ""))
		var found bool
		for _, r := range f.emu.Requests() {
			found = found || r.Path == "/v1/eyeballs"
		}
		assert.True(t, found)
	})
	t.Run("leaving the portal leaves the Gitter room, joining joins it again", func(t *testing.T) {
		require.NoError(t, s.HandleMatrixMembership(f.ctx, &bridge.MatrixMembership{Portal: portal, Sender: f.user, Membership: event.MembershipLeave}))
		assert.NotContains(t, f.emu.Members(f.room.ID), f.alice.ID)
		assert.False(t, s.InChat(portal.Key.Chat))
		require.NoError(t, s.HandleMatrixMembership(f.ctx, &bridge.MatrixMembership{Portal: portal, Sender: f.user, Membership: event.MembershipJoin}))
		assert.Contains(t, f.emu.Members(f.room.ID), f.alice.ID)
		assert.True(t, s.InChat(portal.Key.Chat))
		eventually(t, func() bool { return f.emu.StreamCount() == 2 }, "the stream is followed again")
	})
	t.Run("a DM with a Gitter user is its existing one-to-one room", func(t *testing.T) {
		chat, err := s.StartDM(f.ctx, bridge.RemoteUserID(f.bob.ID))
		require.NoError(t, err)
		assert.Equal(t, bridge.ChatID(f.dm.ID), chat)
	})
}

func find(msgs []gitterapi.Message, msgID string) (gitterapi.Message, bool) {
	for _, m := range msgs {
		if m.ID == msgID {
			return m, true
		}
	}
	return gitterapi.Message{}, false
}

func texts(evs []*bridge.RemoteEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Content.Body)
	}
	return out
}

func TestCatchUp(t *testing.T) {
	t.Run("a dropped stream catches up what was missed, once and in order", func(t *testing.T) {
		f := newFixture(t, nil, Config{Backfill: -1})
		f.login(t)
		f.emu.Post(f.room.ID, f.bob.ID, "before")
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 1 }, "first message")
		f.emu.RefuseStreams(true)
		f.emu.DropStreams()
		eventually(t, func() bool { return f.emu.StreamCount() == 0 }, "streams dropped")
		for i := range 3 {
			f.emu.Post(f.room.ID, f.bob.ID, fmt.Sprintf("missed %d", i))
		}
		f.emu.RefuseStreams(false)
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 4 }, "caught up")
		f.emu.Post(f.room.ID, f.bob.ID, "after")
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 5 }, "streaming again")
		time.Sleep(50 * time.Millisecond)
		assert.Equal(t, []string{"before", "missed 0", "missed 1", "missed 2", "after"}, texts(f.core.eventsOf(bridge.RemoteMessage)))
	})
	t.Run("a restart resumes from the stored position", func(t *testing.T) {
		f := newFixture(t, nil, Config{Backfill: 5})
		for i := range 7 {
			f.emu.Post(f.room.ID, f.bob.ID, fmt.Sprintf("old %d", i))
		}
		l, sess, err := f.net.Login(f.ctx, f.user, []string{f.aliceTok})
		require.NoError(t, err)
		sess.Connect(f.ctx)
		f.waitConnected(t)
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 5 }, "backfill")
		assert.Equal(t, []string{"old 2", "old 3", "old 4", "old 5", "old 6"}, texts(f.core.eventsOf(bridge.RemoteMessage)),
			"a new portal gets the configured recent history")
		require.NoError(t, sess.Disconnect(f.ctx))

		for i := range 150 {
			f.emu.Post(f.room.ID, f.bob.ID, fmt.Sprintf("while down %d", i))
		}
		again, err := f.net.LoadSession(f.ctx, f.user, l)
		require.NoError(t, err)
		again.Connect(f.ctx)
		t.Cleanup(func() { _ = again.Disconnect(context.Background()) })
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 155 }, "caught up across pages")
		got := texts(f.core.eventsOf(bridge.RemoteMessage))[5:]
		assert.Equal(t, "while down 0", got[0])
		assert.Equal(t, "while down 149", got[149])
	})
}

func TestBadToken(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	s := f.login(t)
	f.emu.RevokeToken(f.alice.ID)
	f.emu.DropStreams()
	t.Run("a token revoked while connected marks the login bad", func(t *testing.T) {
		eventually(t, func() bool { return f.core.lastState() == bridge.StateBadCredential }, "bad credentials")
		assert.Equal(t, bridge.StateBadCredential, s.State().Kind)
	})
	t.Run("everything stops instead of retrying", func(t *testing.T) {
		eventually(t, func() bool { return f.emu.StreamCount() == 0 }, "streams stopped")
		// A reconnect already in flight may still arrive; then silence.
		time.Sleep(100 * time.Millisecond)
		n := len(f.emu.Requests())
		time.Sleep(100 * time.Millisecond)
		assert.Len(t, f.emu.Requests(), n)
	})
}

// TestTokensNeverLogged runs logins, a session, failures and a revoked
// token with every log level on, and looks for the tokens in the output.
func TestTokensNeverLogged(t *testing.T) {
	f := newFixture(t, nil, Config{})
	_, _, _ = f.net.Login(f.ctx, f.user, []string{"wrong-secret-token"})
	s := f.login(t)
	f.emu.FailNext("GET", "/v1/rooms/", 503, 3)
	f.emu.DropStreams()
	f.emu.DropFaye()
	f.emu.Post(f.room.ID, f.bob.ID, "hello")
	eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) >= 1 }, "message after reconnect")
	f.emu.RevokeToken(f.alice.ID)
	f.emu.DropStreams()
	eventually(t, func() bool { return s.State().Kind == bridge.StateBadCredential }, "bad credentials")
	logs := f.logs.String()
	require.NotEmpty(t, logs, "the scenario logs something")
	for _, secret := range []string{f.aliceTok, "wrong-secret-token"} {
		assert.NotContains(t, logs, secret)
	}
	for _, st := range f.core.stateList() {
		assert.NotContains(t, st.Message, f.aliceTok)
	}
}
