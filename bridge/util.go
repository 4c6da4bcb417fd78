package bridge

import (
	"errors"
	"time"
)

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// timeOr returns t, or the Matrix timestamp (ms) when t is zero.
func timeOr(t time.Time, ms int64) time.Time {
	if !t.IsZero() {
		return t
	}
	if ms == 0 {
		return time.Now()
	}
	return time.UnixMilli(ms)
}
