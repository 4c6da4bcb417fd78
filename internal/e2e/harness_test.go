package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	_ "github.com/isthmus-bridge/isthmus/internal/loopback"
	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// world is one test's homeserver, remote network and bridge.
type world struct {
	t          *testing.T
	hs         *dendrite.Server
	remote     *remote.Server
	configPath string
	loopOpts   string
	cfg        *bridge.Config
	br         *bridge.Bridge
	stop       context.CancelFunc
	done       chan error
}

func freeAddr(t *testing.T) string {
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

// configText is a bridge config for the test world; the homeserver address
// is filled in once Dendrite runs.
func configText(listen, hsURL, dbYAML, remoteURL, extra, loopOpts string) string {
	return fmt.Sprintf(`homeserver: {address: %q, domain: %s}
appservice:
  listen: %q
  url: "http://%s"
  id: isthmus
  bot: {localpart: isthmusbot, displayname: Isthmus}
  as_token: %q
  hs_token: %q
database: %s
bridge:
  permissions: {"*": relay, "%s": user, "@mallory:%s": relay, "@admin:%s": admin}
%s
logging: {level: debug, format: json}
networks:
  loopback:
    - {name: loop, url: %q%s}
`, hsURL, dendrite.Domain, listen, listen, asToken, hsToken, dbYAML, dendrite.Domain, dendrite.Domain, dendrite.Domain, extra, remoteURL, loopOpts)
}

var asToken, hsToken = token(), token()

// newWorld starts the remote network, Dendrite with the bridge's
// registration, and the bridge in this process.
func newWorld(t *testing.T, bridgeExtra string) *world {
	t.Helper()
	w := newWorldNoBridge(t, bridgeExtra)
	w.startBridge()
	return w
}

// newWorldNoBridge starts the remote network and Dendrite and writes the
// bridge config (SQLite), leaving the bridge to the test.
func newWorldNoBridge(t *testing.T, bridgeExtra ...string) *world {
	t.Helper()
	return newWorldOn(t, storage.SQLite, bridgeExtra...)
}

// newWorldOn is newWorldNoBridge with the bridge on the given database.
func newWorldOn(t *testing.T, typ storage.Type, bridgeExtra ...string) *world {
	t.Helper()
	return newWorldWith(t, typ, "", bridgeExtra...)
}

// newWorldWith also sets extra keys of the loopback network's entry, e.g.
// ", auto_sessions: true".
func newWorldWith(t *testing.T, typ storage.Type, loopOpts string, bridgeExtra ...string) *world {
	t.Helper()
	extra := strings.Join(bridgeExtra, "\n")
	w := &world{t: t, remote: remote.New(), loopOpts: loopOpts}
	t.Cleanup(w.remote.Close)
	dir := t.TempDir()
	listen := freeAddr(t)
	w.configPath = filepath.Join(dir, "config.yaml")
	// First pass: the registration only needs the bridge's own address.
	dbCfg := storagetest.Config(t, typ)
	if typ == storage.SQLite {
		dbCfg.URI = filepath.Join(dir, "isthmus.db")
	}
	dbYAML := fmt.Sprintf("{type: %s, uri: %q}", dbCfg.Type, dbCfg.URI)
	text := configText(listen, "http://127.0.0.1:1", dbYAML, w.remote.URL, extra, w.loopOpts)
	cfg, err := bridge.ParseConfig([]byte(text))
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	br, err := bridge.New(cfg, zerolog.Nop(), nets)
	require.NoError(t, err)
	regYAML, err := br.Registration().YAML()
	require.NoError(t, err)
	regPath := filepath.Join(dir, "registration.yaml")
	require.NoError(t, os.WriteFile(regPath, []byte(regYAML), 0o600))

	w.hs = dendrite.Start(t, dendrite.Options{RegistrationPath: regPath})
	text = strings.Replace(text, "http://127.0.0.1:1", w.hs.URL, 1)
	require.NoError(t, os.WriteFile(w.configPath, []byte(text), 0o600))
	return w
}

// startBridge runs the bridge in this process until the test ends or
// stopBridge is called.
func (w *world) startBridge() {
	t := w.t
	cfg, err := bridge.LoadConfig(w.configPath)
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	if testing.Verbose() {
		log = log.Level(zerolog.DebugLevel)
	}
	br, err := bridge.New(cfg, log, nets)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.cfg, w.br, w.stop, w.done = cfg, br, cancel, make(chan error, 1)
	go func() { w.done <- br.Run(log.WithContext(ctx), bridge.Options{}) }()
	t.Cleanup(w.stopBridge)
	// Ready when the health endpoint answers.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", cfg.Appservice.Listen)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "bridge did not start listening")
}

func (w *world) stopBridge() {
	if w.stop == nil {
		return
	}
	w.stop()
	select {
	case err := <-w.done:
		require.NoError(w.t, err)
	case <-time.After(30 * time.Second):
		w.t.Error("bridge did not stop")
	}
	w.stop = nil
}

// user is a Matrix user of the test homeserver.
type user struct {
	t      *testing.T
	id     id.UserID
	token  string
	client *mautrix.Client
}

func (w *world) newUser(localpart string) *user {
	uid, tok := w.hs.CreateUser(w.t, localpart, "password-"+localpart)
	client, err := mautrix.NewClient(w.hs.URL, id.UserID(uid), tok)
	require.NoError(w.t, err)
	return &user{t: w.t, id: id.UserID(uid), token: tok, client: client}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// botMXID is the bridge bot's user ID.
func botMXID() id.UserID { return id.NewUserID("isthmusbot", dendrite.Domain) }

// managementRoom opens a DM with the bot and waits for its greeting.
func (u *user) managementRoom() id.RoomID {
	ctx := ctxT(u.t)
	resp, err := u.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{botMXID()}})
	require.NoError(u.t, err)
	u.waitFor(resp.RoomID, "bot greeting", func(evt *event.Event) bool {
		return evt.Sender == botMXID() && strings.Contains(body(evt), "management room")
	})
	return resp.RoomID
}

// command sends a management command and returns the bot's reply.
func (u *user) command(room id.RoomID, text string) string {
	ctx := ctxT(u.t)
	sent, err := u.client.SendText(ctx, room, text)
	require.NoError(u.t, err)
	var reply string
	u.waitFor(room, "reply to "+strings.Fields(text)[0], func(evt *event.Event) bool {
		if evt.Sender == botMXID() && evt.Type == event.EventMessage && afterEvent(u, room, sent.EventID, evt) {
			reply = body(evt)
			return true
		}
		return false
	})
	return reply
}

// afterEvent reports whether evt comes after ref in the room timeline.
func afterEvent(u *user, room id.RoomID, ref id.EventID, evt *event.Event) bool {
	evs := u.timeline(room)
	refIdx, evIdx := -1, -1
	for i, e := range evs {
		if e.ID == ref {
			refIdx = i
		}
		if e.ID == evt.ID {
			evIdx = i
		}
	}
	return refIdx >= 0 && evIdx > refIdx
}

// timeline returns the room's events, oldest first.
func (u *user) timeline(room id.RoomID) []*event.Event {
	ctx := ctxT(u.t)
	resp, err := u.client.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 500)
	require.NoError(u.t, err)
	out := make([]*event.Event, 0, len(resp.Chunk))
	for i := len(resp.Chunk) - 1; i >= 0; i-- {
		evt := resp.Chunk[i]
		_ = evt.Content.ParseRaw(evt.Type)
		out = append(out, evt)
	}
	return out
}

// waitFor polls the room until an event matches, failing after 20 s.
func (u *user) waitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, evt := range u.timeline(room) {
			if match(evt) {
				return evt
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	u.t.Fatalf("timed out waiting for %s in %s", what, room)
	return nil
}

func body(evt *event.Event) string {
	if m := evt.Content.AsMessage(); m != nil {
		return m.Body
	}
	return ""
}

// messages returns the bodies of m.room.message events by sender.
func (u *user) messages(room id.RoomID, sender id.UserID) []string {
	var out []string
	for _, evt := range u.timeline(room) {
		if evt.Type == event.EventMessage && (sender == "" || evt.Sender == sender) {
			out = append(out, body(evt))
		}
	}
	return out
}

// waitRemote polls the remote log until an entry matches.
func (w *world) waitRemote(what string, match func(remote.Event) bool) remote.Event {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range w.remote.Log() {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("timed out waiting for remote %s", what)
	return remote.Event{}
}

func ghostID(remoteUser string) id.UserID {
	return id.NewUserID("loop_loop_"+remoteUser, dendrite.Domain)
}

func portalAlias(chat string) id.RoomAlias {
	return id.RoomAlias("#loop_loop_" + chat + ":" + dendrite.Domain)
}

// joinPortal joins a loopback channel's portal by alias.
func (u *user) joinPortal(chat string) id.RoomID {
	ctx := ctxT(u.t)
	resp, err := u.client.JoinRoom(ctx, portalAlias(chat).String(), nil)
	require.NoError(u.t, err)
	return resp.RoomID
}

// pushTransaction sends events to the bridge as the homeserver does, for
// what Dendrite does not send (redactions, ephemeral events).
func (w *world) pushTransaction(events ...map[string]any) {
	w.pushRaw(map[string]any{"events": events})
}

func (w *world) pushRaw(body map[string]any) {
	w.t.Helper()
	data, err := json.Marshal(body)
	require.NoError(w.t, err)
	url := fmt.Sprintf("http://%s/_matrix/app/v1/transactions/test-%s", w.cfg.Appservice.Listen, token())
	req, err := http.NewRequestWithContext(ctxT(w.t), http.MethodPut, url, bytes.NewReader(data))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.cfg.Appservice.HSToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	_ = resp.Body.Close()
	require.Equal(w.t, http.StatusOK, resp.StatusCode)
}
