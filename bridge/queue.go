package bridge

import (
	"context"
	"sync"
)

// keyedQueue runs items in order per key and keys in parallel on at most
// `workers` goroutines. A key is owned by one goroutine at a time, so no lock
// is held while handlers run.
type keyedQueue[T any] struct {
	handle func(ctx context.Context, item T)

	mu      sync.Mutex
	pending map[string][]T
	running map[string]bool
	slots   chan struct{}
	size    int
	cond    *sync.Cond
	max     int
	wg      sync.WaitGroup
	ctx     context.Context
}

func newKeyedQueue[T any](ctx context.Context, workers, maxBacklog int, handle func(ctx context.Context, item T)) *keyedQueue[T] {
	q := &keyedQueue[T]{
		handle:  handle,
		pending: map[string][]T{},
		running: map[string]bool{},
		slots:   make(chan struct{}, workers),
		max:     maxBacklog,
		ctx:     ctx,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push appends an item to its key's queue. When the backlog is full it
// blocks until there is room: the sender is slowed, nothing is dropped.
func (q *keyedQueue[T]) push(key string, item T) {
	q.mu.Lock()
	for q.max > 0 && q.size >= q.max && q.ctx.Err() == nil {
		q.cond.Wait()
	}
	q.pending[key] = append(q.pending[key], item)
	q.size++
	start := !q.running[key]
	if start {
		q.running[key] = true
	}
	q.mu.Unlock()
	if start {
		q.wg.Add(1)
		go q.run(key)
	}
}

func (q *keyedQueue[T]) run(key string) {
	defer q.wg.Done()
	select {
	case q.slots <- struct{}{}:
	case <-q.ctx.Done():
		q.mu.Lock()
		q.size -= len(q.pending[key])
		delete(q.pending, key)
		delete(q.running, key)
		q.cond.Broadcast()
		q.mu.Unlock()
		return
	}
	defer func() { <-q.slots }()
	for {
		q.mu.Lock()
		items := q.pending[key]
		if len(items) == 0 || q.ctx.Err() != nil {
			q.size -= len(items)
			delete(q.pending, key)
			delete(q.running, key)
			q.cond.Broadcast()
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
		q.size--
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}

// len is the number of items queued or running.
func (q *keyedQueue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.size
}

// wait blocks until every started key goroutine has returned; call after
// the context is cancelled.
func (q *keyedQueue[T]) wait() {
	q.mu.Lock()
	q.cond.Broadcast()
	q.mu.Unlock()
	q.wg.Wait()
}
