package irc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestReconnectBackoff checks the delays between reconnects with the
// random draw given: they double from backoffBase, stop growing at five
// minutes, and spread ±25 % around that so that puppets dropped together
// do not come back together.
func TestReconnectBackoff(t *testing.T) {
	const lowest, highest = 0.0, 0.999999 // the range of rand.Float64
	around := func(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

	t.Run("the first retry waits the base delay, within the jitter", func(t *testing.T) {
		assert.Equal(t, around(backoffBase, 0.75), jittered(1, lowest))
		assert.Equal(t, backoffBase, jittered(1, 0.5))
		assert.InDelta(t, float64(around(backoffBase, 1.25)), float64(jittered(1, highest)), float64(time.Microsecond))
	})

	t.Run("each failure doubles the delay until the cap", func(t *testing.T) {
		d := backoffBase
		for failures := 1; d < maxBackoff; failures++ {
			assert.Equal(t, d, jittered(failures, 0.5), "failure %d", failures)
			if d*2 < maxBackoff {
				// Even the luckiest draw of one step waits less than the
				// unluckiest of the next: the jitter never undoes growth.
				assert.Less(t, jittered(failures, highest), jittered(failures+1, lowest), "failure %d", failures)
			}
			d *= 2
		}
	})

	t.Run("the delay stops at five minutes, however many failures", func(t *testing.T) {
		for _, failures := range []int{13, 14, 40, 1000, 1 << 30} {
			assert.Equal(t, maxBackoff, jittered(failures, 0.5), "failure %d", failures)
			assert.Equal(t, around(maxBackoff, 0.75), jittered(failures, lowest), "failure %d", failures)
			assert.LessOrEqual(t, jittered(failures, highest), around(maxBackoff, 1.25), "failure %d", failures)
		}
		assert.Equal(t, 5*time.Minute, maxBackoff)
	})

	t.Run("the random delay stays within the jitter bounds", func(t *testing.T) {
		for failures := 1; failures <= 20; failures++ {
			mid := jittered(failures, 0.5)
			for range 200 {
				d := backoff(failures)
				assert.GreaterOrEqual(t, d, around(mid, 0.75), "failure %d", failures)
				assert.Less(t, d, around(mid, 1.25), "failure %d", failures)
			}
		}
	})
}
