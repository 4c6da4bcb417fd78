package gitter

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
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// hsWorld is one end-to-end test's Gitter emulator, Dendrite and bridge
// (run in this process, with this package's adapter as its only network).
type hsWorld struct {
	t          *testing.T
	emu        *gitteremu.Server
	hs         *dendrite.Server
	configPath string
	cfg        *bridge.Config
	br         *bridge.Bridge
	// logs collects every line the bridge logged, at debug level, across
	// restarts, so the test can look for secrets in them.
	logs *syncBuffer

	stop context.CancelFunc
	done chan error
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeListenAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// hsConfig is the bridge config of a world. Portals let invited users read
// what was sent before they joined, so backfill shows up.
func hsConfig(listen, hsURL, dbPath string, emu *gitteremu.Server) string {
	return fmt.Sprintf(`homeserver: {address: %q, domain: %s}
appservice:
  listen: %q
  url: "http://%s"
  id: isthmus
  bot: {localpart: isthmusbot, displayname: Isthmus}
  as_token: %q
  hs_token: %q
database: {type: sqlite, uri: %q}
bridge:
  permissions: {"*": relay, "%s": user}
  portal: {history_visibility: invited}
logging: {level: debug, format: json}
networks:
  gitter:
    - {name: gitter, api_url: %q, stream_url: %q, faye_url: %q, backfill: 5}
`, hsURL, dendrite.Domain, listen, listen, randomHex(24), randomHex(24), dbPath, dendrite.Domain,
		emu.APIURL(), emu.StreamURL(), emu.FayeURL())
}

// newHSWorld starts the emulator and a Dendrite that knows the bridge's
// registration; the bridge itself starts with startBridge.
func newHSWorld(t *testing.T) *hsWorld {
	t.Helper()
	w := &hsWorld{t: t, logs: &syncBuffer{}}
	w.emu = gitteremu.New(gitteremu.Options{Heartbeat: 100 * time.Millisecond, FayeTimeout: time.Second})
	t.Cleanup(w.emu.Close)
	dir := t.TempDir()
	w.configPath = filepath.Join(dir, "config.yaml")
	// The registration needs only the bridge's own address; the
	// homeserver's comes once Dendrite runs.
	const placeholder = "http://127.0.0.1:1"
	text := hsConfig(freeListenAddr(t), placeholder, filepath.Join(dir, "isthmus.db"), w.emu)
	cfg, err := bridge.ParseConfig([]byte(text))
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	br, err := bridge.New(cfg, zerolog.Nop(), nets)
	require.NoError(t, err)
	reg, err := br.Registration().YAML()
	require.NoError(t, err)
	regPath := filepath.Join(dir, "registration.yaml")
	require.NoError(t, os.WriteFile(regPath, []byte(reg), 0o600))
	w.hs = dendrite.Start(t, dendrite.Options{RegistrationPath: regPath})
	text = strings.Replace(text, placeholder, w.hs.URL, 1)
	require.NoError(t, os.WriteFile(w.configPath, []byte(text), 0o600))
	return w
}

// startBridge runs the bridge until stopBridge or the end of the test,
// with the adapter's backoffs shortened so reconnects do not slow tests.
func (w *hsWorld) startBridge() {
	t := w.t
	cfg, err := bridge.LoadConfig(w.configPath)
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	for _, n := range nets {
		if gn, ok := n.(*Network); ok {
			gn.minBackoff, gn.maxBackoff = 20*time.Millisecond, 500*time.Millisecond
			gn.clientTweak = func(o *gitterapi.Options) { o.RetryBase = 10 * time.Millisecond; o.StreamIdle = 2 * time.Second }
		}
	}
	var out io.Writer = w.logs
	if testing.Verbose() {
		out = io.MultiWriter(w.logs, zerolog.NewTestWriter(t))
	}
	log := zerolog.New(out).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	br, err := bridge.New(cfg, log, nets)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.cfg, w.br, w.stop, w.done = cfg, br, cancel, make(chan error, 1)
	go func() { w.done <- br.Run(log.WithContext(ctx), bridge.Options{}) }()
	t.Cleanup(w.stopBridge)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", cfg.Appservice.Listen)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "bridge never listened")
}

func (w *hsWorld) stopBridge() {
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

// ghost is the Matrix user standing for a Gitter user.
func (w *hsWorld) ghost(u gitterapi.User) id.UserID {
	return w.br.GhostMXID("gitter", bridge.RemoteUserID(u.ID))
}

// alias is the alias a Matrix user types for a Gitter room URI: the
// core's alias namespace, which the adapter resolves by URI.
func (w *hsWorld) alias(uri string) id.RoomAlias {
	namer, err := puppet.NewAliasNamer(aliasTemplate, "gitter", dendrite.Domain)
	require.NoError(w.t, err)
	return namer.Alias(uri)
}

// pushEvents delivers events to the bridge as the homeserver would, for
// what Dendrite v0.13.8 never sends an appservice (redactions: its PR
// #3445 adds them; ephemeral events).
func (w *hsWorld) pushEvents(body map[string]any) {
	w.t.Helper()
	data, err := json.Marshal(body)
	require.NoError(w.t, err)
	w.asCall(http.MethodPut, "/_matrix/app/v1/transactions/push-"+randomHex(8), data)
}

// queryUser asks the bridge whether a user in its namespace exists, as a
// homeserver does before it lets one be invited (and which registers a
// ghost). Dendrite v0.13.8 lets invites to unknown namespace users through
// without asking, so tests that need the ghost registered ask themselves.
func (w *hsWorld) queryUser(user id.UserID) {
	w.t.Helper()
	w.asCall(http.MethodGet, "/_matrix/app/v1/users/"+user.String(), nil)
}

// asCall calls the bridge's appservice API as the homeserver, expecting 200.
func (w *hsWorld) asCall(method, path string, body []byte) {
	w.t.Helper()
	url := "http://" + w.cfg.Appservice.Listen + path
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.cfg.Appservice.HSToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	_ = resp.Body.Close()
	require.Equal(w.t, http.StatusOK, resp.StatusCode, "%s %s", method, path)
}

// waitGitter polls a Gitter room until a message matches.
func (w *hsWorld) waitGitter(roomID, what string, match func(gitterapi.Message) bool) gitterapi.Message {
	w.t.Helper()
	var found gitterapi.Message
	require.Eventually(w.t, func() bool {
		for _, m := range w.emu.Messages(roomID) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "no Gitter message: %s", what)
	return found
}

// mxUser is a Matrix user of the test homeserver.
type mxUser struct {
	t      *testing.T
	id     id.UserID
	token  string
	client *mautrix.Client
}

func (w *hsWorld) newMatrixUser(localpart string) *mxUser {
	uid, tok := w.hs.CreateUser(w.t, localpart, "password-"+localpart)
	client, err := mautrix.NewClient(w.hs.URL, id.UserID(uid), tok)
	require.NoError(w.t, err)
	return &mxUser{t: w.t, id: id.UserID(uid), token: tok, client: client}
}

func (u *mxUser) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	u.t.Cleanup(cancel)
	return ctx
}

// managementRoom opens a DM with the bridge bot and waits for its greeting.
func (u *mxUser) managementRoom() id.RoomID {
	bot := id.NewUserID("isthmusbot", dendrite.Domain)
	resp, err := u.client.CreateRoom(u.ctx(), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{bot}})
	require.NoError(u.t, err)
	u.waitFor(resp.RoomID, "the bot's greeting", func(e *event.Event) bool {
		return e.Sender == bot && strings.Contains(text(e), "management room")
	})
	return resp.RoomID
}

// command sends a management command and returns the bot's next reply.
func (u *mxUser) command(room id.RoomID, cmd string) string {
	bot := id.NewUserID("isthmusbot", dendrite.Domain)
	sent, err := u.client.SendText(u.ctx(), room, cmd)
	require.NoError(u.t, err)
	name := strings.Fields(cmd)[0]
	return text(u.waitFor(room, "the reply to "+name, func(e *event.Event) bool {
		return e.Sender == bot && e.Type == event.EventMessage && u.after(room, sent.EventID, e.ID)
	}))
}

func (u *mxUser) after(room id.RoomID, first, then id.EventID) bool {
	i, j := -1, -1
	for n, e := range u.timeline(room) {
		switch e.ID {
		case first:
			i = n
		case then:
			j = n
		}
	}
	return i >= 0 && j > i
}

// timeline is the room's history, oldest first.
func (u *mxUser) timeline(room id.RoomID) []*event.Event {
	resp, err := u.client.Messages(u.ctx(), room, "", "", mautrix.DirectionBackward, nil, 500)
	require.NoError(u.t, err)
	out := make([]*event.Event, 0, len(resp.Chunk))
	for i := len(resp.Chunk) - 1; i >= 0; i-- {
		e := resp.Chunk[i]
		_ = e.Content.ParseRaw(e.Type)
		out = append(out, e)
	}
	return out
}

// waitFor polls the room until an event matches (20 s at most).
func (u *mxUser) waitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range u.timeline(room) {
			if match(e) {
				return e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	u.t.Fatalf("timed out waiting for %s in %s", what, room)
	return nil
}

// bodies are the room's message texts from one sender ("" for anyone).
func (u *mxUser) bodies(room id.RoomID, sender id.UserID) []string {
	var out []string
	for _, e := range u.timeline(room) {
		if e.Type == event.EventMessage && (sender == "" || e.Sender == sender) && e.Unsigned.RedactedBecause == nil {
			if c := e.Content.AsMessage(); c.RelatesTo.GetReplaceID() == "" {
				out = append(out, c.Body)
			}
		}
	}
	return out
}

// invites waits until the user has n pending invites and returns them with
// whether each is marked is_direct.
func (u *mxUser) invites(n int) map[id.RoomID]bool {
	u.t.Helper()
	out := map[id.RoomID]bool{}
	require.Eventually(u.t, func() bool {
		resp, err := u.client.SyncRequest(u.ctx(), 0, "", "", false, event.PresenceOffline)
		if err != nil {
			return false
		}
		for room, inv := range resp.Rooms.Invite {
			for _, e := range inv.State.Events {
				if e.Type == event.StateMember && e.GetStateKey() == u.id.String() {
					_ = e.Content.ParseRaw(e.Type)
					out[room] = e.Content.AsMember().IsDirect
				}
			}
		}
		return len(out) >= n
	}, 20*time.Second, 100*time.Millisecond, "fewer than %d invites", n)
	return out
}

// membership is a user's membership in the room, as its state says.
func (u *mxUser) membership(room id.RoomID, user id.UserID) event.Membership {
	var content event.MemberEventContent
	if err := u.client.StateEvent(u.ctx(), room, event.StateMember, user.String(), &content); err != nil {
		return ""
	}
	return content.Membership
}

// readUpTo is the event of the user's own m.read receipt in the room, from
// a fresh sync.
func (u *mxUser) readUpTo(room id.RoomID) id.EventID {
	resp, err := u.client.SyncRequest(u.ctx(), 0, "", "", false, event.PresenceOffline)
	if err != nil {
		return ""
	}
	joined, ok := resp.Rooms.Join[room]
	if !ok {
		return ""
	}
	for _, e := range joined.Ephemeral.Events {
		if e.Type != event.EphemeralEventReceipt {
			continue
		}
		_ = e.Content.ParseRaw(e.Type)
		for evtID, byType := range *e.Content.AsReceipt() {
			if _, ok := byType[event.ReceiptTypeRead][u.id]; ok {
				return evtID
			}
		}
	}
	return ""
}

// roomName reads the room's m.room.name ("" when it has none).
func (u *mxUser) roomName(room id.RoomID) string {
	var content event.RoomNameEventContent
	if err := u.client.StateEvent(u.ctx(), room, event.StateRoomName, "", &content); err != nil {
		return ""
	}
	return content.Name
}

func text(e *event.Event) string {
	if c := e.Content.AsMessage(); c != nil {
		return c.Body
	}
	return ""
}
