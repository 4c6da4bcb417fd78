package irc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// connector keeps one connection up: it dials through the network's
// pacer, reads on its own goroutine (the only one a connection has), and
// after a failure backs off with jitter so that a restarted server is not
// hit by every puppet in the same second. Errors that retrying cannot fix
// (a K-line, a wrong server password) stop it until start is called again.
type connector struct {
	net *Network
	who string // for logs: "bot" or the Matrix user
	// config builds a fresh config per attempt (the nick may have changed).
	config func() *connConfig
	// onUp runs on the connection's goroutine once it is registered,
	// before waiters are woken; onDown after it ended (err is ErrClosed
	// when we closed it), or with a nil connection after a permanent
	// failure to connect.
	onUp   func(c *Conn)
	onDown func(c *Conn, err error)
	// onRetry, when set, runs after a failure to connect that will be
	// retried in wait.
	onRetry func(err error, failures int, wait time.Duration)

	mu      sync.Mutex
	conn    *Conn
	lastErr error
	fatal   error  // a permanent failure; cleared by wait
	reason  string // the QUIT message when stopped
	cancel  context.CancelFunc
	exited  chan struct{} // closed when the running loop returns
	changed chan struct{} // closed and replaced on every change
}

func newConnector(n *Network, who string) *connector {
	return &connector{net: n, who: who, changed: make(chan struct{})}
}

// permanent says whether retrying cannot help.
func permanent(err error) bool {
	return errors.Is(err, ErrBanned) || errors.Is(err, ErrBadPassword)
}

// start runs the loop unless it runs already or failed for good. It does
// not wait.
func (k *connector) start() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel != nil || k.fatal != nil {
		return
	}
	ctx, cancel := context.WithCancel(k.net.ctx)
	k.cancel, k.exited = cancel, make(chan struct{})
	k.net.wg.Add(1)
	go k.loop(ctx, k.exited)
}

// running reports whether the loop runs (connected or trying to).
func (k *connector) running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cancel != nil
}

// stop quits with reason and waits for the loop to end.
func (k *connector) stop(reason string) {
	k.mu.Lock()
	cancel, exited := k.cancel, k.exited
	k.reason = reason
	k.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-exited
}

// current returns the connection when it is up.
func (k *connector) current() *Conn {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn != nil && k.conn.Err() != nil {
		return nil // closed, and the loop has not noticed yet
	}
	return k.conn
}

// wait returns the connection once it is up, starting the loop if needed.
// It fails at once when the last attempt failed for good, so a banned
// user's messages are reported instead of queued forever.
func (k *connector) wait(ctx context.Context) (*Conn, error) {
	// A user's new message earns a banned connection one more try.
	k.mu.Lock()
	k.fatal = nil
	k.mu.Unlock()
	for {
		// Every round: a loop that was stopping when we came (an idle
		// disconnect) has ended by the next one and must be started anew.
		k.start()
		k.mu.Lock()
		conn, fatal, changed := k.conn, k.fatal, k.changed
		k.mu.Unlock()
		if conn != nil && conn.Err() == nil {
			return conn, nil
		}
		if fatal != nil {
			return nil, fatal
		}
		select {
		case <-changed:
		case <-ctx.Done():
			k.mu.Lock()
			last := k.lastErr
			k.mu.Unlock()
			if last != nil {
				return nil, fmt.Errorf("%w: %w", ErrNotConnected, connectFailure{last})
			}
			return nil, ErrNotConnected
		}
	}
}

func (k *connector) set(update func()) {
	k.mu.Lock()
	update()
	close(k.changed)
	k.changed = make(chan struct{})
	k.mu.Unlock()
}

func (k *connector) loop(ctx context.Context, exited chan struct{}) {
	defer k.net.wg.Done()
	defer close(exited)
	defer k.set(func() { k.cancel, k.conn = nil, nil })
	failures := 0
	for ctx.Err() == nil {
		release, err := k.net.pacer.acquire(ctx)
		if err != nil {
			return
		}
		conn, err := k.dial(ctx)
		release()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.net.log.Warn().Err(err).Str("irc_conn", k.who).Int("failures", failures+1).Msg("IRC connection failed")
			if permanent(err) {
				k.set(func() { k.lastErr, k.fatal = err, err })
				if k.onDown != nil {
					k.onDown(nil, err)
				}
				return
			}
			k.set(func() { k.lastErr = err })
			failures++
			wait := backoff(failures)
			if k.onRetry != nil {
				k.onRetry(err, failures, wait)
			}
			if !sleepCtx(ctx, wait) {
				return
			}
			continue
		}
		// Stopping closes the connection with the QUIT reason, whenever
		// it comes.
		unwatch := context.AfterFunc(ctx, func() {
			k.mu.Lock()
			reason := k.reason
			k.mu.Unlock()
			conn.Close(reason)
		})
		k.onUp(conn)
		k.set(func() { k.conn, k.lastErr = conn, nil })
		upSince := time.Now()
		err = conn.serve()
		unwatch()
		k.set(func() { k.conn, k.lastErr = nil, err })
		// onDown runs when stopped too: whoever waits on this connection
		// (a JOIN, a send) must hear that it is gone.
		if k.onDown != nil {
			k.onDown(conn, err)
		}
		if ctx.Err() != nil {
			return
		}
		k.net.log.Info().Err(err).Str("irc_conn", k.who).Msg("IRC connection lost")
		if permanent(err) {
			k.set(func() { k.fatal = err })
			return
		}
		if time.Since(upSince) > time.Minute {
			failures = 0
		}
		failures++
		if !sleepCtx(ctx, backoff(failures)) {
			return
		}
	}
}

// dial runs on a goroutine of its own: dialling and registering need a
// deep stack, and a goroutine's stack shrinks only slowly once grown. The
// loop's goroutine, which then reads for as long as the connection lives,
// stays small, which is most of what an idle puppet costs.
func (k *connector) dial(ctx context.Context) (*Conn, error) {
	type result struct {
		c   *Conn
		err error
	}
	done := make(chan result, 1)
	cfg := k.config()
	go func() {
		c, err := dial(ctx, cfg)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// backoffBase is the first reconnect delay; tests shorten it.
var backoffBase = time.Second

// backoff grows exponentially to five minutes with ±25 % jitter, so that
// connections dropped together do not come back together.
func backoff(failures int) time.Duration {
	return jittered(failures, rand.Float64()) //nolint:gosec // jitter needs no crypto
}

// jittered is backoff with the random draw r in [0, 1) given, so that
// its bounds can be checked without chance.
func jittered(failures int, r float64) time.Duration {
	return doubling(backoffBase, maxBackoff, failures, r)
}

// doubling is base doubled for each failure after the first, capped at
// limit, times a jitter of 0.75 to 1.25 drawn from r in [0, 1).
func doubling(base, limit time.Duration, failures int, r float64) time.Duration {
	d := base << min(max(failures-1, 0), 16)
	d = min(d, limit)
	return time.Duration(float64(d) * (0.75 + r/2))
}

// maxBackoff caps the reconnect delay before jitter.
const maxBackoff = 5 * time.Minute

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
