package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
		{"no answer at all is an outage", mautrix.HTTPError{WrappedError: syscall.ECONNREFUSED}, true},
		{"a refused connection is an outage", fmt.Errorf("send: %w", syscall.ECONNREFUSED), true},
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
