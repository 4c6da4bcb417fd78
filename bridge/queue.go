package bridge

import (
	"context"
	"errors"
	"sync"
)

// keyedQueue runs items in order per key and keys in parallel on at most
// `workers` goroutines. A key is owned by one goroutine at a time, so no lock
// is held while handlers run. The backlog (queued + running) is bounded:
// reserve waits for room, so producers are slowed, never dropped.
type keyedQueue[T any] struct {
	handle func(ctx context.Context, item T)

	mu      sync.Mutex
	pending map[string][]T
	running map[string]bool
	slots   chan struct{}
	size    int
	room    chan struct{} // closed (and replaced) whenever size drops
	max     int
	closed  bool // set by wait: no goroutine may start after it
	wg      sync.WaitGroup
	ctx     context.Context
}

func newKeyedQueue[T any](ctx context.Context, workers, maxBacklog int, handle func(ctx context.Context, item T)) *keyedQueue[T] {
	return &keyedQueue[T]{
		handle:  handle,
		pending: map[string][]T{},
		running: map[string]bool{},
		slots:   make(chan struct{}, workers),
		room:    make(chan struct{}),
		max:     maxBacklog,
		ctx:     ctx,
	}
}

// shrinkLocked lowers the backlog and wakes producers waiting for room.
func (q *keyedQueue[T]) shrinkLocked(n int) {
	if n == 0 {
		return
	}
	q.size -= n
	close(q.room)
	q.room = make(chan struct{})
}

// reserve takes a backlog slot, waiting for one while the backlog is full.
// It gives up when ctx ends (the caller's, e.g. an adapter stopping) or the
// queue is shut down. A reserved slot is used by pushReserved or given back
// with release.
func (q *keyedQueue[T]) reserve(ctx context.Context) error {
	for {
		q.mu.Lock()
		if q.closed || q.ctx.Err() != nil {
			q.mu.Unlock()
			return errQueueClosed
		}
		if q.max <= 0 || q.size < q.max {
			q.size++
			q.mu.Unlock()
			return nil
		}
		wait := q.room
		q.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-q.ctx.Done():
			return q.ctx.Err()
		}
	}
}

// release gives back a slot that was reserved and not used.
func (q *keyedQueue[T]) release() {
	q.mu.Lock()
	q.shrinkLocked(1)
	q.mu.Unlock()
}

// pushReserved appends an item to its key's queue in a reserved slot.
// After wait has begun the item is not run (it stays journaled for the
// next start) and its slot is given back.
func (q *keyedQueue[T]) pushReserved(key string, item T) {
	q.mu.Lock()
	if q.closed {
		q.shrinkLocked(1)
		q.mu.Unlock()
		return
	}
	q.pending[key] = append(q.pending[key], item)
	start := !q.running[key]
	if start {
		q.running[key] = true
		// Under the lock, so wait (which sets closed under it) never
		// races with an Add.
		q.wg.Add(1)
	}
	q.mu.Unlock()
	if start {
		go q.run(key)
	}
}

// push reserves a slot (waiting without limit) and appends the item.
func (q *keyedQueue[T]) push(key string, item T) {
	if err := q.reserve(context.Background()); err != nil {
		return // the queue is shut down; the item stays journaled
	}
	q.pushReserved(key, item)
}

func (q *keyedQueue[T]) run(key string) {
	defer q.wg.Done()
	select {
	case q.slots <- struct{}{}:
	case <-q.ctx.Done():
		q.mu.Lock()
		q.shrinkLocked(len(q.pending[key]))
		delete(q.pending, key)
		delete(q.running, key)
		q.mu.Unlock()
		return
	}
	defer func() { <-q.slots }()
	for {
		q.mu.Lock()
		items := q.pending[key]
		if len(items) == 0 || q.ctx.Err() != nil {
			q.shrinkLocked(len(items))
			delete(q.pending, key)
			delete(q.running, key)
			q.mu.Unlock()
			return
		}
		item := items[0]
		var zero T
		items[0] = zero
		q.pending[key] = items[1:]
		q.mu.Unlock()

		q.handle(q.ctx, item)

		q.mu.Lock()
		q.shrinkLocked(1)
		q.mu.Unlock()
	}
}

// len is the number of items queued or running.
func (q *keyedQueue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// wait closes the queue to new work and blocks until every started key
// goroutine has returned; call after the context is cancelled.
func (q *keyedQueue[T]) wait() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wg.Wait()
}

// errQueueClosed is returned to producers once the bridge is stopping.
var errQueueClosed = errors.New("the bridge is stopping")
