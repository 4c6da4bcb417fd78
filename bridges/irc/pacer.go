package irc

import (
	"context"
	"math"
	"sync"
	"time"
)

// tokenBucket allows rate events per second after a burst. Waiters
// reserve their token first and sleep after, so they are served in the
// order they asked and a waiter that gives up returns its token.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), now: time.Now}
}

// reserve takes a token and returns how long to wait before using it.
// The balance may go negative: that is the queue of waiters.
func (b *tokenBucket) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// tryTake takes a token only if one is there now.
func (b *tokenBucket) tryTake() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refill adds the tokens earned since the last call. Call with mu held.
func (b *tokenBucket) refill() {
	now := b.now()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
}

// cancel returns a reserved token that was not used.
func (b *tokenBucket) cancel() {
	b.mu.Lock()
	b.tokens = math.Min(b.burst, b.tokens+1)
	b.mu.Unlock()
}

// wait blocks until a token is available or ctx ends.
func (b *tokenBucket) wait(ctx context.Context) error {
	d := b.reserve()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.cancel()
		return ctx.Err()
	}
}

// pacer paces the connections one network opens: at most perSecond new
// connects per second and inFlight registrations at once. Without it a
// restart of the bridge or of the IRC server makes every puppet reconnect
// in the same second, which servers answer with throttling or K-lines.
type pacer struct {
	bucket *tokenBucket
	slots  chan struct{}
}

func newPacer(perSecond float64, inFlight int) *pacer {
	return &pacer{
		bucket: newTokenBucket(perSecond, max(1, int(perSecond))),
		slots:  make(chan struct{}, inFlight),
	}
}

// acquire waits for a slot and a token; call release once the connection
// is registered or has failed.
func (p *pacer) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := p.bucket.wait(ctx); err != nil {
		<-p.slots
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { <-p.slots }) }, nil
}
