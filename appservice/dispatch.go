package appservice

import (
	"context"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"
)

// outcome is what a worker decided about one attempt on an event.
type outcome int

const (
	// outcomeDone: handled, or failed for good; the event leaves the journal.
	outcomeDone outcome = iota
	// outcomeRetry: try again after a backoff; the room waits meanwhile.
	outcomeRetry
	// outcomeAbandon: the server is stopping; the event stays for replay.
	outcomeAbandon
)

type roomState int

const (
	roomIdle    roomState = iota // no events (and not in the rooms map)
	roomReady                    // has events, in the ready list
	roomRunning                  // a worker is handling its head event
	roomWaiting                  // its head event failed; a timer readies it
)

// roomQueue is the FIFO of one room. Only the worker that took the room
// from the ready list touches its head event; the dispatcher's lock guards
// the rest.
type roomQueue struct {
	id    id.RoomID
	items []*item
	state roomState
	timer *time.Timer
}

// dispatcher holds the in-memory backlog: one FIFO per room and a FIFO of
// rooms ready to run. A room is on the ready list at most once and handed to
// one worker at a time, so its events run strictly in order while different
// rooms run in parallel. The lock is held only to move items, never while a
// handler runs.
type dispatcher struct {
	mu         sync.Mutex
	cond       sync.Cond // signalled when a room becomes ready or on close
	rooms      map[id.RoomID]*roomQueue
	ready      []*roomQueue
	closed     bool
	maxBacklog int

	backlog  int // reserved or queued events not yet finished
	inFlight int // events a worker is handling now
	retrying int // rooms waiting for a backoff timer
	waiters  int // transactions held back by backpressure
	// freed is closed (and replaced) when the backlog shrinks while someone
	// waits in reserve.
	freed chan struct{}
}

func newDispatcher(maxBacklog int) *dispatcher {
	d := &dispatcher{
		rooms:      make(map[id.RoomID]*roomQueue),
		maxBacklog: maxBacklog,
		freed:      make(chan struct{}),
	}
	d.cond.L = &d.mu
	return d
}

// reserve waits until n more events fit in the backlog and counts them in.
// A batch larger than the whole backlog is let in once the backlog is empty,
// so no transaction is refused for its size. It fails when ctx ends or the
// dispatcher closes.
func (d *dispatcher) reserve(ctx context.Context, n int) error {
	d.mu.Lock()
	for {
		if d.closed {
			d.mu.Unlock()
			return errClosed
		}
		if n == 0 || d.backlog == 0 || d.backlog+n <= d.maxBacklog {
			d.addBacklog(n)
			d.mu.Unlock()
			return nil
		}
		freed := d.freed
		d.waiters++
		d.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
		}
		d.mu.Lock()
		d.waiters--
		if err := ctx.Err(); err != nil {
			d.mu.Unlock()
			return err
		}
	}
}

// release gives back a reservation that brought no events (a duplicate
// transaction or a failed write).
func (d *dispatcher) release(n int) {
	d.mu.Lock()
	d.addBacklog(-n)
	d.mu.Unlock()
}

// addBacklog moves the backlog count; the caller holds the lock.
func (d *dispatcher) addBacklog(n int) {
	d.backlog += n
	if !d.closed {
		metricBacklog.Add(float64(n))
	}
	if n < 0 && d.waiters > 0 {
		close(d.freed)
		d.freed = make(chan struct{})
	}
}

// enqueue appends events, already counted by reserve, to their rooms' queues
// in the order given. After close it still queues (nothing runs them): the
// events are in the journal and replay on the next start.
func (d *dispatcher) enqueue(items []*item) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, it := range items {
		rq := d.rooms[it.roomID]
		if rq == nil {
			rq = &roomQueue{id: it.roomID}
			d.rooms[it.roomID] = rq
		}
		rq.items = append(rq.items, it)
		if rq.state == roomIdle {
			d.makeReady(rq)
		}
	}
}

// load queues replayed events, counting them into the backlog even past
// MaxBacklog: they were accepted before, and new transactions wait for them.
func (d *dispatcher) load(items []*item) {
	d.mu.Lock()
	d.addBacklog(len(items))
	d.mu.Unlock()
	d.enqueue(items)
}

// makeReady puts a room on the ready list; the caller holds the lock.
func (d *dispatcher) makeReady(rq *roomQueue) {
	rq.state = roomReady
	d.ready = append(d.ready, rq)
	d.cond.Signal()
}

// next blocks until a room is ready and returns it with its head event, now
// owned by the calling worker. ok is false once the dispatcher is closed.
func (d *dispatcher) next() (rq *roomQueue, it *item, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.ready) == 0 && !d.closed {
		d.cond.Wait()
	}
	if d.closed {
		return nil, nil, false
	}
	rq = d.ready[0]
	d.ready[0] = nil
	d.ready = d.ready[1:]
	rq.state = roomRunning
	d.inFlight++
	metricInFlight.Inc()
	return rq, rq.items[0], true
}

// finish records the worker's outcome for the room's head event. A finished
// room goes to the back of the ready list if it has more, so busy rooms take
// turns with quiet ones.
func (d *dispatcher) finish(rq *roomQueue, out outcome, delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inFlight--
	metricInFlight.Dec()
	switch out {
	case outcomeDone:
		rq.items[0] = nil
		rq.items = rq.items[1:]
		d.addBacklog(-1)
		if len(rq.items) == 0 {
			rq.state = roomIdle
			rq.items = nil
			delete(d.rooms, rq.id)
		} else if !d.closed {
			d.makeReady(rq)
		}
	case outcomeRetry:
		if d.closed {
			return
		}
		rq.state = roomWaiting
		d.retrying++
		rq.timer = time.AfterFunc(delay, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.closed || rq.state != roomWaiting {
				return
			}
			d.retrying--
			rq.timer = nil
			d.makeReady(rq)
		})
	case outcomeAbandon:
		// Stays at the head of its queue and in the journal.
	}
}

// close stops handing out events and wakes every waiter; events still queued
// stay in the journal. Workers return from next once their current event is
// finished.
func (d *dispatcher) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	metricBacklog.Add(-float64(d.backlog))
	for _, rq := range d.rooms {
		if rq.timer != nil {
			rq.timer.Stop()
			rq.timer = nil
		}
	}
	d.ready = nil
	close(d.freed)
	d.freed = make(chan struct{})
	d.cond.Broadcast()
}

// dispatchStats is a snapshot for Server.Stats.
type dispatchStats struct {
	backlog, inFlight, rooms, retrying, waiters int
}

func (d *dispatcher) stats() dispatchStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return dispatchStats{
		backlog:  d.backlog,
		inFlight: d.inFlight,
		rooms:    len(d.rooms),
		retrying: d.retrying,
		waiters:  d.waiters,
	}
}
