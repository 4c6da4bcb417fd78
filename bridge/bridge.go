package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/appservice"
	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage"
)

// Bridge is the running core: it owns the database, the appservice server,
// ghosts, double puppets, portals and every network's sessions.
type Bridge struct {
	Config *Config
	Log    zerolog.Logger
	// AS gives Matrix intents; never start its own HTTP server.
	AS     *mauas.AppService
	Server *appservice.Server

	db            *dbutil.Database
	store         *store
	ghosts        *puppet.Ghosts
	doublePuppets *puppet.DoublePuppets

	networks    map[NetworkID]*networkEntry
	netOrder    []NetworkID
	portalLocks portalLocks
	// portalIO serialises the two directions of one portal around the
	// send-and-record step, so a remote echo of a Matrix message is handled
	// only after the message map knows it.
	portalIO portalLocks
	// spaceLocks serialise creating one login's space (keyed by network,
	// login ID as Chat and user as Receiver).
	spaceLocks portalLocks

	sessMu   sync.RWMutex
	sessions map[id.UserID][]*sessionEntry

	remote    *keyedQueue[*queuedRemote]
	moves     chatMoves
	reaper    *journalReaper
	ephemeral chan *event.Event
	typingMu  sync.Mutex
	typing    map[id.RoomID]map[id.UserID]bool

	botMu    sync.Mutex
	botReady bool

	ctx    context.Context
	cancel context.CancelFunc
}

type networkEntry struct {
	net     Network
	info    NetworkInfo
	ghosts  *puppet.Namer
	aliases *puppet.AliasNamer
}

type sessionEntry struct {
	login *Login
	sess  Session
	mu    sync.Mutex
	state SessionState
}

type queuedRemote struct {
	seq      int64 // 0 = not journaled (ephemeral)
	ev       *RemoteEvent
	replayed bool     // read back from the journal at start: it may have been sent already
	holds    []string // chat-move routes this event holds (chatmove.go)
}

type replayedKey struct{}

// seqKey carries the journal sequence number of the event being handled.
type seqKey struct{}

// isReplay says whether the event being handled was journaled before the
// last stop, so its effect may already be on the homeserver.
func isReplay(ctx context.Context) bool {
	v, _ := ctx.Value(replayedKey{}).(bool)
	return v
}

// Options tunes the core; zero values pick defaults.
type Options struct {
	// RemoteWorkers is how many portals handle remote events at once.
	RemoteWorkers int
	// RemoteBacklog is how many remote events may wait before
	// QueueRemoteEvent blocks the adapter.
	RemoteBacklog int
}

// New builds a bridge for a validated config and its networks. It does no
// I/O; Start does.
func New(cfg *Config, log zerolog.Logger, networks []Network) (*Bridge, error) {
	br := &Bridge{
		Config:   cfg,
		Log:      log,
		networks: map[NetworkID]*networkEntry{},
		sessions: map[id.UserID][]*sessionEntry{},
		typing:   map[id.RoomID]map[id.UserID]bool{},
	}
	for _, n := range networks {
		info := n.Info()
		namer, err := puppet.NewNamer(info.GhostTemplate, string(info.ID), cfg.Homeserver.Domain)
		if err != nil {
			return nil, fmt.Errorf("network %s ghost template: %w", info.ID, err)
		}
		ne := &networkEntry{net: n, info: info, ghosts: namer}
		if info.AliasTemplate != "" {
			ne.aliases, err = puppet.NewAliasNamer(info.AliasTemplate, string(info.ID), cfg.Homeserver.Domain)
			if err != nil {
				return nil, fmt.Errorf("network %s alias template: %w", info.ID, err)
			}
		}
		if _, dup := br.networks[info.ID]; dup {
			return nil, fmt.Errorf("network %q configured twice", info.ID)
		}
		br.networks[info.ID] = ne
		br.netOrder = append(br.netOrder, info.ID)
	}
	return br, nil
}

// Registration derives registration.yaml from the config and the networks'
// templates, so the namespaces always match the IDs the code makes.
func (br *Bridge) Registration() *mauas.Registration {
	var ns appservice.Namespaces
	for _, nid := range br.netOrder {
		ne := br.networks[nid]
		ns.Users = append(ns.Users, ne.ghosts.Regex())
		if ne.aliases != nil {
			ns.Aliases = append(ns.Aliases, ne.aliases.Regex())
		}
		if ne.info.Protocol != "" {
			ns.Protocols = append(ns.Protocols, ne.info.Protocol)
		}
	}
	return appservice.NewRegistration(br.Config.Appservice, br.Config.Homeserver.Domain, ns)
}

// Start opens the database, runs migrations, replays what was journaled and
// not handled, starts the networks and reconnects stored sessions. It
// returns once the bridge is ready to serve the homeserver.
func (br *Bridge) Start(ctx context.Context, opts Options) error {
	br.ctx, br.cancel = context.WithCancel(br.Log.WithContext(context.WithoutCancel(ctx)))
	if opts.RemoteWorkers == 0 {
		opts.RemoteWorkers = 32
	}
	if opts.RemoteBacklog == 0 {
		opts.RemoteBacklog = 10000
	}
	dbCfg := br.Config.Database
	db, err := storage.Open(ctx, dbCfg)
	if err != nil {
		return err
	}
	br.db = db
	br.store = newStore(db)
	if err := br.store.upgrade(ctx); err != nil {
		return err
	}
	br.AS, err = appservice.NewIntents(ctx, br.Config.Homeserver.Address, br.Config.Homeserver.Domain, br.Config.Appservice, db)
	if err != nil {
		return err
	}
	if _, ok := br.AS.StateStore.(interface {
		GetMembership(context.Context, id.RoomID, id.UserID) (event.Membership, error)
	}); ok {
		br.AS.StateStore = newMembershipCache(br.AS.StateStore)
	}
	// mautrix creates the bot client lazily without a lock; create it now,
	// before any concurrent use.
	br.AS.BotIntent()
	// Every portal worker talks to the homeserver at once; Go's default of
	// two idle connections per host would close and re-dial constantly.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConns = 256
	base.MaxIdleConnsPerHost = 128
	br.AS.HTTPClient.Transport = timedTransport{base: base}
	if err := puppet.Upgrade(ctx, db); err != nil {
		return err
	}
	namers := make([]*puppet.Namer, 0, len(br.netOrder))
	for _, nid := range br.netOrder {
		namers = append(namers, br.networks[nid].ghosts)
	}
	br.ghosts, err = puppet.NewGhosts(db, br.AS, namers...)
	if err != nil {
		return err
	}
	br.doublePuppets, err = puppet.NewDoublePuppets(db, br.AS, br.Config.Homeserver.Address, br.Config.Homeserver.Domain,
		br.Config.Bridge.DoublePuppet.Secrets, br.Config.Appservice.ID)
	if err != nil {
		return err
	}
	br.doublePuppets.OnDropped = br.doublePuppetDropped

	br.reaper = newJournalReaper(br.store, br.Log)
	go br.reaper.run(br.ctx)
	br.ephemeral = make(chan *event.Event, 1024)
	go br.runEphemeral(br.ctx)
	br.remote = newKeyedQueue(br.ctx, opts.RemoteWorkers, opts.RemoteBacklog, br.handleQueuedRemote)
	if err := br.replayRemoteJournal(ctx); err != nil {
		return err
	}

	br.Server, err = appservice.NewServer(br.Config.Appservice, db, br)
	if err != nil {
		return err
	}
	for _, nid := range br.netOrder {
		ne := br.networks[nid]
		nctx := br.Log.With().Str("network", string(nid)).Logger().WithContext(br.ctx)
		if err := ne.net.Start(nctx, br); err != nil {
			return fmt.Errorf("start network %s: %w", nid, err)
		}
	}
	if err := br.loadSessions(ctx); err != nil {
		return err
	}
	// Last: starting the server replays Matrix events journaled before the
	// last stop, and they must find the users' sessions loaded, or a message
	// from a logged-in user would be relayed by the bot instead.
	return br.Server.Start(br.ctx)
}

// Stop shuts the bridge down in dependency order: no new Matrix work
// (the appservice server finishes what it runs), then the remote queues
// drain and the last handled rows are written, then sessions disconnect
// and networks stop, then the database closes. Unfinished work stays
// journaled for the next start.
func (br *Bridge) Stop(ctx context.Context) error {
	var errs []error
	if br.Server != nil {
		if err := br.Server.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if br.cancel != nil {
		br.cancel()
	}
	if br.remote != nil {
		br.remote.wait()
	}
	if br.reaper != nil {
		<-br.reaper.done
		// Workers that finished after the reaper's last pass.
		br.reaper.flush(context.WithoutCancel(ctx))
	}
	br.sessMu.Lock()
	var all []*sessionEntry
	for _, ss := range br.sessions {
		all = append(all, ss...)
	}
	br.sessions = map[id.UserID][]*sessionEntry{}
	br.sessMu.Unlock()
	for _, s := range all {
		if err := s.sess.Disconnect(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, nid := range br.netOrder {
		if err := br.networks[nid].net.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop network %s: %w", nid, err))
		}
	}
	if br.store != nil {
		br.store.close()
	}
	if br.db != nil {
		if err := br.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Network returns a configured network by ID.
func (br *Bridge) Network(nid NetworkID) (Network, bool) {
	ne, ok := br.networks[nid]
	if !ok {
		return nil, false
	}
	return ne.net, true
}

// DB returns a database handle for an adapter's own tables, with its own
// version table; run Upgrade on it in Network.Start.
func (br *Bridge) DB(versionTable string, upgrades dbutil.UpgradeTable) *dbutil.Database {
	return br.db.Child(versionTable, upgrades, nil)
}

// QueueRemoteEvent hands a remote event to the core. Events of one portal
// are handled in the order queued. It returns once the event is journaled
// (so a crash after that loses nothing); it blocks when the backlog is full,
// slowing the adapter down instead of dropping, until ctx ends (then it
// returns ctx's error and nothing is queued). Presence and typing are not
// journaled. The core keeps its own copy: the adapter may reuse ev.
func (br *Bridge) QueueRemoteEvent(ctx context.Context, ev *RemoteEvent) error {
	if _, ok := br.networks[ev.Portal.Network]; !ok {
		return fmt.Errorf("%w %q", ErrUnknownNetwork, ev.Portal.Network)
	}
	if ev.Timestamp.IsZero() {
		// No monotonic reading: the timestamp must print the same after
		// the journal's round trip, since transaction IDs derive from it.
		ev.Timestamp = time.Now().Round(0)
	}
	// Room in the backlog first: a full backlog slows the adapter down, and
	// an adapter that stops while waiting gets its context's error with
	// nothing journaled.
	if err := br.remote.reserve(ctx); err != nil {
		return fmt.Errorf("queue remote event: %w", err)
	}
	// The core keeps its own copy: the adapter may reuse its struct.
	own := *ev
	q := &queuedRemote{ev: &own}
	if !ev.Kind.ephemeral() {
		data, err := json.Marshal(ev)
		if err != nil {
			br.remote.release()
			return fmt.Errorf("encode remote event: %w", err)
		}
		q.seq, err = br.store.journalRemote(ctx, ev.Portal.String(), data)
		if err != nil {
			br.remote.release()
			return err
		}
	}
	queue, holds := br.moves.route(&own)
	q.holds = holds
	br.remote.pushReserved(queue, q)
	return nil
}

func (br *Bridge) replayRemoteJournal(ctx context.Context) error {
	seqs, datas, err := br.store.remoteJournal(ctx)
	if err != nil {
		return err
	}
	for i, data := range datas {
		var ev RemoteEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			br.Log.Error().Err(err).Int64("seq", seqs[i]).Msg("Dropping undecodable remote journal entry")
			_ = br.store.unjournalRemote(ctx, seqs[i:i+1])
			continue
		}
		queue, holds := br.moves.route(&ev)
		br.remote.push(queue, &queuedRemote{seq: seqs[i], ev: &ev, replayed: true, holds: holds})
	}
	if len(seqs) > 0 {
		br.Log.Info().Int("count", len(seqs)).Msg("Replaying remote events journaled before the last stop")
	}
	return nil
}

// RemoteBacklog is the number of remote events queued or running.
func (br *Bridge) RemoteBacklog() int {
	if br.remote == nil {
		return 0
	}
	return br.remote.len()
}

func (br *Bridge) handleQueuedRemote(ctx context.Context, q *queuedRemote) {
	defer br.moves.done(q.holds)
	ev := q.ev
	log := br.Log.With().
		Str("network", string(ev.Portal.Network)).
		Str("remote_id", string(ev.Portal.Chat)).
		Str("kind", string(ev.Kind)).
		Str("message_id", string(ev.ID)).
		Logger()
	ctx = log.WithContext(ctx)
	if q.replayed {
		ctx = context.WithValue(ctx, replayedKey{}, true)
	}
	if q.seq != 0 {
		ctx = context.WithValue(ctx, seqKey{}, q.seq)
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := br.handleRemoteEvent(ctx, ev)
		if err != nil && homeserverDown(err) {
			// An outage is not the event's fault: wait it out however long
			// it lasts instead of using up the event's attempts.
			attempt--
		}
		metricRemoteDuration.Observe(time.Since(start).Seconds())
		if err == nil {
			metricRemoteEvents.WithLabelValues("handled").Inc()
			break
		}
		if ctx.Err() != nil {
			// Shutting down: the event stays journaled for the next start.
			return
		}
		if ev.Sender.Matrix != "" && errorsIsAny(err, mautrix.MUnknownToken, mautrix.MMissingToken) {
			// The user's own token stopped working: Validate drops it and
			// tells them; the retry goes through their ghost.
			if verr := br.doublePuppets.Validate(ctx, ev.Sender.Matrix); verr != nil {
				log.Warn().Err(verr).Msg("Dropped a double puppet that stopped working")
			}
		}
		if errors.Is(err, ErrPermanent) || attempt >= 6 {
			metricRemoteEvents.WithLabelValues("failed").Inc()
			log.Error().Err(err).Int("attempts", attempt).Msg("Giving up on remote event")
			br.reportRemoteFailure(ctx, ev, err)
			break
		}
		metricRemoteEvents.WithLabelValues("retried").Inc()
		log.Warn().Err(err).Int("attempt", attempt).Dur("backoff", backoff).Msg("Remote event failed, retrying")
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, time.Minute)
	}
	if q.seq != 0 {
		br.reaper.add(q.seq)
	}
}

// homeserverDown says whether an error means the homeserver could not be
// reached or answered with a server error, rather than refusing the event.
// Only errors of requests to the homeserver count: a dead attachment URL
// must use up the event's attempts, not stall its portal for ever.
func homeserverDown(err error) bool {
	var unreachable hsUnreachable
	if errors.As(err, &unreachable) {
		return true
	}
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		code := httpErr.Response.StatusCode
		return code >= 500 || code == http.StatusTooManyRequests
	}
	return false
}

// reportRemoteFailure tells the people concerned that a remote message
// could not be bridged: in the portal when it exists.
func (br *Bridge) reportRemoteFailure(ctx context.Context, ev *RemoteEvent, err error) {
	if ev.Kind != RemoteMessage && ev.Kind != RemoteEdit {
		return
	}
	p, perr := br.store.portalByKey(ctx, ev.Portal)
	if perr != nil || p == nil || p.MXID == "" {
		return
	}
	text := fmt.Sprintf("⚠️ A message from %s could not be bridged: %v", ev.Sender.ID, err)
	if _, serr := br.AS.BotIntent().SendNotice(ctx, p.MXID, text); serr != nil {
		zerolog.Ctx(ctx).Err(serr).Msg("Failed to report remote failure")
	}
}
