package irc

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage"
)

func init() {
	// Reconnects in tests should not wait a whole second.
	backoffBase = 100 * time.Millisecond
}

// fakeCore records what the adapter hands the core, and keeps portals the
// way the core would: an event allowed to create its portal does.
type fakeCore struct {
	mu      sync.Mutex
	cond    *sync.Cond
	events  []*bridge.RemoteEvent
	notices map[id.UserID][]string
	portals map[bridge.PortalKey]*bridge.Portal
	states  []bridge.SessionState
}

func newFakeCore() *fakeCore {
	c := &fakeCore{notices: map[id.UserID][]string{}, portals: map[bridge.PortalKey]*bridge.Portal{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeCore) QueueRemoteEvent(_ context.Context, ev *bridge.RemoteEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.CreatePortal && ev.Portal.Chat != "" {
		if _, ok := c.portals[ev.Portal]; !ok {
			c.portals[ev.Portal] = &bridge.Portal{Key: ev.Portal, MXID: roomFor(ev.Portal), IsDM: ev.Portal.Receiver != ""}
		}
	}
	c.events = append(c.events, ev)
	c.cond.Broadcast()
	return nil
}

func roomFor(k bridge.PortalKey) id.RoomID {
	return id.RoomID("!" + strings.NewReplacer("#", "", "/", "_", "@", "").Replace(k.String()) + ":test")
}

func (c *fakeCore) ReportState(_ context.Context, _ *bridge.Login, st bridge.SessionState) {
	c.mu.Lock()
	c.states = append(c.states, st)
	c.mu.Unlock()
}

func (c *fakeCore) SaveLogin(context.Context, *bridge.Login) error { return nil }

func (c *fakeCore) Notify(_ context.Context, user id.UserID, text string) {
	c.mu.Lock()
	c.notices[user] = append(c.notices[user], text)
	c.cond.Broadcast()
	c.mu.Unlock()
}

func (c *fakeCore) GetPortal(_ context.Context, key bridge.PortalKey) (*bridge.Portal, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.portals[key]; ok {
		cp := *p
		return &cp, nil
	}
	return nil, nil
}

func (c *fakeCore) Portals(context.Context) ([]*bridge.Portal, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*bridge.Portal, 0, len(c.portals))
	for _, p := range c.portals {
		cp := *p
		out = append(out, &cp)
	}
	return out, nil
}

// addPortal makes a portal exist, as the core does after ResolveChat.
func (c *fakeCore) addPortal(key bridge.PortalKey) id.RoomID {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := roomFor(key)
	c.portals[key] = &bridge.Portal{Key: key, MXID: room}
	return room
}

// waitEvent returns the first event after *from that matches, and moves
// *from past it; the test fails after 15 s.
func (c *fakeCore) waitEvent(t *testing.T, from *int, what string, match func(*bridge.RemoteEvent) bool) *bridge.RemoteEvent {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	timer := time.AfterFunc(15*time.Second, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i := *from; i < len(c.events); i++ {
			if match(c.events[i]) {
				*from = i + 1
				return c.events[i]
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for i, ev := range c.events {
				fmt.Fprintf(&b, "  %d %s %s sender=%s member=%v content=%v info=%v\n", i, ev.Kind, ev.Portal, ev.Sender.ID, ev.Member, ev.Content, ev.ChatInfo)
			}
			t.Fatalf("timed out waiting for %s (from %d); events:\n%s", what, *from, b.String())
		}
		c.cond.Wait()
	}
}

// end is the index after the last event, for waits that start now.
func (c *fakeCore) end() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *fakeCore) since(from int) []*bridge.RemoteEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*bridge.RemoteEvent(nil), c.events[from:]...)
}

func (c *fakeCore) waitNotice(t *testing.T, user id.UserID, substr string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, n := range c.notices[user] {
			if strings.Contains(n, substr) {
				c.mu.Unlock()
				return n
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no notice to %s containing %q; got %v", user, substr, c.notices[user])
	return ""
}

// fakeMatrix answers the adapter's Matrix reads from what the test set.
type fakeMatrix struct {
	mu    sync.Mutex
	names map[id.UserID]string
	texts map[id.EventID]string
}

func newFakeMatrix() *fakeMatrix {
	return &fakeMatrix{names: map[id.UserID]string{}, texts: map[id.EventID]string{}}
}

func (m *fakeMatrix) DisplayName(_ context.Context, _ id.RoomID, user id.UserID) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.names[user]
}

func (m *fakeMatrix) JoinedGhosts(context.Context, id.RoomID, *puppet.Namer) (map[id.UserID]bool, error) {
	return nil, nil
}

func (m *fakeMatrix) EventText(_ context.Context, _ id.RoomID, evt id.EventID) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.texts[evt], nil
}

// testNet is a started Network on a real IRC server, with fakes for the
// core and Matrix.
type testNet struct {
	*Network
	core *fakeCore
	mx   *fakeMatrix
	srv  *irctest.Server
}

const testDomain = "isthmus.test"

// startNetwork starts an adapter network against srv; edit may change the
// config first (it starts with one static channel, #bridged).
func startNetwork(t testing.TB, srv *irctest.Server, edit func(*Config)) *testNet {
	t.Helper()
	return startNetworkLogging(t, srv, edit, nil)
}

// startNetworkLogging is startNetwork that also writes every log line,
// down to the IRC lines logged at trace level, to all when it is not nil.
func startNetworkLogging(t testing.TB, srv *irctest.Server, edit func(*Config), all io.Writer) *testNet {
	t.Helper()
	cfg := defaultConfig()
	cfg.Name = "test"
	cfg.Address = srv.Addr
	cfg.Channels = []ChannelConfig{{Channel: "#bridged"}}
	cfg.Limits.ConnectsPerSecond, cfg.Limits.ConnectsInFlight = 50, 50
	cfg.Limits.LinesPerSecond, cfg.Limits.LineBurst = 50, 20
	cfg.Membership.JoinRate = 200
	if edit != nil {
		edit(&cfg)
	}
	n, err := newNetwork(cfg, testDomain)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, storage.Config{Type: storage.SQLite, URI: filepath.Join(t.TempDir(), "irc.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	level := zerolog.InfoLevel
	if testing.Verbose() {
		level = zerolog.DebugLevel
	}
	tw := lateSafeWriter(t)
	log := zerolog.New(tw).Level(level)
	if all != nil {
		shown := &zerolog.FilteredLevelWriter{Writer: zerolog.LevelWriterAdapter{Writer: tw}, Level: level}
		log = zerolog.New(zerolog.MultiLevelWriter(all, shown)).Level(zerolog.TraceLevel)
	}
	tn := &testNet{Network: n, core: newFakeCore(), mx: newFakeMatrix(), srv: srv}
	require.NoError(t, n.start(log.WithContext(context.Background()), tn.core, tn.mx,
		db.Child("irc_version", upgradeTable, nil), "http://matrix.test"))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(sctx)
	})
	return tn
}

// offlineNetwork is a Network with a bot that never connects, for tests
// that feed the bot's handlers lines by hand; edit may change the config.
func offlineNetwork(t *testing.T, name string, edit func(*Config)) (*Network, *fakeCore) {
	t.Helper()
	cfg := defaultConfig()
	cfg.Name = name
	if edit != nil {
		edit(&cfg)
	}
	n, err := newNetwork(cfg, testDomain)
	require.NoError(t, err)
	core := newFakeCore()
	n.core, n.mx = core, newFakeMatrix()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	n.ctx = ctx
	n.bot = newBot(n)
	return n, core
}

// waitBotIn waits until the bot has the channel's member list and, for a
// configured channel, its portal: that is made just after the join, and
// tests go on to use it.
func (tn *testNet) waitBotIn(t testing.TB, channel string) {
	t.Helper()
	require.Eventually(t, func() bool {
		ch := tn.bot.channel(channel)
		if ch == nil || !ch.isSynced() {
			return false
		}
		p, _ := tn.core.GetPortal(context.Background(), tn.channelKey(channel))
		return !ch.static || p != nil
	}, 15*time.Second, 10*time.Millisecond, "bot did not join %s", channel)
}

func isKind(kind bridge.RemoteEventKind) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool { return ev.Kind == kind }
}

func isMessage(body string) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool {
		return ev.Kind == bridge.RemoteMessage && ev.Content != nil && ev.Content.Body == body
	}
}

// matrixMessage builds what the core hands the adapter for a Matrix text.
func matrixMessage(portal *bridge.Portal, user id.UserID, name, body string) *bridge.MatrixMessage {
	return matrixContent(portal, user, name, &event.MessageEventContent{MsgType: event.MsgText, Body: body})
}

var evtSeq atomic.Int64

func matrixContent(portal *bridge.Portal, user id.UserID, name string, content *event.MessageEventContent) *bridge.MatrixMessage {
	evt := &event.Event{ID: id.EventID(fmt.Sprintf("$evt%d", evtSeq.Add(1))), Sender: user, RoomID: portal.MXID, Type: event.EventMessage}
	return &bridge.MatrixMessage{Portal: portal, Sender: &bridge.User{MXID: user}, Event: evt, Content: content, SenderName: name}
}

// startPuppet connects user's puppet and returns it once registered.
func (tn *testNet) startPuppet(t testing.TB, user id.UserID) (*Puppet, *Conn) {
	t.Helper()
	p, err := tn.puppetFor(testCtx(t), user)
	require.NoError(t, err)
	p.conn.start()
	c, err := p.conn.wait(testCtx(t))
	require.NoError(t, err)
	return p, c
}

// session gives a Matrix user their puppet the way the core does on their
// first message or join: AutoSession, then Connect.
func (tn *testNet) session(t *testing.T, user id.UserID, name string) *Puppet {
	t.Helper()
	if name != "" {
		tn.mx.mu.Lock()
		tn.mx.names[user] = name
		tn.mx.mu.Unlock()
	}
	l, s, err := tn.AutoSession(testCtx(t), &bridge.User{MXID: user})
	require.NoError(t, err)
	require.NotNil(t, l)
	s.Connect(testCtx(t))
	return s.(*Puppet)
}

// send hands a Matrix message to the session of its sender, named name.
func (tn *testNet) send(t *testing.T, msg *bridge.MatrixMessage, name string) error {
	t.Helper()
	_, err := tn.session(t, msg.Sender.MXID, name).HandleMatrixMessage(testCtx(t), msg)
	return err
}

// membership hands the session a Matrix membership change of its user.
func (tn *testNet) membership(t *testing.T, portal *bridge.Portal, user id.UserID, name string, ms, prev event.Membership) {
	t.Helper()
	p := tn.session(t, user, "")
	evt := &event.Event{Type: event.StateMember, Sender: user, RoomID: portal.MXID,
		Content: event.Content{Parsed: &event.MemberEventContent{Membership: ms, Displayname: name}}}
	require.NoError(t, p.HandleMatrixMembership(testCtx(t), &bridge.MatrixMembership{
		Portal: portal, Sender: &bridge.User{MXID: user}, Event: evt, Membership: ms, Previous: prev}))
}

// lateSafeWriter writes log lines to the test's log until the test has
// ended, then drops them: a connection goroutine finishing its last log
// line just after Stop returned would otherwise panic the whole test
// binary ("Log in goroutine after ... has completed").
func lateSafeWriter(t testing.TB) io.Writer {
	w := &dropAfterEnd{w: zerolog.NewTestWriter(t)}
	t.Cleanup(func() {
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
	})
	return w
}

type dropAfterEnd struct {
	mu    sync.Mutex
	ended bool
	w     io.Writer
}

func (d *dropAfterEnd) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return len(p), nil
	}
	return d.w.Write(p)
}

// logBuffer keeps the log lines written to it, for tests that wait for
// what only the log shows (that an event reached the bridge) or say what
// the log never held (a password).
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.Split(strings.TrimRight(string(p), "\n"), "\n")...)
	return len(p), nil
}

// count is how many lines hold every one of parts.
func (l *logBuffer) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func (l *logBuffer) has(parts ...string) bool { return l.count(parts...) > 0 }
