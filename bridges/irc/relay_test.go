package irc

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// relay stands between the bridge and an IRC server, so a test can take
// the server away from the bridge alone: the test's own IRC clients,
// connected directly, stay and see what the bridge does meanwhile.
//
//   - cut drops every connection through it and refuses new ones: the
//     bridge finds the server gone.
//   - hold keeps new connections waiting, and drops none: a restarted
//     server can get its channels back from the test's clients before the
//     bridge returns, as on a network whose other servers kept them.
//   - open lets connections through again, the held ones first.
type relay struct {
	addr, target string

	mu      sync.Mutex
	state   relayState
	changed chan struct{} // closed, and replaced, at every change of state
	conns   map[net.Conn]bool
}

type relayState int

const (
	relayOpen relayState = iota
	relayHeld
	relayCut
)

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{addr: ln.Addr().String(), target: target, changed: make(chan struct{}), conns: map[net.Conn]bool{}}
	t.Cleanup(r.cut)
	serveEach(t, ln, func(c net.Conn) { go r.pass(c) })
	return r
}

// pass joins a client to the server once the relay is open; a client the
// relay is cut for, or that the server does not take, finds its
// connection closed.
func (r *relay) pass(down net.Conn) {
	r.mu.Lock()
	if !r.track(down) {
		r.mu.Unlock()
		return
	}
	for r.state == relayHeld {
		changed := r.changed
		r.mu.Unlock()
		<-changed
		r.mu.Lock()
	}
	cut := r.state == relayCut // the cut closed down
	r.mu.Unlock()
	if cut {
		return
	}
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		r.drop(down)
		return
	}
	r.mu.Lock()
	// A cut while dialling drops this one too.
	ok := r.track(up)
	r.mu.Unlock()
	if !ok {
		r.drop(down)
		return
	}
	pipe := func(to, from net.Conn) {
		_, _ = io.Copy(to, from)
		r.drop(to)
		r.drop(from)
	}
	go pipe(up, down)
	go pipe(down, up)
}

// track keeps c to be dropped by a cut, or drops it now if the relay is
// cut. Holds r.mu.
func (r *relay) track(c net.Conn) bool {
	if r.state == relayCut {
		_ = c.Close()
		return false
	}
	r.conns[c] = true
	return true
}

func (r *relay) drop(c net.Conn) {
	_ = c.Close()
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *relay) set(s relayState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = s
	close(r.changed)
	r.changed = make(chan struct{})
	if s == relayCut {
		for c := range r.conns {
			_ = c.Close()
		}
		clear(r.conns)
	}
}

func (r *relay) cut()  { r.set(relayCut) }
func (r *relay) hold() { r.set(relayHeld) }
func (r *relay) open() { r.set(relayOpen) }
