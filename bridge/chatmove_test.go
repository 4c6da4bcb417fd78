package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"

	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

func TestRekeyedPortalKeepsItsRoomAndMessages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := newStore(db)
		require.NoError(t, s.upgrade(ctx))
		t.Cleanup(s.close)
		from := PortalKey{Network: "irc", Chat: "hank", Receiver: "@a:x"}
		to := PortalKey{Network: "irc", Chat: "hank2", Receiver: "@a:x"}
		require.NoError(t, s.upsertPortal(ctx, &Portal{Key: from, MXID: "!dm:x", Name: "hank", IsDM: true}))
		written := &Message{Portal: from, RemoteID: "m1", RoomID: "!dm:x", EventID: "$1", SenderMXID: "@g:x", Kind: kindMessage, Timestamp: time.UnixMilli(1000)}
		_, err := s.insertMessage(ctx, written)
		require.NoError(t, err)
		// Handled but not yet flushed with its journal row.
		s.insertMessageLater(&Message{Portal: from, RemoteID: "m2", RoomID: "!dm:x", EventID: "$2", SenderMXID: "@g:x", Kind: kindMessage, Timestamp: time.UnixMilli(2000)})

		require.NoError(t, s.rekeyPortal(ctx, from, to))
		require.NoError(t, s.flushHandled(ctx, nil), "pending rows follow the portal, or their insert would break the foreign key")

		fresh := newStore(db) // no cache: what the database says
		t.Cleanup(fresh.close)
		for name, st := range map[string]*store{"cached": s, "from the database": fresh} {
			t.Run(name, func(t *testing.T) {
				gone, err := st.portalByKey(ctx, from)
				require.NoError(t, err)
				assert.Nil(t, gone, "nothing left under the old key")
				p, err := st.portalByRoom(ctx, "!dm:x")
				require.NoError(t, err)
				require.NotNil(t, p)
				assert.Equal(t, to, p.Key)
				assert.Equal(t, "hank", p.Name)
				assert.True(t, p.IsDM)
				for _, rid := range []MessageID{"m1", "m2"} {
					m, err := st.messageByRemoteID(ctx, to, rid)
					require.NoError(t, err)
					require.NotNil(t, m, "message %s under the new key", rid)
					assert.Equal(t, to, m.Portal)
				}
			})
		}
	})
}

func TestChatMovesKeepTheNewKeysEventsBehindTheMove(t *testing.T) {
	a := PortalKey{Network: "irc", Chat: "a", Receiver: "@u:x"}
	b := PortalKey{Network: "irc", Chat: "b", Receiver: "@u:x"}
	c := PortalKey{Network: "irc", Chat: "c", Receiver: "@u:x"}
	var m chatMoves

	q, holdA := m.route(&RemoteEvent{Kind: RemoteMessage, Portal: b})
	assert.Equal(t, b.String(), q, "no move queued: an event runs on its own key")
	assert.Empty(t, holdA)

	q, holdMove := m.route(&RemoteEvent{Kind: RemoteChatMove, Portal: a, NewChat: "b"})
	assert.Equal(t, a.String(), q)
	q, holdMsg := m.route(&RemoteEvent{Kind: RemoteMessage, Portal: b})
	assert.Equal(t, a.String(), q, "an event for the new key waits behind the move")
	from, ok := m.source(b)
	assert.True(t, ok)
	assert.Equal(t, a, from)

	q, holdChain := m.route(&RemoteEvent{Kind: RemoteChatMove, Portal: b, NewChat: "c"})
	assert.Equal(t, a.String(), q, "a second move of the same chat follows the first")
	q, holdC := m.route(&RemoteEvent{Kind: RemoteMessage, Portal: c})
	assert.Equal(t, a.String(), q)

	m.done(holdMove)
	m.done(holdMsg)
	q, holdLate := m.route(&RemoteEvent{Kind: RemoteMessage, Portal: b})
	assert.Equal(t, a.String(), q, "the chained move still holds b's route")
	m.done(holdChain)
	m.done(holdLate)
	m.done(holdC)
	for _, k := range []PortalKey{b, c} {
		_, ok = m.source(k)
		assert.False(t, ok, "no route left to %s", k)
	}
	q, _ = m.route(&RemoteEvent{Kind: RemoteMessage, Portal: b})
	assert.Equal(t, b.String(), q, "once everything routed is handled, a key runs on its own queue again")
}
