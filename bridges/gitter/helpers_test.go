package gitter

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// recorder stands in for the core: it keeps every event and state a
// session reports.
type recorder struct {
	db    *dbutil.Database
	namer *puppet.Namer

	mu      sync.Mutex
	events  []*bridge.RemoteEvent
	states  []bridge.SessionState
	notices []string
}

func (r *recorder) Notify(_ context.Context, _ id.UserID, text string) {
	r.mu.Lock()
	r.notices = append(r.notices, text)
	r.mu.Unlock()
}

func (r *recorder) noticeList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.notices...)
}

func (r *recorder) QueueRemoteEvent(_ context.Context, ev *bridge.RemoteEvent) error {
	// Round-trip through JSON like the core's journal, so nothing that
	// does not survive a restart is relied on.
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	var cp bridge.RemoteEvent
	if err := json.Unmarshal(b, &cp); err != nil {
		return err
	}
	r.mu.Lock()
	r.events = append(r.events, &cp)
	r.mu.Unlock()
	return nil
}

func (r *recorder) ReportState(_ context.Context, _ *bridge.Login, st bridge.SessionState) {
	r.mu.Lock()
	r.states = append(r.states, st)
	r.mu.Unlock()
}

func (r *recorder) DB(versionTable string, upgrades dbutil.UpgradeTable) *dbutil.Database {
	return r.db.Child(versionTable, upgrades, nil)
}

func (r *recorder) GhostMXID(_ bridge.NetworkID, remote bridge.RemoteUserID) id.UserID {
	return r.namer.MXID(string(remote))
}

func (r *recorder) GhostRemoteID(_ bridge.NetworkID, user id.UserID) (bridge.RemoteUserID, bool) {
	remote, ok := r.namer.RemoteID(user)
	return bridge.RemoteUserID(remote), ok
}

func (r *recorder) eventsOf(kind bridge.RemoteEventKind) []*bridge.RemoteEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*bridge.RemoteEvent
	for _, ev := range r.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (r *recorder) stateList() []bridge.SessionState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bridge.SessionState(nil), r.states...)
}

func (r *recorder) lastState() bridge.SessionStateKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return ""
	}
	return r.states[len(r.states)-1].Kind
}

// fixture is an emulator with alice (the Matrix user's Gitter account),
// bob and a group room and a one-to-one, and a started network.
type fixture struct {
	emu        *gitteremu.Server
	alice, bob gitterapi.User
	aliceTok   string
	// bot is the relay bot, in the group room, when the config asks for a
	// relay without giving a token.
	bot      gitterapi.User
	room, dm gitterapi.Room
	net      *Network
	core     *recorder
	user     *bridge.User
	logs     *syncBuffer
	ctx      context.Context
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFixture(t *testing.T, db *dbutil.Database, cfg Config) *fixture {
	t.Helper()
	f := &fixture{emu: gitteremu.New(gitteremu.Options{Heartbeat: 20 * time.Millisecond, FayeTimeout: 100 * time.Millisecond})}
	t.Cleanup(f.emu.Close)
	f.alice, f.aliceTok = f.emu.AddUser("alice", "Alice A")
	f.bob, _ = f.emu.AddUser("bob", "Bob B")
	f.room = f.emu.AddRoom("acme/chat", "Acme talk", gitterapi.RoomOrgChannel, f.alice.ID, f.bob.ID)
	f.dm = f.emu.AddOneToOne(f.alice.ID, f.bob.ID)
	if cfg.Relay != nil && cfg.Relay.Token == "" {
		var tok string
		f.bot, tok = f.emu.AddUser("relaybot", "Relay Bot")
		f.emu.Join(f.room.ID, f.bot.ID)
		cfg.Relay = &RelayConfig{Token: secret(tok)}
	}

	if db == nil {
		db = storagetest.Open(t, storage.SQLite)
	}
	cfg.Name = "gitter"
	cfg.APIURL, cfg.StreamURL, cfg.FayeURL = f.emu.APIURL(), f.emu.StreamURL(), f.emu.FayeURL()
	cfg.setDefaults()
	n := newNetwork(cfg)
	namer, err := puppet.NewNamer(ghostTemplate, cfg.Name, "example.org")
	require.NoError(t, err)
	n.minBackoff, n.maxBackoff = 5*time.Millisecond, 50*time.Millisecond
	n.positionFlush = 10 * time.Millisecond
	n.clientTweak = func(o *gitterapi.Options) { o.RetryBase = time.Millisecond; o.StreamIdle = time.Second }
	f.net = n
	f.core = &recorder{db: db, namer: namer}
	f.logs = &syncBuffer{}
	log := zerolog.New(f.logs).Level(zerolog.TraceLevel)
	ctx, cancel := context.WithCancel(log.WithContext(context.Background()))
	t.Cleanup(cancel)
	f.ctx = ctx
	require.NoError(t, n.start(ctx, f.core))
	f.user = &bridge.User{MXID: "@alice:example.org", Permission: bridge.PermUser}
	return f
}

// login logs alice in and connects, waiting until the session is up.
func (f *fixture) login(t *testing.T) *Session {
	t.Helper()
	l, sess, err := f.net.Login(f.ctx, f.user, []string{f.aliceTok})
	require.NoError(t, err)
	s := sess.(*Session)
	require.Equal(t, bridge.RemoteUserID(f.alice.ID), l.RemoteID)
	s.Connect(f.ctx)
	t.Cleanup(func() { _ = s.Disconnect(context.Background()) })
	f.waitConnected(t)
	return s
}

func (f *fixture) waitConnected(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		return f.core.lastState() == bridge.StateConnected && f.emu.StreamCount() == 2 &&
			len(f.emu.FayeSubscriptions(f.alice.ID)) == 5
	}, 5*time.Second, 2*time.Millisecond, "session never connected")
}

func (f *fixture) ghost(u gitterapi.User) id.UserID { return f.core.namer.MXID(u.ID) }

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 2*time.Millisecond, msg)
}
