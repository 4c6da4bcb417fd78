package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

const testHSToken = "hs-secret-token"

func testConfig() Config {
	return Config{
		Listen:  "127.0.0.1:0",
		URL:     "http://127.0.0.1:29300",
		ID:      "isthmus",
		Bot:     BotConfig{Localpart: "isthmusbot", Displayname: "Isthmus"},
		ASToken: "as-secret-token",
		HSToken: testHSToken,
	}
}

// testContext carries a logger: silent unless ISTHMUS_TEST_LOG is set.
func testContext() context.Context {
	log := zerolog.Nop()
	if os.Getenv("ISTHMUS_TEST_LOG") != "" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	return log.WithContext(context.Background())
}

// recorder is a Handler that records what it is given. handle, when set,
// decides HandleEvent's result; it runs before the event is recorded as
// handled (only nil results are recorded).
type recorder struct {
	handle func(ctx context.Context, evt *event.Event) error

	mu        sync.Mutex
	handled   []*event.Event
	failed    []failure
	ephemeral []*event.Event
	users     map[id.UserID]bool
	aliases   map[id.RoomAlias]bool
}

type failure struct {
	evt *event.Event
	err error
}

func (r *recorder) HandleEvent(ctx context.Context, evt *event.Event) error {
	if r.handle != nil {
		if err := r.handle(ctx, evt); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.handled = append(r.handled, evt)
	r.mu.Unlock()
	return nil
}

func (r *recorder) EventFailed(_ context.Context, evt *event.Event, err error) {
	r.mu.Lock()
	r.failed = append(r.failed, failure{evt, err})
	r.mu.Unlock()
}

func (r *recorder) HandleEphemeral(_ context.Context, evt *event.Event) {
	r.mu.Lock()
	r.ephemeral = append(r.ephemeral, evt)
	r.mu.Unlock()
}

func (r *recorder) QueryUser(_ context.Context, userID id.UserID) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if userID == "@error:example.org" {
		return false, fmt.Errorf("lookup broke")
	}
	return r.users[userID], nil
}

func (r *recorder) QueryAlias(_ context.Context, alias id.RoomAlias) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aliases[alias], nil
}

// handledIDs lists the IDs of handled events, in the order handled.
func (r *recorder) handledIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, len(r.handled))
	for i, evt := range r.handled {
		ids[i] = string(evt.ID)
	}
	return ids
}

func (r *recorder) handledIn(room id.RoomID) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, evt := range r.handled {
		if evt.RoomID == room {
			ids = append(ids, string(evt.ID))
		}
	}
	return ids
}

func (r *recorder) failures() []failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]failure(nil), r.failed...)
}

func (r *recorder) ephemerals() []*event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*event.Event(nil), r.ephemeral...)
}

// option adjusts a server between NewServer and Start.
type option func(*Server)

func withMaxBacklog(n int) option {
	return func(s *Server) { s.cfg.MaxBacklog, s.disp.maxBacklog = n, n }
}

func withWorkers(n int) option { return func(s *Server) { s.cfg.Workers = n } }

func withMaxAttempts(n int) option { return func(s *Server) { s.cfg.MaxAttempts = n } }

func withRetry(base, max time.Duration) option {
	return func(s *Server) { s.retryBase, s.retryMax = base, max }
}

// newServer builds a started server with fast retries, stopped at cleanup.
func newServer(t testing.TB, db *dbutil.Database, h Handler, opts ...option) *Server {
	t.Helper()
	srv, err := NewServer(testConfig(), db, h)
	require.NoError(t, err)
	srv.retryBase = time.Millisecond
	srv.retryMax = 10 * time.Millisecond
	for _, o := range opts {
		o(srv)
	}
	require.NoError(t, srv.Start(testContext()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return srv
}

func sqliteDB(t testing.TB) *dbutil.Database {
	return storagetest.Open(t, storage.SQLite)
}

// msg is a message event in a room; its ID is "$<room>-<n>".
func msg(room string, n int) map[string]any {
	return map[string]any{
		"type":             "m.room.message",
		"room_id":          "!" + room + ":example.org",
		"event_id":         fmt.Sprintf("$%s-%d", room, n),
		"sender":           "@alice:example.org",
		"origin_server_ts": 1700000000000 + n,
		"content":          map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("hello %d", n)},
	}
}

func roomID(room string) id.RoomID { return id.RoomID("!" + room + ":example.org") }

func eventID(room string, n int) string { return fmt.Sprintf("$%s-%d", room, n) }

func txnJSON(t testing.TB, events ...map[string]any) []byte {
	t.Helper()
	if events == nil {
		events = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"events": events})
	require.NoError(t, err)
	return b
}

// do sends a request with the right hs_token in the header.
func do(h http.Handler, method, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testHSToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func put(srv *Server, txnID string, body []byte) *httptest.ResponseRecorder {
	return do(srv.Handler(), http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, body)
}

// errcode reads the errcode of an error answer.
func errcode(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		ErrCode string `json:"errcode"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "body %q", rec.Body.String())
	return body.ErrCode
}

func countRows(t testing.TB, db *dbutil.Database, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

func seqIDs(room string, from, to int) []string {
	var ids []string
	for n := from; n <= to; n++ {
		ids = append(ids, eventID(room, n))
	}
	return ids
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func newPut(ctx context.Context, txnID string, body []byte) *http.Request {
	req := httptest.NewRequestWithContext(ctx, http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testHSToken)
	return req
}

func serve(srv *Server, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}
