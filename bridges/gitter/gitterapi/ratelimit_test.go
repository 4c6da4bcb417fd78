package gitterapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseReset(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		in   string
		want time.Time
		ok   bool
	}{
		{"unix milliseconds are read as such", "1704164705500", time.UnixMilli(1704164705500), true},
		{"unix seconds are read as such", "1704164765", time.Unix(1704164765, 0), true},
		{"small numbers are seconds from now", "30", now.Add(30 * time.Second), true},
		{"a missing header is unknown", "", time.Time{}, false},
		{"a negative value is unknown", "-5", time.Time{}, false},
		{"text is unknown", "soon", time.Time{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseReset(tc.in, now)
			assert.Equal(t, tc.ok, ok)
			assert.True(t, tc.want.Equal(got), "got %v want %v", got, tc.want)
		})
	}
}

func TestRateLimiterObserve(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name    string
		header  http.Header
		status  int
		blocked time.Duration
	}{
		{"budget left means no wait", hdr("X-RateLimit-Remaining", "5", "X-RateLimit-Reset", "20"), 200, 0},
		{"spent budget waits until the reset", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "20"), 200, 20 * time.Second},
		{"spent budget without reset does not guess", hdr("X-RateLimit-Remaining", "0"), 200, 0},
		{"429 honours Retry-After", hdr("Retry-After", "7"), 429, 7 * time.Second},
		{"429 falls back to the reset", hdr("X-RateLimit-Reset", "9"), 429, 9 * time.Second},
		{"an absurd reset is capped at two minutes", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "86400"), 200, 2 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateLimiter()
			r.observe(tc.header, tc.status, now)
			got := max(r.blockedFor(now), 0)
			assert.Equal(t, tc.blocked, got)
		})
	}
}
