package fakehs

import (
	"syscall"
	"testing"
	"time"
)

// WaitSent waits until the server has n message events, and fails tb when
// five minutes pass first.
func (s *Server) WaitSent(tb testing.TB, n int64) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for s.Sent() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d messages reached the homeserver", s.Sent(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// CPUTime is this process's CPU time, user and system. Benchmarks report
// CPU per message as its growth over a run divided by the messages.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
