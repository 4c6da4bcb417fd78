package irc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the token bucket.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestTokenBucket(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	newBucket := func(rate float64, burst int) *tokenBucket {
		b := newTokenBucket(rate, burst)
		b.now = clock.Now
		return b
	}

	t.Run("a full bucket lets the burst through at once", func(t *testing.T) {
		b := newBucket(2, 3)
		for range 3 {
			assert.Zero(t, b.reserve())
		}
	})

	t.Run("waiters past the burst are spaced by the rate, in order", func(t *testing.T) {
		b := newBucket(2, 1)
		assert.Zero(t, b.reserve())
		assert.Equal(t, 500*time.Millisecond, b.reserve())
		assert.Equal(t, time.Second, b.reserve())
	})

	t.Run("time refills the bucket up to the burst, not beyond", func(t *testing.T) {
		b := newBucket(10, 2)
		b.reserve()
		b.reserve()
		clock.Advance(time.Hour)
		assert.Zero(t, b.reserve())
		assert.Zero(t, b.reserve())
		assert.Equal(t, 100*time.Millisecond, b.reserve())
	})

	t.Run("a waiter that gives up returns its token", func(t *testing.T) {
		b := newBucket(1, 1)
		b.reserve()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.ErrorIs(t, b.wait(ctx), context.Canceled)
		assert.Equal(t, time.Second, b.reserve(), "the cancelled token is back, so the next waits one period only")
	})
}

func TestPacer(t *testing.T) {
	t.Run("no more than the in-flight limit register at once", func(t *testing.T) {
		p := newPacer(1000, 2)
		ctx := context.Background()
		r1, err := p.acquire(ctx)
		require.NoError(t, err)
		r2, err := p.acquire(ctx)
		require.NoError(t, err)
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = p.acquire(short)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "a third waits for a slot")
		r1()
		r1() // releasing twice is harmless
		r3, err := p.acquire(ctx)
		require.NoError(t, err)
		r2()
		r3()
	})

	t.Run("connects are spaced by the rate", func(t *testing.T) {
		p := newPacer(20, 100)
		start := time.Now()
		for range 30 {
			release, err := p.acquire(context.Background())
			require.NoError(t, err)
			release()
		}
		// 20 in the first instant (the burst), then 10 more at 20/s.
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 450*time.Millisecond)
		assert.Less(t, elapsed, 2*time.Second)
	})
}
