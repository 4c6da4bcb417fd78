package gitter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

func TestReadMarkers(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	s := f.login(t)
	portal := &bridge.Portal{Key: bridge.PortalKey{Network: "gitter", Chat: bridge.ChatID(f.room.ID)}}
	var msgs []gitterapi.Message
	for _, text := range []string{"one", "two", "three"} {
		msgs = append(msgs, f.emu.Post(f.room.ID, f.bob.ID, text))
	}
	eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 3 }, "three messages")
	receipt := func(m gitterapi.Message) error {
		return s.HandleMatrixReadReceipt(f.ctx, portal, &bridge.Message{Portal: portal.Key, RemoteID: bridge.MessageID(m.ID)})
	}
	unreadCalls := func() int {
		n := 0
		for _, r := range f.emu.Requests() {
			if r.Path == "/v1/user/"+f.alice.ID+"/rooms/"+f.room.ID+"/unreadItems" {
				n++
			}
		}
		return n
	}

	t.Run("a Matrix receipt marks read on Gitter up to that message", func(t *testing.T) {
		require.NoError(t, receipt(msgs[1]))
		assert.Equal(t, []string{msgs[2].ID}, f.emu.Unread(f.room.ID, f.alice.ID))
	})
	t.Run("a receipt for an older message asks Gitter nothing", func(t *testing.T) {
		before := unreadCalls()
		require.NoError(t, receipt(msgs[0]))
		assert.Equal(t, before, unreadCalls())
	})
	t.Run("Gitter's echo of a Matrix receipt is no new read marker", func(t *testing.T) {
		require.NoError(t, receipt(msgs[2]))
		assert.Empty(t, f.emu.Unread(f.room.ID, f.alice.ID))
		time.Sleep(50 * time.Millisecond)
		assert.Empty(t, f.core.eventsOf(bridge.RemoteReadMarker))
	})
	t.Run("reading the room on Gitter becomes the user's read marker", func(t *testing.T) {
		last := f.emu.Post(f.room.ID, f.bob.ID, "four")
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 4 }, "fourth message")
		f.emu.ReadAll(f.room.ID, f.alice.ID)
		eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteReadMarker)) == 1 }, "read marker")
		ev := f.core.eventsOf(bridge.RemoteReadMarker)[0]
		assert.Equal(t, bridge.MessageID(last.ID), ev.Target)
		assert.Equal(t, f.user.MXID, ev.Sender.Matrix, "the marker is the user's own, for their double puppet")
		assert.Equal(t, bridge.ChatID(f.room.ID), ev.Portal.Chat)
	})
	t.Run("a patch of unread counts leaves the topic alone", func(t *testing.T) {
		for _, ev := range f.core.eventsOf(bridge.RemoteChatInfo)[2:] {
			assert.NotEqual(t, "", *ev.ChatInfo.Topic, "a patch without a topic emptied it")
		}
		assert.Equal(t, "Acme talk", f.emu.Room(f.room.ID, f.alice.ID).Topic)
		assert.Len(t, f.core.eventsOf(bridge.RemoteChatInfo), 2, "no chat info for a patch of counters")
	})
}

func TestRoomMentions(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	f.login(t)
	cases := []struct {
		name string
		text string
		want bool
	}{
		{"@/all mentions the whole room", "@/all meeting now", true},
		{"@/all inside a sentence mentions the whole room", "hey @/all, look", true},
		{"a plain @name does not", "hi @alice", false},
		{"an address that ends in /all does not", "see http://x.org/@/all", false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.emu.Post(f.room.ID, f.bob.ID, tc.text)
			eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == i+1 }, "message")
			ev := f.core.eventsOf(bridge.RemoteMessage)[i]
			assert.Equal(t, tc.want, ev.Content.MentionsRoom)
		})
	}
}

func TestLogoutForgetsTheLogin(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	s := f.login(t)
	f.emu.Post(f.room.ID, f.bob.ID, "hello")
	eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 1 }, "message")
	eventually(t, func() bool {
		pos, err := f.net.store.position(f.ctx, f.user.MXID, f.room.ID)
		return err == nil && pos != ""
	}, "position saved")

	require.NoError(t, s.LogoutRemote(f.ctx))
	t.Run("the session stops following Gitter", func(t *testing.T) {
		eventually(t, func() bool { return f.emu.StreamCount() == 0 }, "streams closed")
		assert.Empty(t, f.net.sessionList())
	})
	t.Run("the login's stream positions are gone", func(t *testing.T) {
		pos, err := f.net.store.position(f.ctx, f.user.MXID, f.room.ID)
		require.NoError(t, err)
		assert.Empty(t, pos)
	})
	t.Run("logging out twice is harmless", func(t *testing.T) {
		assert.NoError(t, s.LogoutRemote(context.Background()))
	})
}

func TestStartDM(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	carol, _ := f.emu.AddUser("carol", "Carol C")
	f.emu.Join(f.room.ID, carol.ID)
	stranger, _ := f.emu.AddUser("stranger", "Never Seen")
	s := f.login(t)
	eventually(t, func() bool { _, ok := f.net.username(carol.ID); return ok }, "carol's username learnt from the room")
	infos := len(f.core.eventsOf(bridge.RemoteChatInfo))

	t.Run("a user with a one-to-one room gets that room", func(t *testing.T) {
		chat, err := s.StartDM(f.ctx, bridge.RemoteUserID(f.bob.ID))
		require.NoError(t, err)
		assert.Equal(t, bridge.ChatID(f.dm.ID), chat)
	})
	var chat bridge.ChatID
	t.Run("a user without one gets a new one-to-one room on Gitter", func(t *testing.T) {
		var err error
		chat, err = s.StartDM(f.ctx, bridge.RemoteUserID(carol.ID))
		require.NoError(t, err)
		r, ok := f.emu.OneToOneOf(f.alice.ID, carol.ID)
		require.True(t, ok)
		assert.Equal(t, bridge.ChatID(r.ID), chat)
		assert.True(t, s.InChat(chat))
	})
	t.Run("the new room makes no portal of its own, the Matrix room is its portal", func(t *testing.T) {
		time.Sleep(100 * time.Millisecond) // Faye's news of the new room
		assert.Len(t, f.core.eventsOf(bridge.RemoteChatInfo), infos)
	})
	t.Run("messages in the new room are followed as the user's DM", func(t *testing.T) {
		f.emu.Post(string(chat), carol.ID, "hi alice")
		eventually(t, func() bool {
			for _, ev := range f.core.eventsOf(bridge.RemoteMessage) {
				if ev.Portal.Chat == chat {
					return ev.Portal.Receiver == string(f.user.MXID) && ev.Content.Body == "hi alice"
				}
			}
			return false
		}, "carol's DM")
	})
	t.Run("asking again gives the same room", func(t *testing.T) {
		again, err := s.StartDM(f.ctx, bridge.RemoteUserID(carol.ID))
		require.NoError(t, err)
		assert.Equal(t, chat, again)
	})
	t.Run("the user's own account is refused", func(t *testing.T) {
		_, err := s.StartDM(f.ctx, bridge.RemoteUserID(f.alice.ID))
		assert.ErrorIs(t, err, bridge.ErrNotSupported)
	})
	t.Run("a user whose username the bridge never saw is refused with the reason", func(t *testing.T) {
		_, err := s.StartDM(f.ctx, bridge.RemoteUserID(stranger.ID))
		require.ErrorIs(t, err, bridge.ErrNotSupported)
		assert.Contains(t, err.Error(), "cannot look users up by ID")
		_, ok := f.emu.OneToOneOf(f.alice.ID, stranger.ID)
		assert.False(t, ok)
		notices := f.core.noticeList()
		require.NotEmpty(t, notices, "told in the management room too")
		assert.Contains(t, notices[len(notices)-1], "cannot look users up by ID")
	})
}

func TestPositionsAreWrittenInBatches(t *testing.T) {
	f := newFixture(t, nil, Config{Backfill: -1})
	f.net.positionFlush = time.Hour
	s := f.login(t)
	var last gitterapi.Message
	for _, text := range []string{"one", "two", "three"} {
		last = f.emu.Post(f.room.ID, f.bob.ID, text)
	}
	eventually(t, func() bool { return len(f.core.eventsOf(bridge.RemoteMessage)) == 3 }, "three messages")
	stored := func() string {
		pos, err := f.net.store.position(f.ctx, f.user.MXID, f.room.ID)
		require.NoError(t, err)
		return pos
	}
	t.Run("a handed-over message does not cost a database write of its own", func(t *testing.T) {
		assert.Empty(t, stored())
	})
	t.Run("a room followed again starts from the position not yet written", func(t *testing.T) {
		pos, err := s.position(f.ctx, f.room.ID)
		require.NoError(t, err)
		assert.Equal(t, last.ID, pos)
	})
	t.Run("disconnecting writes the last positions", func(t *testing.T) {
		require.NoError(t, s.Disconnect(f.ctx))
		assert.Equal(t, last.ID, stored())
	})
}
