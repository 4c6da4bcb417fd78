package appservice

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

const (
	// reaperBuffer is how many finished events may wait for deletion before
	// workers block on handing more over.
	reaperBuffer = 4096
	// pruneInterval is how often old transaction IDs are forgotten while
	// running (Start prunes too).
	pruneInterval = 24 * time.Hour
)

// reaper deletes finished events from the journal on its own goroutine. It
// batches opportunistically: whatever finished while the previous DELETE ran
// goes into the next one, so under load one statement removes many rows, and
// when idle each row goes at once, which keeps short the window in which a
// crash replays an event that was already handled.
type reaper struct {
	journal *journal
	log     zerolog.Logger
	in      chan journalKey
	stop    chan struct{}
	done    chan struct{}
}

func newReaper(j *journal, log zerolog.Logger) *reaper {
	return &reaper{
		journal: j,
		log:     log,
		in:      make(chan journalKey, reaperBuffer),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// add hands over a finished event. It blocks while the reaper is behind; once
// the reaper has stopped it returns at once and the row stays for replay.
func (r *reaper) add(key journalKey) {
	select {
	case r.in <- key:
	case <-r.done:
	}
}

// run is the reaper's goroutine; it returns after close, having deleted every
// key handed over before.
func (r *reaper) run() {
	defer close(r.done)
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	batch := make([]journalKey, 0, deleteChunk)
	for {
		select {
		case key := <-r.in:
			batch = r.drain(append(batch[:0], key))
			r.flush(batch, false)
		case <-prune.C:
			r.prune()
		case <-r.stop:
			for {
				batch = r.drain(batch[:0])
				if len(batch) == 0 {
					return
				}
				r.flush(batch, true)
			}
		}
	}
}

// drain adds what is already waiting, up to one chunk.
func (r *reaper) drain(batch []journalKey) []journalKey {
	for len(batch) < deleteChunk {
		select {
		case key := <-r.in:
			batch = append(batch, key)
		default:
			return batch
		}
	}
	return batch
}

// flush deletes a batch, retrying every second while the database fails. When
// stopping it tries once: rows it could not delete are replayed on the next
// start, which handlers tolerate (they are idempotent through the message map).
func (r *reaper) flush(batch []journalKey, stopping bool) {
	for {
		err := r.journal.delete(context.Background(), batch)
		if err == nil {
			return
		}
		r.log.Err(err).Int("rows", len(batch)).Msg("Failed to delete handled events from the journal")
		if stopping {
			return
		}
		select {
		case <-time.After(time.Second):
		case <-r.stop:
			stopping = true
		}
	}
}

func (r *reaper) prune() {
	n, err := r.journal.pruneTxns(context.Background(), time.Now().Add(-txnRetention))
	if err != nil {
		r.log.Err(err).Msg("Failed to prune old transaction IDs")
	} else if n > 0 {
		r.log.Debug().Int64("pruned", n).Msg("Pruned old transaction IDs")
	}
}

// close stops the reaper after it deleted what was handed over, or when ctx
// ends, whichever comes first.
func (r *reaper) close(ctx context.Context) error {
	close(r.stop)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
