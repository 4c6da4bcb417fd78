// Package bridgeworld gives end-to-end tests a whole world to talk in: a
// real Dendrite homeserver with the bridge's registration, the bridge itself
// running in the test's process with any networks, and Matrix users with
// clients. Adapters' tests bring their own remote side (an emulator) and
// use this for the Matrix side.
package bridgeworld

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v2"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// Domain is the homeserver's server name.
const Domain = dendrite.Domain

// Options shape the world. The zero value is SQLite with no networks.
type Options struct {
	// DB is the bridge's database engine; SQLite when empty.
	DB storage.Type
	// Networks is the networks: section, e.g.
	// {"loopback": []any{map[string]any{"name": "loop", "url": u}}}.
	Networks map[string]any
	// Permissions replaces the default bridge.permissions: everyone relay,
	// the test domain user, @mallory relay only, @admin admin.
	Permissions map[string]string
	// Top adds or replaces top-level config sections (e.g. "metrics").
	Top map[string]any
	// Bridge adds keys to the bridge section (e.g. "portal").
	Bridge map[string]any
	// Log, when set, also receives every log line at debug level (tests
	// that check secrets never reach the logs read it).
	Log io.Writer
	// BeforeStart may adjust the networks built from the config before each
	// start (shorter backoffs for tests).
	BeforeStart func(nets []bridge.Network)
}

// World is one test's homeserver and bridge.
type World struct {
	T          *testing.T
	HS         *dendrite.Server
	ConfigPath string
	// Config and Bridge are those of the running bridge (after StartBridge).
	Config *bridge.Config
	Bridge *bridge.Bridge

	opts Options
	hold net.Listener // the bridge's port, held until it starts
	stop context.CancelFunc
	done chan error
}

// FreeAddr returns a free 127.0.0.1 port to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func token() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// New writes the bridge's config and registration and starts Dendrite with
// it; the bridge itself starts with StartBridge.
func New(t *testing.T, opts Options) *World {
	t.Helper()
	dir := t.TempDir()
	// Hold the bridge's port until the bridge starts: Dendrite, started in
	// between, binds ports of its own and could otherwise take it.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := hold.Addr().String()
	typ := opts.DB
	if typ == "" {
		typ = storage.SQLite
	}
	dbCfg := storagetest.Config(t, typ)
	if typ == storage.SQLite {
		dbCfg.URI = filepath.Join(dir, "isthmus.db")
	}
	perms := opts.Permissions
	if perms == nil {
		perms = map[string]string{"*": "relay", Domain: "user", "@mallory:" + Domain: "relay", "@admin:" + Domain: "admin"}
	}
	networks := opts.Networks
	if networks == nil {
		networks = map[string]any{}
	}
	cfg := map[string]any{
		"homeserver": map[string]any{"address": "http://127.0.0.1:1", "domain": Domain},
		"appservice": map[string]any{
			"listen": listen, "url": "http://" + listen, "id": "isthmus",
			"bot":      map[string]any{"localpart": "isthmusbot", "displayname": "Isthmus"},
			"as_token": token(), "hs_token": token(),
		},
		"database": map[string]any{"type": string(dbCfg.Type), "uri": dbCfg.URI},
		"bridge":   bridgeSection(perms, opts.Bridge),
		"logging":  map[string]any{"level": "debug", "format": "json"},
		"networks": networks,
	}
	for k, v := range opts.Top {
		cfg[k] = v
	}
	write := func() []byte {
		data, err := yaml.Marshal(cfg)
		require.NoError(t, err)
		return data
	}
	w := &World{T: t, ConfigPath: filepath.Join(dir, "config.yaml"), opts: opts, hold: hold}
	t.Cleanup(func() { w.ReleasePort() })
	// The registration needs only the bridge's own address and the
	// networks' templates; the homeserver address comes after Dendrite runs.
	parsed, err := bridge.ParseConfig(write())
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(parsed)
	require.NoError(t, err)
	br, err := bridge.New(parsed, zerolog.Nop(), nets)
	require.NoError(t, err)
	reg, err := br.Registration().YAML()
	require.NoError(t, err)
	regPath := filepath.Join(dir, "registration.yaml")
	require.NoError(t, os.WriteFile(regPath, []byte(reg), 0o600))

	w.HS = dendrite.Start(t, dendrite.Options{RegistrationPath: regPath})
	cfg["homeserver"].(map[string]any)["address"] = w.HS.URL
	require.NoError(t, os.WriteFile(w.ConfigPath, write(), 0o600))
	return w
}

func bridgeSection(perms map[string]string, extra map[string]any) map[string]any {
	section := map[string]any{"permissions": perms}
	for k, v := range extra {
		section[k] = v
	}
	return section
}

// Start is New followed by StartBridge.
func Start(t *testing.T, opts Options) *World {
	w := New(t, opts)
	w.StartBridge()
	return w
}

// StartBridge runs the bridge in this process until the test ends or
// StopBridge is called, and waits until it listens.
func (w *World) StartBridge() {
	t := w.T
	t.Helper()
	w.ReleasePort()
	cfg, err := bridge.LoadConfig(w.ConfigPath)
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	if w.opts.BeforeStart != nil {
		w.opts.BeforeStart(nets)
	}
	level := zerolog.InfoLevel
	if testing.Verbose() {
		level = zerolog.DebugLevel
	}
	var out io.Writer = zerolog.NewTestWriter(t)
	if w.opts.Log != nil {
		// The capture gets debug lines; the test log keeps its level. Its
		// writes are serialised, so a plain buffer will do.
		out = zerolog.MultiLevelWriter(levelWriter{w: out, min: level}, zerolog.SyncWriter(w.opts.Log))
		level = zerolog.DebugLevel
	}
	log := zerolog.New(out).Level(level).With().Timestamp().Logger()
	br, err := bridge.New(cfg, log, nets)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.Config, w.Bridge, w.stop, w.done = cfg, br, cancel, make(chan error, 1)
	go func() { w.done <- br.Run(log.WithContext(ctx), bridge.Options{}) }()
	t.Cleanup(w.StopBridge)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", cfg.Appservice.Listen)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case err := <-w.done:
			// Run ended before listening: say why instead of waiting.
			w.stop = nil
			t.Fatalf("bridge stopped while starting: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("bridge did not start listening")
		}
	}
}

// ReleasePort frees the bridge's held port for a bridge started outside this
// process (StartBridge does it itself).
func (w *World) ReleasePort() {
	if w.hold != nil {
		_ = w.hold.Close()
		w.hold = nil
	}
}

// StopBridge stops the bridge gracefully; it may be started again.
func (w *World) StopBridge() {
	if w.stop == nil {
		return
	}
	w.stop()
	select {
	case err := <-w.done:
		require.NoError(w.T, err)
	case <-time.After(30 * time.Second):
		w.T.Error("bridge did not stop")
	}
	w.stop = nil
}

// PushTransaction sends events to the bridge as the homeserver does, for
// what Dendrite does not send: redactions (Dendrite PR #3445) and
// ephemeral events.
func (w *World) PushTransaction(events ...map[string]any) {
	w.PushRaw(map[string]any{"events": events})
}

// PushRaw sends a whole transaction body.
func (w *World) PushRaw(body map[string]any) {
	w.T.Helper()
	data, err := json.Marshal(body)
	require.NoError(w.T, err)
	url := fmt.Sprintf("http://%s/_matrix/app/v1/transactions/test-%s", w.Config.Appservice.Listen, token())
	req, err := http.NewRequestWithContext(Ctx(w.T), http.MethodPut, url, bytes.NewReader(data))
	require.NoError(w.T, err)
	req.Header.Set("Authorization", "Bearer "+w.Config.Appservice.HSToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.T, err)
	_ = resp.Body.Close()
	require.Equal(w.T, http.StatusOK, resp.StatusCode)
}

// levelWriter passes on only lines at or above min.
type levelWriter struct {
	w   io.Writer
	min zerolog.Level
}

func (l levelWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

func (l levelWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	if level < l.min {
		return len(p), nil
	}
	return l.w.Write(p)
}

// Ctx is a context bounded to a minute and the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
