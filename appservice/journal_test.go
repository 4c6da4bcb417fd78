package appservice

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

const (
	waitTime = 30 * time.Second
	tick     = time.Millisecond
)

func upgradedJournal(t *testing.T, db *dbutil.Database) *journal {
	t.Helper()
	child := db.Child(versionTable, upgradeTable, nil)
	require.NoError(t, child.Upgrade(context.Background()))
	return &journal{db: child}
}

func testItems(room string, n int) []*item {
	items := make([]*item, n)
	for i := range items {
		items[i] = &item{roomID: roomID(room), eventID: id.EventID("$" + room), evtType: "m.room.message", raw: `{"type":"m.room.message"}`}
	}
	return items
}

func TestJournal(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		j := upgradedJournal(t, db)

		first, second := testItems("a", 3), testItems("b", 2)
		dup, err := j.insert(ctx, "t1", first)
		require.NoError(t, err)
		require.False(t, dup)
		dup, err = j.insert(ctx, "t2", second)
		require.NoError(t, err)
		require.False(t, dup)

		t.Run("a transaction's events get consecutive keys after the previous one's", func(t *testing.T) {
			for i, it := range first {
				assert.Equal(t, first[0].key.txnSeq, it.key.txnSeq)
				assert.Equal(t, i, it.key.idx)
			}
			assert.Greater(t, second[0].key.txnSeq, first[0].key.txnSeq)
		})
		t.Run("a known transaction ID is a duplicate and writes nothing", func(t *testing.T) {
			dup, err := j.insert(ctx, "t1", testItems("c", 4))
			require.NoError(t, err)
			assert.True(t, dup)
			assert.Equal(t, 5, countRows(t, db, "appservice_journal"))
		})
		t.Run("unfinished events come back in order of arrival with their data", func(t *testing.T) {
			items, err := j.unfinished(ctx)
			require.NoError(t, err)
			require.Len(t, items, 5)
			for i, it := range items {
				want := append(first, second...)[i]
				assert.Equal(t, want.key, it.key)
				assert.Equal(t, want.roomID, it.roomID)
				assert.Equal(t, want.raw, it.raw)
			}
		})
		t.Run("attempt counts survive in the journal", func(t *testing.T) {
			require.NoError(t, j.setAttempts(ctx, first[1].key, 3))
			items, err := j.unfinished(ctx)
			require.NoError(t, err)
			assert.Equal(t, []int{0, 3, 0, 0, 0}, attempts(items))
		})
		t.Run("deleting keys of several transactions removes just those rows", func(t *testing.T) {
			require.NoError(t, j.delete(ctx, []journalKey{second[1].key, first[0].key, first[2].key}))
			items, err := j.unfinished(ctx)
			require.NoError(t, err)
			require.Len(t, items, 2)
			assert.Equal(t, first[1].key, items[0].key)
			assert.Equal(t, second[0].key, items[1].key)
		})
		t.Run("pruning forgets only old transaction IDs", func(t *testing.T) {
			_, err := db.Exec(ctx, "UPDATE appservice_txn SET received_at=$1 WHERE txn_id='t1'", time.Now().Add(-8*24*time.Hour).UnixMilli())
			require.NoError(t, err)
			n, err := j.pruneTxns(ctx, time.Now().Add(-txnRetention))
			require.NoError(t, err)
			assert.EqualValues(t, 1, n)
			assert.Equal(t, 1, countRows(t, db, "appservice_txn"))
			assert.Equal(t, 2, countRows(t, db, "appservice_journal"), "journal rows outlive their transaction ID")
		})
		t.Run("transaction sequence numbers keep growing after the newest ID was pruned", func(t *testing.T) {
			_, err := db.Exec(ctx, "DELETE FROM appservice_txn")
			require.NoError(t, err)
			items := testItems("d", 1)
			_, err = j.insert(ctx, "t3", items)
			require.NoError(t, err)
			assert.Greater(t, items[0].key.txnSeq, second[0].key.txnSeq)
		})
		t.Run("a large transaction is written in chunks", func(t *testing.T) {
			items := testItems("e", insertChunk*2+5)
			_, err := j.insert(ctx, "big", items)
			require.NoError(t, err)
			all, err := j.unfinished(ctx)
			require.NoError(t, err)
			assert.Len(t, all, 3+len(items))
			keys := make([]journalKey, len(items))
			for i, it := range items {
				keys[i] = it.key
			}
			require.NoError(t, j.delete(ctx, keys))
			assert.Equal(t, 3, countRows(t, db, "appservice_journal"))
		})
	})
}

func attempts(items []*item) []int {
	out := make([]int, len(items))
	for i, it := range items {
		out[i] = it.attempts
	}
	return out
}

func TestDeleteQueryGroupsKeysByTransaction(t *testing.T) {
	got := deleteQuery([]journalKey{{1, 0}, {1, 2}, {4, 7}})
	assert.Equal(t, "DELETE FROM appservice_journal WHERE (txn_seq = 1 AND idx IN (0,2)) OR (txn_seq = 4 AND idx IN (7))", got)
}

func TestDuplicateTransactions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		rec := &recorder{}
		srv := newServer(t, db, rec)
		body := txnJSON(t, msg("a", 1), msg("a", 2))

		t.Run("a repeated transaction ID is answered 200 and handled once", func(t *testing.T) {
			require.Equal(t, 200, put(srv, "t1", body).Code)
			require.Equal(t, 200, put(srv, "t1", body).Code)
			require.Eventually(t, func() bool { return srv.Stats().Backlog == 0 }, waitTime, tick)
			assert.Equal(t, seqIDs("a", 1, 2), rec.handledIDs())
		})
		require.NoError(t, srv.Stop(context.Background()))

		rec2 := &recorder{}
		srv2 := newServer(t, db, rec2)
		t.Run("after a restart the same ID is still recognised", func(t *testing.T) {
			require.Equal(t, 200, put(srv2, "t1", body).Code)
			assert.Zero(t, srv2.Stats().Backlog)
			require.Equal(t, 200, put(srv2, "t2", txnJSON(t, msg("a", 3))).Code)
			require.Eventually(t, func() bool { return len(rec2.handledIDs()) >= 1 }, waitTime, tick)
			require.Eventually(t, func() bool { return countRows(t, db, "appservice_journal") == 0 }, waitTime, tick)
			assert.Equal(t, []string{eventID("a", 3)}, rec2.handledIDs())
		})
	})
}

func TestReplayAfterStop(t *testing.T) {
	cases := []struct {
		name string
		// stopWait is how long Stop may wait for the blocked handler.
		stopWait time.Duration
		// release lets the blocked handler finish while Stop waits.
		release bool
		want    []string
	}{
		{"a handler that finishes during Stop is not replayed, the rest is", waitTime, true, seqIDs("a", 3, 5)},
		{"a handler cut off by Stop's deadline is replayed with the rest", 50 * time.Millisecond, false, seqIDs("a", 2, 5)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
				entered := make(chan struct{})
				gate := make(chan struct{})
				rec := &recorder{handle: func(ctx context.Context, evt *event.Event) error {
					if evt.ID == "$a-2" {
						close(entered)
						select {
						case <-gate:
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					return nil
				}}
				srv := newServer(t, db, rec)
				require.Equal(t, 200, put(srv, "t1", txnJSON(t, msg("a", 1), msg("a", 2), msg("b", 1))).Code)
				require.Equal(t, 200, put(srv, "t2", txnJSON(t, msg("a", 3), msg("a", 4), msg("b", 2), msg("a", 5))).Code)
				<-entered
				require.Eventually(t, func() bool { return len(rec.handledIn(roomID("b"))) == 2 }, waitTime, tick)

				stopped := make(chan error, 1)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), c.stopWait)
					defer cancel()
					stopped <- srv.Stop(ctx)
				}()
				require.Eventually(t, func() bool { return isClosed(srv) }, waitTime, tick)
				if c.release {
					close(gate)
					require.NoError(t, <-stopped)
				} else {
					require.Error(t, <-stopped)
				}

				rec2 := &recorder{}
				newServer(t, db, rec2)
				require.Eventually(t, func() bool { return len(rec2.handledIDs()) == len(c.want) }, waitTime, tick)
				assert.Equal(t, c.want, rec2.handledIDs())
				require.Eventually(t, func() bool { return countRows(t, db, "appservice_journal") == 0 }, waitTime, tick)
				assert.Empty(t, rec2.handledIn(roomID("b")), "handled events are not replayed")
			})
		})
	}
}

func isClosed(srv *Server) bool {
	srv.disp.mu.Lock()
	defer srv.disp.mu.Unlock()
	return srv.disp.closed
}

func TestReplayKeepsAttemptCounts(t *testing.T) {
	db := sqliteDB(t)
	var calls atomic.Int32
	failing := func(context.Context, *event.Event) error {
		calls.Add(1)
		return errors.New("remote is down")
	}
	srv := newServer(t, db, &recorder{handle: failing}, withMaxAttempts(4), withRetry(time.Hour, time.Hour))
	require.Equal(t, 200, put(srv, "t1", txnJSON(t, msg("a", 1))).Code)
	require.Eventually(t, func() bool { return srv.Stats().Retrying == 1 }, waitTime, tick)
	require.NoError(t, srv.Stop(context.Background()))
	require.EqualValues(t, 1, calls.Load())

	rec := &recorder{handle: failing}
	srv2 := newServer(t, db, rec, withMaxAttempts(4))
	require.Eventually(t, func() bool { return len(rec.failures()) == 1 }, waitTime, tick)
	assert.EqualValues(t, 4, calls.Load(), "the attempt before the restart counts")
	require.Eventually(t, func() bool { return countRows(t, db, "appservice_journal") == 0 }, waitTime, tick)
	assert.Zero(t, srv2.Stats().Backlog)
}
