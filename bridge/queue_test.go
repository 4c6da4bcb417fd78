package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
)

func TestKeyedQueueKeepsOrderPerKeyAndRunsKeysInParallel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string][]int{}
	var running, peak atomic.Int32
	type item struct {
		key string
		n   int
	}
	q := newKeyedQueue(ctx, 8, 0, func(_ context.Context, it item) {
		r := running.Add(1)
		for {
			p := peak.Load()
			if r <= p || peak.CompareAndSwap(p, r) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		got[it.key] = append(got[it.key], it.n)
		mu.Unlock()
		running.Add(-1)
	})
	const keys, per = 16, 20
	for n := 0; n < per; n++ {
		for k := 0; k < keys; k++ {
			q.push(fmt.Sprint(k), item{key: fmt.Sprint(k), n: n})
		}
	}
	require.Eventually(t, func() bool { return q.len() == 0 }, 10*time.Second, 5*time.Millisecond)
	for k := 0; k < keys; k++ {
		seq := got[fmt.Sprint(k)]
		require.Len(t, seq, per)
		for i, n := range seq {
			assert.Equal(t, i, n, "key %d out of order", k)
		}
	}
	assert.Greater(t, peak.Load(), int32(1), "different keys should run concurrently")
	assert.LessOrEqual(t, peak.Load(), int32(8), "no more than the worker limit at once")
}

func TestKeyedQueueBlocksThePusherWhenFull(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	q := newKeyedQueue(ctx, 1, 2, func(_ context.Context, _ int) { <-release })
	q.push("a", 1)
	q.push("a", 2)
	pushed := make(chan struct{})
	go func() {
		q.push("a", 3)
		close(pushed)
	}()
	select {
	case <-pushed:
		t.Fatal("push returned while the backlog was full")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-pushed:
	case <-time.After(5 * time.Second):
		t.Fatal("push never returned after the backlog drained")
	}
}

func TestHomeserverDownTellsOutagesFromRefusals(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	tests := []struct {
		name string
		err  error
		down bool
	}{
		{"a homeserver that does not answer is an outage", mautrix.HTTPError{WrappedError: hsUnreachable{syscall.ECONNREFUSED}}, true},
		{"a dead attachment URL is not an outage", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/x.png", Err: syscall.ECONNREFUSED}, false},
		{"a 502 is an outage", mautrix.HTTPError{Response: resp(502)}, true},
		{"rate limiting is waited out", mautrix.HTTPError{Response: resp(429)}, true},
		{"a 403 is a refusal", mautrix.HTTPError{Response: resp(403), RespError: &mautrix.RespError{ErrCode: "M_FORBIDDEN"}}, false},
		{"a plain error is not an outage", errors.New("bad content"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.down, homeserverDown(fmt.Errorf("wrapped: %w", tt.err)))
		})
	}
}

func TestKeyedQueueReserveGivesUpWithTheCallersContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := make(chan struct{})
	defer close(block)
	q := newKeyedQueue(ctx, 1, 1, func(_ context.Context, _ int) { <-block })
	q.push("a", 1)
	callerCtx, callerCancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer callerCancel()
	err := q.reserve(callerCtx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a full backlog must not hold a stopping adapter for ever")
	assert.Equal(t, 1, q.len(), "nothing was reserved")
}

func TestKeyedQueueRefusesWorkOnceStopping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	q := newKeyedQueue(ctx, 2, 10, func(context.Context, int) {})
	cancel()
	done := make(chan struct{})
	go func() {
		// Producers racing with shutdown must get an error, never start a
		// goroutine the shutdown is not waiting for.
		for i := 0; i < 1000; i++ {
			if err := q.reserve(context.Background()); err == nil {
				q.pushReserved("k", i)
			}
		}
		close(done)
	}()
	q.wait()
	<-done
	assert.ErrorIs(t, q.reserve(context.Background()), errQueueClosed)
}
