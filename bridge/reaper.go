package bridge

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// journalReaper deletes handled remote events from the journal in batches,
// in one transaction with the message-map rows of what they sent. Deleting
// late is safe: a replayed event that was already bridged is found in the
// message map, or in the room (findBridged), and not sent again. One
// transaction per batch saves two commits per message.
type journalReaper struct {
	store *store
	log   zerolog.Logger

	mu      sync.Mutex
	pending []int64
	wake    chan struct{}
	done    chan struct{}
}

const reapBatch = 500

func newJournalReaper(s *store, log zerolog.Logger) *journalReaper {
	return &journalReaper{store: s, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// add marks a journal row as handled.
func (r *journalReaper) add(seq int64) {
	r.mu.Lock()
	r.pending = append(r.pending, seq)
	full := len(r.pending) >= reapBatch
	r.mu.Unlock()
	if full {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// run flushes every 100 ms, or sooner when a batch is full, until ctx ends;
// then it flushes what is left.
func (r *journalReaper) run(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = r.flush(context.WithoutCancel(ctx))
			return
		case <-tick.C:
		case <-r.wake:
		}
		_ = r.flush(ctx)
	}
}

// flush writes what is handled now; run calls it, and so does whoever
// needs the journal and the message map to agree before going on (a chat
// move).
func (r *journalReaper) flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		// Message-map rows may wait without journal rows (none today, but
		// flushHandled is cheap when both are empty).
		if err := r.store.flushHandled(ctx, nil); err != nil {
			r.log.Err(err).Msg("Failed to write the message map")
			return err
		}
		return nil
	}
	for len(batch) > 0 {
		n := min(len(batch), reapBatch)
		if err := r.store.flushHandled(ctx, batch[:n]); err != nil {
			r.log.Err(err).Int("rows", n).Msg("Failed to delete handled remote events from the journal")
			r.mu.Lock()
			r.pending = append(r.pending, batch...)
			r.mu.Unlock()
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// inList formats integers for an IN clause; they are our own sequence
// numbers, never user input.
func inList(seqs []int64) string {
	var b strings.Builder
	for i, s := range seqs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(s, 10))
	}
	return b.String()
}
