package appservice

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestHandlerFailures(t *testing.T) {
	errFlaky := errors.New("remote hiccup")
	cases := []struct {
		name string
		// fail decides the result of attempt n (1-based) on $a-1.
		fail         func(n int) error
		wantAttempts int
		wantHandled  bool
	}{
		{"an event that fails twice is retried and handled once", func(n int) error {
			if n <= 2 {
				return errFlaky
			}
			return nil
		}, 3, true},
		{"an event that always fails is tried MaxAttempts times, then reported", func(int) error { return errFlaky }, 4, false},
		{"a permanent error is reported without retrying", func(int) error { return fmt.Errorf("not bridged: %w", ErrPermanent) }, 1, false},
		{"a panicking handler is retried like a failing one", func(n int) error {
			if n == 1 {
				panic("boom")
			}
			return nil
		}, 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var attempts atomic.Int32
			bHandled := make(chan struct{})
			rec := &recorder{}
			rec.handle = func(_ context.Context, evt *event.Event) error {
				if evt.ID != "$a-1" {
					return nil
				}
				n := int(attempts.Add(1))
				if n == 2 {
					// Room b is not held up by room a's retries.
					select {
					case <-bHandled:
					case <-time.After(waitTime):
						t.Error("room b was not handled while room a retried")
					}
				}
				return c.fail(n)
			}
			srv := newServer(t, sqliteDB(t), rec, withMaxAttempts(4), withRetry(20*time.Millisecond, 50*time.Millisecond))
			require.Equal(t, 200, put(srv, "t1", txnJSON(t, msg("a", 1), msg("a", 2), msg("b", 1))).Code)
			require.Eventually(t, func() bool { return len(rec.handledIn(roomID("b"))) == 1 }, waitTime, tick)
			close(bHandled)
			require.Eventually(t, func() bool { return srv.Stats().Backlog == 0 }, waitTime, tick)

			assert.EqualValues(t, c.wantAttempts, attempts.Load())
			want := []string{eventID("a", 2)}
			if c.wantHandled {
				want = seqIDs("a", 1, 2)
				assert.Empty(t, rec.failures())
			} else {
				f := rec.failures()
				require.Len(t, f, 1)
				assert.Equal(t, id.EventID("$a-1"), f[0].evt.ID)
				assert.Error(t, f[0].err)
			}
			assert.Equal(t, want, rec.handledIn(roomID("a")), "the room's next event waits for the failing one")
		})
	}
}

func TestEventsThatDoNotParse(t *testing.T) {
	rec := &recorder{}
	srv := newServer(t, sqliteDB(t), rec)
	bad := msg("a", 1)
	bad["content"] = map[string]any{"msgtype": "m.text", "body": 5}
	badTS := msg("a", 2)
	badTS["origin_server_ts"] = "yesterday"
	unknown := msg("a", 3)
	unknown["type"] = "com.example.custom"
	noRoom := msg("a", 4)
	delete(noRoom, "room_id")
	require.Equal(t, 200, put(srv, "t1", txnJSON(t, bad, badTS, unknown, noRoom, msg("a", 5))).Code)
	require.Eventually(t, func() bool { return srv.Stats().Backlog == 0 }, waitTime, tick)

	t.Run("content that does not fit its type is reported as permanent", func(t *testing.T) {
		f := rec.failures()
		require.Len(t, f, 2)
		assert.Equal(t, id.EventID("$a-1"), f[0].evt.ID)
		assert.ErrorIs(t, f[0].err, ErrPermanent)
	})
	t.Run("an event that does not decode is reported with its room, ID and type", func(t *testing.T) {
		f := rec.failures()
		require.Len(t, f, 2)
		assert.Equal(t, id.EventID("$a-2"), f[1].evt.ID)
		assert.Equal(t, roomID("a"), f[1].evt.RoomID)
		assert.Equal(t, "m.room.message", f[1].evt.Type.Type)
		assert.ErrorIs(t, f[1].err, ErrPermanent)
	})
	t.Run("unknown types, events without a room and later events are still handled", func(t *testing.T) {
		assert.ElementsMatch(t, []string{"$a-3", "$a-4", "$a-5"}, rec.handledIDs())
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, evt := range rec.handled {
			if evt.ID == "$a-3" {
				assert.Equal(t, "com.example.custom", evt.Type.Type)
				assert.NotEmpty(t, evt.Content.Raw)
			}
			if evt.ID == "$a-5" {
				assert.Equal(t, "hello 5", evt.Content.AsMessage().Body)
				assert.Equal(t, event.MessageEventType, evt.Type.Class)
			}
		}
	})
}

func TestPerRoomOrderUnderConcurrency(t *testing.T) {
	for _, senders := range []int{1, 4} {
		t.Run(fmt.Sprintf("with %d homeserver connections sending at once each room keeps its order", senders), func(t *testing.T) {
			testPerRoomOrder(t, senders)
		})
	}
}

// testPerRoomOrder sends 40 rooms × 50 events, interleaved, in transactions
// of 100, from several goroutines (each owning some rooms), through 8
// workers with handlers of random duration, and checks every room's order.
func testPerRoomOrder(t *testing.T, senders int) {
	const rooms, perRoom, perTxn, workers = 40, 50, 100, 8
	var (
		mu       sync.Mutex
		running  = map[id.RoomID]bool{}
		inFlight atomic.Int32
		maxSeen  atomic.Int32
	)
	rec := &recorder{handle: func(_ context.Context, evt *event.Event) error {
		mu.Lock()
		if running[evt.RoomID] {
			t.Errorf("room %s runs on two workers at once", evt.RoomID)
		}
		running[evt.RoomID] = true
		mu.Unlock()

		cur := inFlight.Add(1)
		for old := maxSeen.Load(); cur > old && !maxSeen.CompareAndSwap(old, cur); old = maxSeen.Load() {
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		inFlight.Add(-1)

		mu.Lock()
		running[evt.RoomID] = false
		mu.Unlock()
		return nil
	}}
	srv := newServer(t, sqliteDB(t), rec, withWorkers(workers))

	var wg sync.WaitGroup
	for sender := range senders {
		wg.Go(func() {
			var evts []map[string]any
			for n := 1; n <= perRoom; n++ {
				for r := sender; r < rooms; r += senders {
					evts = append(evts, msg(fmt.Sprintf("r%02d", r), n))
				}
			}
			for i := 0; i < len(evts); i += perTxn {
				txn := txnJSON(t, evts[i:min(i+perTxn, len(evts))]...)
				assert.Equal(t, 200, put(srv, fmt.Sprintf("s%d-t%d", sender, i), txn).Code)
			}
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return len(rec.handledIDs()) == rooms*perRoom }, waitTime, tick)

	for r := range rooms {
		room := fmt.Sprintf("r%02d", r)
		assert.Equal(t, seqIDs(room, 1, perRoom), rec.handledIn(roomID(room)), "room %s in order", room)
	}
	assert.Greater(t, maxSeen.Load(), int32(1), "different rooms ran in parallel")
	assert.LessOrEqual(t, maxSeen.Load(), int32(workers), "no more than Workers at once")
}

func TestBackpressure(t *testing.T) {
	gate := make(chan struct{})
	rec := &recorder{handle: func(ctx context.Context, evt *event.Event) error {
		if evt.RoomID == roomID("slow") {
			<-gate
		}
		return nil
	}}
	srv := newServer(t, sqliteDB(t), rec, withMaxBacklog(3))

	require.Equal(t, 200, put(srv, "t1", txnJSON(t, msg("slow", 1), msg("slow", 2), msg("slow", 3))).Code)
	require.Equal(t, 3, srv.Stats().Backlog)

	t.Run("a transaction that does not fit is held until the backlog has room", func(t *testing.T) {
		answered := make(chan int, 1)
		go func() { answered <- put(srv, "t2", txnJSON(t, msg("fast", 1))).Code }()
		require.Eventually(t, func() bool { return srv.Stats().HeldTransactions == 1 }, waitTime, tick)
		select {
		case code := <-answered:
			t.Fatalf("answered %d while the backlog was full", code)
		case <-time.After(50 * time.Millisecond):
		}
		gate <- struct{}{} // one slow event finishes
		assert.Equal(t, 200, <-answered)
		require.Eventually(t, func() bool { return len(rec.handledIn(roomID("fast"))) == 1 }, waitTime, tick)
	})
	t.Run("a held transaction whose request is cancelled is 503 and not stored", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		req := newPut(ctx, "t3", txnJSON(t, msg("fast", 2), msg("fast", 3)))
		answered := make(chan int, 1)
		go func() { answered <- serve(srv, req).Code }()
		require.Eventually(t, func() bool { return srv.Stats().HeldTransactions == 1 }, waitTime, tick)
		cancel()
		assert.Equal(t, http.StatusServiceUnavailable, <-answered)
		var n int
		require.NoError(t, srv.db.QueryRow(context.Background(), "SELECT COUNT(*) FROM appservice_txn WHERE txn_id='t3'").Scan(&n))
		assert.Zero(t, n)
	})
	close(gate)
	require.Eventually(t, func() bool { return srv.Stats().Backlog == 0 }, waitTime, tick)
	t.Run("a transaction larger than the whole backlog is accepted when it is empty", func(t *testing.T) {
		res := put(srv, "t4", txnJSON(t, msg("big", 1), msg("big", 2), msg("big", 3), msg("big", 4), msg("big", 5)))
		assert.Equal(t, 200, res.Code)
		require.Eventually(t, func() bool { return len(rec.handledIn(roomID("big"))) == 5 }, waitTime, tick)
	})
}

func TestEphemeralAndDeviceFields(t *testing.T) {
	rec := &recorder{}
	srv := newServer(t, sqliteDB(t), rec)
	typing := `{"type":"m.typing","room_id":"!a:example.org","content":{"user_ids":["@alice:example.org"]}}`
	receipt := `{"type":"m.receipt","room_id":"!a:example.org","content":{"$a-1":{"m.read":{"@alice:example.org":{"ts":1}}}}}`
	presence := `{"type":"m.presence","sender":"@alice:example.org","content":{"presence":"online"}}`
	cases := []struct {
		name     string
		body     string
		wantEDUs []string
	}{
		{"ephemeral events under the stable key are delivered",
			`{"events":[],"ephemeral":[` + typing + `,` + presence + `]}`, []string{"m.typing", "m.presence"}},
		{"ephemeral events under the MSC2409 key are delivered",
			`{"events":[],"de.sorunome.msc2409.ephemeral":[` + receipt + `]}`, []string{"m.receipt"}},
		{"to-device and device-list fields do not break a transaction",
			`{"events":[` + mustJSON(t, msg("a", 1)) + `],
			  "to_device":[{"type":"m.room_key_request","sender":"@a:b","to_user_id":"@c:d","to_device_id":"X","content":{}}],
			  "de.sorunome.msc2409.to_device":[],
			  "device_lists":{"changed":["@a:b"],"left":[]},
			  "org.matrix.msc3202.device_lists":{"changed":[]},
			  "device_one_time_keys_count":{"@a:b":{"DEV":{"signed_curve25519":50}}},
			  "org.matrix.msc3202.device_one_time_keys_count":{},
			  "device_unused_fallback_key_types":{"@a:b":{"DEV":["signed_curve25519"]}},
			  "org.matrix.msc3202.device_unused_fallback_key_types":{}}`, nil},
		{"oddly shaped optional fields are ignored",
			`{"events":[],"to_device":"surprise","device_lists":[1,2],"ephemeral":{"not":"a list"}}`, nil},
		{"ephemeral entries that do not parse are skipped, the rest delivered",
			`{"events":[],"ephemeral":[5,{"content":{}},` + typing + `]}`, []string{"m.typing"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(rec.ephemerals())
			res := put(srv, fmt.Sprintf("e%d", i), []byte(c.body))
			require.Equal(t, 200, res.Code, "body %s", res.Body)
			var got []string
			for _, evt := range rec.ephemerals()[before:] {
				got = append(got, evt.Type.Type)
				assert.Equal(t, event.EphemeralEventType, evt.Type.Class)
			}
			assert.Equal(t, c.wantEDUs, got)
		})
	}
	t.Run("the timeline event next to them is handled", func(t *testing.T) {
		require.Eventually(t, func() bool { return len(rec.handledIDs()) == 1 }, waitTime, tick)
	})
	t.Run("a typing event's content is parsed", func(t *testing.T) {
		evt := rec.ephemerals()[0]
		assert.Equal(t, []id.UserID{"@alice:example.org"}, evt.Content.AsTyping().UserIDs)
	})
}
