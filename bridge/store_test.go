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

func TestStoreOnBothEngines(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := newStore(db)
		require.NoError(t, s.upgrade(ctx))
		t.Cleanup(s.close)
		key := PortalKey{Network: "loop", Chat: "general"}

		t.Run("a portal is saved, found by key and by room, and moved", func(t *testing.T) {
			require.NoError(t, s.upsertPortal(ctx, &Portal{Key: key, MXID: "!a:x", Name: "General"}))
			p, err := s.portalByKey(ctx, key)
			require.NoError(t, err)
			assert.Equal(t, "General", p.Name)
			p.Name = "changed by the caller"
			again, _ := s.portalByKey(ctx, key)
			assert.Equal(t, "General", again.Name, "callers get copies of cached portals")
			require.NoError(t, s.upsertPortal(ctx, &Portal{Key: key, MXID: "!b:x", Name: "General"}))
			old, err := s.portalByRoom(ctx, "!a:x")
			require.NoError(t, err)
			assert.Nil(t, old, "the old room no longer maps to the portal")
			byRoom, err := s.portalByRoom(ctx, "!b:x")
			require.NoError(t, err)
			assert.Equal(t, key, byRoom.Key)
		})

		t.Run("the message map refuses a second copy of a remote ID", func(t *testing.T) {
			m := &Message{Portal: key, RemoteID: "r1", RoomID: "!b:x", EventID: "$1", SenderMXID: "@g:x", Kind: kindMessage, Timestamp: time.UnixMilli(1000)}
			fresh, err := s.insertMessage(ctx, m)
			require.NoError(t, err)
			assert.True(t, fresh)
			dup := *m
			dup.EventID = "$2"
			fresh, err = s.insertMessage(ctx, &dup)
			require.NoError(t, err)
			assert.False(t, fresh)
			got, err := s.messageByRemoteID(ctx, key, "r1")
			require.NoError(t, err)
			assert.Equal(t, "$1", got.EventID.String())
			byEvent, err := s.messageByEventID(ctx, "$1")
			require.NoError(t, err)
			assert.Equal(t, MessageID("r1"), byEvent.RemoteID)
		})

		t.Run("deleting a portal deletes its messages", func(t *testing.T) {
			require.NoError(t, s.deletePortal(ctx, key))
			got, err := s.messageByEventID(ctx, "$1")
			require.NoError(t, err)
			assert.Nil(t, got)
		})

		t.Run("the remote journal keeps order and forgets handled rows", func(t *testing.T) {
			var seqs []int64
			for _, body := range []string{"a", "b", "c"} {
				seq, err := s.journalRemote(ctx, "p", []byte(body))
				require.NoError(t, err)
				seqs = append(seqs, seq)
			}
			require.NoError(t, s.unjournalRemote(ctx, seqs[:1]))
			got, data, err := s.remoteJournal(ctx)
			require.NoError(t, err)
			assert.Equal(t, seqs[1:], got)
			assert.Equal(t, [][]byte{[]byte("b"), []byte("c")}, data)
		})

		t.Run("logins round-trip with their metadata", func(t *testing.T) {
			l := &Login{User: "@a:x", Network: "loop", ID: "w1", RemoteID: "alice", RemoteName: "Alice", Metadata: []byte(`{"k":1}`)}
			require.NoError(t, s.saveLogin(ctx, l))
			all, err := s.logins(ctx)
			require.NoError(t, err)
			require.Len(t, all, 1)
			assert.JSONEq(t, `{"k":1}`, string(all[0].Metadata))
			require.NoError(t, s.deleteLogin(ctx, l))
			all, _ = s.logins(ctx)
			assert.Empty(t, all)
		})

		t.Run("pending invites are listed until answered", func(t *testing.T) {
			require.NoError(t, s.addPendingInvite(ctx, "!dm:x", "@a:x", "@bot:x"))
			inv, err := s.pendingInvites(ctx, "@a:x")
			require.NoError(t, err)
			assert.Len(t, inv, 1)
			require.NoError(t, s.removePendingInvite(ctx, "!dm:x", "@a:x"))
			inv, _ = s.pendingInvites(ctx, "@a:x")
			assert.Empty(t, inv)
		})
	})
}

func TestReactionIDsRoundTripAnyText(t *testing.T) {
	for _, tt := range []struct{ target, sender, key string }{
		{"m1", "alice", "👍"},
		{"a:b\x00c", "with \"quotes\"", "\x00"},
		{"", "", ""},
	} {
		rid := reactionRemoteID(MessageID(tt.target), RemoteUserID(tt.sender), tt.key)
		target, key := splitReactionID(rid)
		assert.Equal(t, MessageID(tt.target), target)
		assert.Equal(t, tt.key, key)
		assert.NotContains(t, string(rid), "\x00", "PostgreSQL text cannot hold NUL")
	}
}
