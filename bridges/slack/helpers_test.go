package slack

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage"
)

// recorder stands in for the core: it keeps what the adapter queues and
// reports, and knows the portals a test says exist.
type recorder struct {
	mu      sync.Mutex
	events  []*bridge.RemoteEvent
	taken   []bool
	states  []bridge.SessionState
	portals map[bridge.PortalKey]*bridge.Portal
	media   map[id.ContentURIString][]byte
	mapped  map[bridge.MessageID]id.EventID // RecordRemoteID calls
	ghosts  *puppet.Namer
	changed chan struct{}
}

func newRecorder() *recorder {
	namer, err := puppet.NewNamer(ghostTemplate, string(networkID), "example.org")
	if err != nil {
		panic(err)
	}
	return &recorder{
		portals: map[bridge.PortalKey]*bridge.Portal{},
		media:   map[id.ContentURIString][]byte{},
		mapped:  map[bridge.MessageID]id.EventID{},
		ghosts:  namer,
		changed: make(chan struct{}, 1),
	}
}

func (r *recorder) DownloadMedia(_ context.Context, uri id.ContentURIString) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, ok := r.media[uri]
	if !ok {
		return nil, fmt.Errorf("%w: no media %s", bridge.ErrPermanent, uri)
	}
	return data, nil
}

func (r *recorder) addMedia(uri id.ContentURIString, data string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.media[uri] = []byte(data)
}

func (r *recorder) RecordRemoteID(_ context.Context, msg *bridge.MatrixMessage, remoteID bridge.MessageID, _ time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.mapped[remoteID]; ok {
		return false, nil
	}
	r.mapped[remoteID] = msg.Event.ID
	r.signal()
	return true, nil
}

// mappedTo waits until a remote ID was recorded for a Matrix event.
func (r *recorder) mappedTo(t testing.TB, evt id.EventID) bridge.MessageID {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for remote, e := range r.mapped {
			if e == evt {
				r.mu.Unlock()
				return remote
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s was never mapped to a remote ID", evt)
	return ""
}

func (r *recorder) GhostMXID(_ bridge.NetworkID, remote bridge.RemoteUserID) id.UserID {
	return r.ghosts.MXID(string(remote))
}

func (r *recorder) GhostRemoteID(_ bridge.NetworkID, user id.UserID) (bridge.RemoteUserID, bool) {
	remote, ok := r.ghosts.RemoteID(user)
	return bridge.RemoteUserID(remote), ok
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) QueueRemoteEvent(_ context.Context, ev *bridge.RemoteEvent) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.taken = append(r.taken, false)
	r.mu.Unlock()
	r.signal()
	return nil
}

func (r *recorder) ReportState(ctx context.Context, _ *bridge.Login, st bridge.SessionState) {
	// The core logs every state change with its message; so does this
	// stand-in, so the secrets test sees what the core would print.
	zerolog.Ctx(ctx).Info().Str("state", string(st.Kind)).Str("detail", st.Message).Msg("Session state changed")
	r.mu.Lock()
	r.states = append(r.states, st)
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) GetPortal(_ context.Context, key bridge.PortalKey) (*bridge.Portal, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.portals[key], nil
}

func (r *recorder) PortalByRoom(_ context.Context, room id.RoomID) (*bridge.Portal, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.portals {
		if p.MXID == room {
			return p, nil
		}
	}
	return nil, nil
}

// take waits for the first unconsumed event that matches and consumes it.
func (r *recorder) take(t testing.TB, match func(*bridge.RemoteEvent) bool) *bridge.RemoteEvent {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		for i, ev := range r.events {
			if !r.taken[i] && match(ev) {
				r.taken[i] = true
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no matching remote event; have %d events", r.count())
			return nil
		}
	}
}

// none checks that no unconsumed event matches, after giving the adapter
// a moment to produce one.
func (r *recorder) none(t *testing.T, wait time.Duration, match func(*bridge.RemoteEvent) bool) {
	t.Helper()
	time.Sleep(wait)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ev := range r.events {
		if !r.taken[i] && match(ev) {
			t.Fatalf("unexpected remote event %s %s", ev.Kind, ev.ID)
		}
	}
}

// noneAfter checks that no event from index from on matches: what came
// before (duplicates the core would drop) does not count.
func (r *recorder) noneAfter(t *testing.T, from int, wait time.Duration, match func(*bridge.RemoteEvent) bool) {
	t.Helper()
	time.Sleep(wait)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events[from:] {
		if match(ev) {
			t.Fatalf("unexpected remote event %s %s", ev.Kind, ev.ID)
		}
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *recorder) waitState(t testing.TB, kind bridge.SessionStateKind) bridge.SessionState {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		for i := len(r.states) - 1; i >= 0; i-- {
			if r.states[i].Kind == kind {
				st := r.states[i]
				r.states = r.states[i+1:]
				r.mu.Unlock()
				return st
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			// Fatalf ends the goroutine: unlock first, or the cleanups
			// that report states wait forever.
			r.mu.Lock()
			states := slices.Clone(r.states)
			r.mu.Unlock()
			t.Fatalf("session never reached %s; states since: %v", kind, states)
		}
	}
}

func kindIs(kind bridge.RemoteEventKind) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool { return ev.Kind == kind }
}

func messageWith(body string) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool {
		return ev.Kind == bridge.RemoteMessage && ev.Content != nil && ev.Content.Body == body
	}
}

// Tokens of the test workspace. Alice logs in through the bridge with a
// user token, Carol with a browser session; Bob and Dave only use Slack.
const (
	team        = "T0001"
	aliceToken  = "xoxp-alice-secret-1"
	carolToken  = "xoxc-carol-secret-1"
	carolCookie = "xoxd-carol-cookie-secret"
	alice       = id.UserID("@alice:example.org")
	carol       = id.UserID("@carol:example.org")
)

// testApp is the workspace's Slack app for app mode.
var testApp = slackemu.App{ID: "A001", BotID: "B0APP", BotUser: "U0BOT", BotName: "isthmus", BotToken: "xoxb-app-secret-1", AppToken: "xapp-1-app-secret"}

// withApp turns app mode on.
func withApp(c *Config) {
	c.App = AppConfig{BotToken: secret(testApp.BotToken), AppToken: secret(testApp.AppToken), IconURL: "https://avatars.example/{localpart}.png"}
}

type testEnv struct {
	emu     *slackemu.Server
	net     *Network
	core    *recorder
	general string
	logs    *syncWriter
	ctx     context.Context
	// cfg and db are what the network was started with, for a test that
	// starts another one as after a restart.
	cfg Config
	db  *dbutil.Database
}

func newEnv(t testing.TB, tune ...func(*Config)) *testEnv {
	t.Helper()
	emu := slackemu.New(t, team, "Acme")
	emu.AddUser(slackemu.User{ID: "U001", Name: "alice", Profile: slackemu.UserProfile{DisplayName: "Alice"}})
	emu.AddUser(slackemu.User{ID: "U002", Name: "bob", Profile: slackemu.UserProfile{DisplayName: "Bob", Image192: "https://avatars.example/bob.png", AvatarHash: "b0b"}})
	emu.AddUser(slackemu.User{ID: "U003", Name: "carol"})
	emu.AddUser(slackemu.User{ID: "U004", Name: "dave"})
	emu.AddToken(slackemu.Token{Value: aliceToken, User: "U001"})
	emu.AddToken(slackemu.Token{Value: carolToken, User: "U003", Cookie: carolCookie})
	general := emu.AddConversation(slackemu.Conversation{ID: "C0GENERAL", Name: "general", Topic: "company-wide", Members: []string{"U001", "U002", "U003"}})
	// The app is installed but unused unless a test turns app mode on
	// (withApp) and adds its bot to a channel.
	emu.AddApp(testApp)

	cfg := DefaultConfig()
	cfg.APIURL = emu.APIURL()
	cfg.Backfill = 5
	cfg.MaxRetryAfter = 5 * time.Second
	for _, f := range tune {
		f(&cfg)
	}
	n := NewNetwork(cfg, bridge.CommonConfig{Domain: "example.org"})
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Config{Type: storage.SQLite, URI: filepath.Join(t.TempDir(), "slack.db")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	core := newRecorder()
	slackDB := db.Child("slack_version", upgrades, nil)
	require.NoError(t, n.start(ctx, core, slackDB))

	sw := &syncWriter{w: &bytes.Buffer{}}
	log := zerolog.New(sw).Level(zerolog.TraceLevel).With().Timestamp().Logger()
	t.Cleanup(func() {
		if t.Failed() {
			// What the sessions said is the first thing to read.
			lines := strings.Split(strings.TrimSpace(sw.String()), "\n")
			t.Logf("last session log lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return &testEnv{emu: emu, net: n, core: core, general: general, logs: sw, ctx: log.WithContext(ctx), cfg: cfg, db: slackDB}
}

// syncWriter lets the session goroutines and the test share one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// login logs a Matrix user in and connects the session; it returns once
// the session is connected and has synced.
func (e *testEnv) login(t testing.TB, mxid id.UserID, args ...string) *Session {
	t.Helper()
	l, sess, err := e.net.Login(e.ctx, &bridge.User{MXID: mxid}, args)
	require.NoError(t, err)
	require.NotNil(t, l)
	s := sess.(*Session)
	s.Connect(e.ctx)
	t.Cleanup(func() { _ = s.Disconnect(context.Background()) })
	e.core.waitState(t, bridge.StateConnected)
	return s
}
