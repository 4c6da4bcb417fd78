// Package appservice is the bridge's side of the Matrix application service
// API: the HTTP server the homeserver calls (transactions, user and alias
// queries, ping, third-party lookups), hs_token authentication, the durable
// transaction journal with its per-room dispatcher, the registration file,
// and intents for talking back to the homeserver.
//
// The transaction path: a PUT is authenticated and validated, held back
// while the in-memory backlog is full, then its transaction ID and events are
// written to the journal in one database transaction; only then does the
// homeserver get its 200. A dispatcher hands each room's events, strictly in
// order, to a bounded pool of workers; an event leaves the journal when it
// was handled or finally failed, and unfinished events replay on Start.
package appservice

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Handler is implemented by the bridge core; the server calls it for what the
// homeserver sends.
type Handler interface {
	// HandleEvent is called once per journaled event (timeline and state
	// events from a transaction's "events"), on a worker goroutine: events of
	// one room strictly in journal order, one at a time; different rooms in
	// parallel on at most Config.Workers goroutines. It may block (while
	// it does, that room waits), and should honour ctx, which is cancelled
	// when Stop gives up waiting. Its logger (zerolog.Ctx) carries room_id,
	// event_id and event_type. An error is retried with exponential backoff
	// (1 s, 2 s, 4 s… at most 60 s) up to Config.MaxAttempts, holding back
	// that room's later events; an error wrapping ErrPermanent is not retried.
	// The same event may be seen again after a crash (not after a clean
	// Stop), so effects must be idempotent.
	HandleEvent(ctx context.Context, evt *event.Event) error
	// EventFailed is called once, on the worker, when an event is given up:
	// after its last attempt, on a permanent error, or when it does not parse
	// (then evt carries only its room, ID and type). The event then leaves
	// the journal. It may block briefly, e.g. to send a notice to the sender.
	EventFailed(ctx context.Context, evt *event.Event, err error)
	// HandleEphemeral is called for typing, receipt and presence events
	// (from "ephemeral" or "de.sorunome.msc2409.ephemeral"), best effort and
	// not journaled, in order, after the transaction committed and before it
	// is answered. It must not block long: the homeserver waits meanwhile.
	HandleEphemeral(ctx context.Context, evt *event.Event)
	// QueryUser is called when the homeserver asks whether a user in our
	// namespace exists. Returning true means the user exists now (the
	// handler registered it); false answers 404. It may block for as long as
	// registration takes.
	QueryUser(ctx context.Context, userID id.UserID) (bool, error)
	// QueryAlias is called when the homeserver asks about a room alias in
	// our namespace. Returning true means a room with that alias exists now
	// (the handler created it); false answers 404. It may block.
	QueryAlias(ctx context.Context, alias id.RoomAlias) (bool, error)
}

const (
	stateNew int32 = iota
	stateStarting
	stateRunning
	stateStopped
)

// Server is the appservice HTTP server with its journal and dispatcher.
type Server struct {
	cfg     Config
	db      *dbutil.Database
	journal *journal
	handler Handler
	mux     http.Handler
	disp    *dispatcher
	reaper  *reaper
	// hsTokenHash is compared against the hash of the presented token, so the
	// comparison takes the same time whatever the token's length.
	hsTokenHash [sha256.Size]byte

	state atomic.Int32
	log   atomic.Pointer[zerolog.Logger]
	// ingestMu makes journal order and dispatch order the same when two
	// transactions arrive at once. Homeservers send one at a time, so it is
	// uncontended in practice, and no handler runs under it.
	ingestMu sync.Mutex
	// ctx is the parent of every handler call; cancel ends it when Stop gives
	// up waiting.
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup

	retryBase, retryMax time.Duration
}

// NewServer checks the config and builds a server; it does no I/O. db is the
// bridge's database: the server uses its own child handle and tables
// (appservice_version, appservice_txn, appservice_journal).
func NewServer(cfg Config, db *dbutil.Database, h Handler) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || h == nil {
		return nil, errors.New("appservice: NewServer needs a database and a handler")
	}
	child := db.Child(versionTable, upgradeTable, nil)
	s := &Server{
		cfg:         cfg,
		db:          child,
		journal:     &journal{db: child},
		handler:     h,
		disp:        newDispatcher(cfg.MaxBacklog),
		hsTokenHash: sha256.Sum256([]byte(cfg.HSToken)),
		ctx:         context.Background(),
		cancel:      func() {},
		retryBase:   retryBase,
		retryMax:    retryMax,
	}
	nop := zerolog.Nop()
	s.log.Store(&nop)
	s.mux = s.routes()
	return s, nil
}

// logger is the server's logger: the one in Start's context once started.
func (s *Server) logger() *zerolog.Logger {
	return s.log.Load()
}

// Start runs the journal migrations, forgets transaction IDs older than a
// week, queues the events a previous run left unfinished (in their original
// order), and starts the workers. It does not listen: serve Handler or call
// ListenAndServe after it. The logger in ctx becomes the server's. Start
// blocks for the database work only; it may be called once.
func (s *Server) Start(ctx context.Context) error {
	if !s.state.CompareAndSwap(stateNew, stateStarting) {
		return errors.New("appservice: server already started")
	}
	log := zerolog.Ctx(ctx).With().Str("component", "appservice").Logger()
	s.log.Store(&log)
	items, pruned, err := s.prepare(ctx)
	if err != nil {
		s.state.Store(stateNew)
		return err
	}
	s.ctx, s.cancel = context.WithCancel(log.WithContext(context.WithoutCancel(ctx)))
	s.reaper = newReaper(s.journal, log)
	go s.reaper.run()
	s.disp.load(items)
	for range s.cfg.Workers {
		s.workers.Add(1)
		go s.work()
	}
	s.state.Store(stateRunning)
	log.Info().Int("replayed", len(items)).Int64("pruned_txns", pruned).Msg("Appservice server started")
	return nil
}

// prepare is Start's database work.
func (s *Server) prepare(ctx context.Context) (items []*item, pruned int64, err error) {
	if err = s.db.Upgrade(ctx); err != nil {
		return nil, 0, fmt.Errorf("upgrade appservice tables: %w", err)
	}
	if pruned, err = s.journal.pruneTxns(ctx, time.Now().Add(-txnRetention)); err != nil {
		return nil, 0, fmt.Errorf("prune transaction IDs: %w", err)
	}
	if items, err = s.journal.unfinished(ctx); err != nil {
		return nil, 0, err
	}
	return items, pruned, nil
}

// Stop ends the server: transactions get 503 from now on (the homeserver
// retries them later), running handlers may finish, and then the handled
// events are deleted from the journal; everything else stays there for the
// next Start. It blocks until that is done or ctx ends; in the latter case
// it cancels the handlers' context and returns ctx's error without waiting
// for them. It does not close the listener of ListenAndServe: cancel that
// one's context first. Stopping a server that never started does nothing.
func (s *Server) Stop(ctx context.Context) error {
	if s.state.CompareAndSwap(stateNew, stateStopped) {
		s.disp.close()
		return nil
	}
	if !s.state.CompareAndSwap(stateRunning, stateStopped) {
		return nil
	}
	s.disp.close()
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		err = fmt.Errorf("wait for event handlers: %w", ctx.Err())
	}
	if rerr := s.reaper.close(ctx); rerr != nil && err == nil {
		err = fmt.Errorf("delete handled events from the journal: %w", rerr)
	}
	s.cancel()
	s.logger().Info().Err(err).Msg("Appservice server stopped")
	return err
}

// Stats is a snapshot of the server's load, for health checks.
type Stats struct {
	// Running is true between a successful Start and Stop.
	Running bool `json:"running"`
	// Backlog counts accepted events not yet finished: queued, running or
	// waiting for a retry. MaxBacklog is where transactions start to wait.
	Backlog    int `json:"backlog"`
	MaxBacklog int `json:"max_backlog"`
	// InFlight counts HandleEvent calls running now.
	InFlight int `json:"in_flight"`
	// Rooms counts rooms with events in the backlog; Retrying, those of them
	// waiting out a backoff.
	Rooms    int `json:"rooms"`
	Retrying int `json:"retrying"`
	// HeldTransactions counts PUTs held back until the backlog has room.
	HeldTransactions int `json:"held_transactions"`
}

// Stats returns a snapshot; it does not block beyond a short lock.
func (s *Server) Stats() Stats {
	ds := s.disp.stats()
	return Stats{
		Running:          s.state.Load() == stateRunning,
		Backlog:          ds.backlog,
		MaxBacklog:       s.cfg.MaxBacklog,
		InFlight:         ds.inFlight,
		Rooms:            ds.rooms,
		Retrying:         ds.retrying,
		HeldTransactions: ds.waiters,
	}
}

// Handler returns the HTTP routes of the appservice API, legacy paths
// included, every one behind hs_token authentication; unknown paths answer
// 404 M_UNRECOGNIZED. Mount it at "/" (the legacy paths are at the root) and
// add the bridge's own routes, such as /_isthmus/health, beside it. It may be
// served before Start: transactions get 503 until then.
func (s *Server) Handler() http.Handler {
	return s.mux
}

// shutdownTimeout bounds how long ListenAndServe waits for requests to end.
const shutdownTimeout = 30 * time.Second

// ListenAndServe serves Handler on Config.Listen until ctx ends, then shuts
// the listener down gracefully: transactions already being written finish
// and are answered; ones held back by backpressure get 503. It blocks until
// then and returns nil after a clean shutdown, or the error that stopped it.
// Request contexts derive from ctx, so the logger in ctx is theirs.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if s.cfg.Listen == "" {
		return errors.New("appservice: listen address is not set (appservice.listen)")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.logger().Info().Str("address", ln.Addr().String()).Msg("Appservice listening")
	select {
	case err := <-errc:
		return fmt.Errorf("serve appservice API: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-errc
	return err
}
