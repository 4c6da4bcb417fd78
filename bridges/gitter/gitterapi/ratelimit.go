package gitterapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Gitter answers every REST call with X-RateLimit-Limit and
// X-RateLimit-Remaining (gitterHQ/gitter issue 1380, where a maintainer
// shows "X-RateLimit-Limit: 100"); its support put the limit at 100
// requests a minute per user (42wim/matterbridge issue 921). The docs do
// not say how X-RateLimit-Reset is written, so it is read leniently, and a
// 429 without timing headers falls back to exponential backoff.
const (
	headerRemaining = "X-RateLimit-Remaining"
	headerReset     = "X-RateLimit-Reset"
)

// rateLimiter holds back calls while the server says the budget is spent.
// One per Client: the budget belongs to the token.
type rateLimiter struct {
	mu sync.Mutex
	// until is when calls may go again; zero or past = now.
	until time.Time
}

func newRateLimiter() rateLimiter { return rateLimiter{} }

// wait blocks until the limiter allows a call or ctx ends.
func (r *rateLimiter) wait(ctx context.Context) error {
	if d := r.blockedFor(time.Now()); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

func (r *rateLimiter) blockedFor(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.until.Sub(now)
}

// observe reads the rate-limit headers of one response. A spent budget
// (remaining 0) with a known reset, or a 429 with Retry-After or a reset,
// blocks further calls until then.
func (r *rateLimiter) observe(h http.Header, status int, now time.Time) {
	reset, haveReset := parseReset(h.Get(headerReset), now)
	var until time.Time
	if status == http.StatusTooManyRequests {
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err == nil && ra >= 0 {
			until = now.Add(time.Duration(ra) * time.Second)
		} else if haveReset {
			until = reset
		}
	} else if rem, err := strconv.Atoi(h.Get(headerRemaining)); err == nil && rem <= 0 && haveReset {
		until = reset
	}
	// Never trust a header to stall us for long: cap at the documented
	// one-minute window plus slack.
	if ceiling := now.Add(2 * time.Minute); until.After(ceiling) {
		until = ceiling
	}
	r.mu.Lock()
	if until.After(r.until) {
		r.until = until
	}
	r.mu.Unlock()
}

// parseReset reads X-RateLimit-Reset as Unix milliseconds, Unix seconds or
// seconds from now, whichever the magnitude says it is.
func parseReset(v string, now time.Time) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	switch {
	case n > 1e12:
		return time.UnixMilli(n), true
	case n > 1e9:
		return time.Unix(n, 0), true
	default:
		return now.Add(time.Duration(n) * time.Second), true
	}
}
