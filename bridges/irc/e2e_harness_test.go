package irc

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
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// world is one end-to-end test: a real IRC server, a real Dendrite, and
// the bridge running in this process with the IRC adapter.
type world struct {
	t       *testing.T
	irc     *irctest.Server
	hs      *dendrite.Server
	cfgPath string
	cfg     *bridge.Config
	stop    context.CancelFunc
	done    chan error
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// e2eConfig is the bridge config of a world; the homeserver address is
// filled in once Dendrite runs.
func e2eConfig(listen, hsURL, dbPath, ircAddr string) string {
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
logging: {level: debug, format: json}
networks:
  irc:
    - name: test
      address: %q
      dynamic_channels: true
      limits: {connects_per_second: 50, connects_in_flight: 20, lines_per_second: 20, line_burst: 20}
      membership: {join_rate: 100, netsplit_delay: 1s, matrix_poll: 200ms}
`, hsURL, dendrite.Domain, listen, listen, randomToken(), randomToken(), dbPath, dendrite.Domain, ircAddr)
}

// newWorld starts the IRC server of kind, Dendrite with the bridge's
// registration, and the bridge.
func newWorld(t *testing.T, kind irctest.Kind) *world {
	t.Helper()
	w := &world{t: t, irc: irctest.Start(t, kind)}
	dir := t.TempDir()
	listen := freeAddr(t)
	w.cfgPath = filepath.Join(dir, "config.yaml")
	text := e2eConfig(listen, "http://127.0.0.1:1", filepath.Join(dir, "isthmus.db"), w.irc.Addr)
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
	text = strings.Replace(text, "http://127.0.0.1:1", w.hs.URL, 1)
	require.NoError(t, os.WriteFile(w.cfgPath, []byte(text), 0o600))
	w.startBridge()
	return w
}

func (w *world) startBridge() {
	t := w.t
	cfg, err := bridge.LoadConfig(w.cfgPath)
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	if testing.Verbose() {
		log = log.Level(zerolog.DebugLevel)
	}
	br, err := bridge.New(cfg, log, nets)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.cfg, w.stop, w.done = cfg, cancel, make(chan error, 1)
	go func() { w.done <- br.Run(log.WithContext(ctx), bridge.Options{}) }()
	t.Cleanup(w.stopBridge)
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

// pushRaw delivers a transaction as the homeserver would, for what
// Dendrite never sends (ephemeral events).
func (w *world) pushRaw(body map[string]any) {
	w.t.Helper()
	data, err := json.Marshal(body)
	require.NoError(w.t, err)
	url := fmt.Sprintf("http://%s/_matrix/app/v1/transactions/test-%s", w.cfg.Appservice.Listen, randomToken())
	req, err := http.NewRequestWithContext(ctxT(w.t), http.MethodPut, url, bytes.NewReader(data))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.cfg.Appservice.HSToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	_ = resp.Body.Close()
	require.Equal(w.t, http.StatusOK, resp.StatusCode)
}

// mxUser is a Matrix user of the test homeserver.
type mxUser struct {
	t      *testing.T
	id     id.UserID
	client *mautrix.Client
}

func (w *world) newUser(localpart string) *mxUser {
	uid, tok := w.hs.CreateUser(w.t, localpart, "password-"+localpart)
	client, err := mautrix.NewClient(w.hs.URL, id.UserID(uid), tok)
	require.NoError(w.t, err)
	return &mxUser{t: w.t, id: id.UserID(uid), client: client}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ghostMXID(nick string) id.UserID {
	n, _ := puppet.NewNamer("irc_{network}_{id}", "test", dendrite.Domain)
	return n.MXID(ircFold(nick))
}

// ircFold folds like both test servers do for the nicks tests use.
func ircFold(s string) string { return strings.ToLower(s) }

func channelAlias(channel string) id.RoomAlias {
	n, _ := puppet.NewAliasNamer("irc_{network}_{chat}", "test", dendrite.Domain)
	return n.Alias(channel)
}

func botMXID() id.UserID { return id.NewUserID("isthmusbot", dendrite.Domain) }

// joinChannel joins a channel's portal by its alias.
func (u *mxUser) joinChannel(channel string) id.RoomID {
	resp, err := u.client.JoinRoom(ctxT(u.t), channelAlias(channel).String(), nil)
	require.NoError(u.t, err)
	return resp.RoomID
}

// timeline returns the room's events, oldest first.
func (u *mxUser) timeline(room id.RoomID) []*event.Event {
	resp, err := u.client.Messages(ctxT(u.t), room, "", "", mautrix.DirectionBackward, nil, 500)
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
func (u *mxUser) waitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	u.t.Helper()
	var last []*event.Event
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		last = u.timeline(room)
		for _, evt := range last {
			if match(evt) {
				return evt
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var b strings.Builder
	for _, evt := range last {
		fmt.Fprintf(&b, "  %s %s %s %v\n", evt.Type.Type, evt.Sender, evt.GetStateKey(), evt.Content.Raw)
	}
	u.t.Fatalf("timed out waiting for %s in %s; timeline:\n%s", what, room, b.String())
	return nil
}

// in returns the user for use in subtest t, so failures end that test.
func (u *mxUser) in(t *testing.T) *mxUser {
	c := *u
	c.t = t
	return &c
}

// eventually polls cond until it holds, failing after 20 s.
func (u *mxUser) eventually(what string, cond func() bool) {
	u.t.Helper()
	require.Eventually(u.t, cond, 20*time.Second, 100*time.Millisecond, what)
}

func bodyOf(evt *event.Event) string {
	if m := evt.Content.AsMessage(); m != nil && evt.Type == event.EventMessage {
		return m.Body
	}
	return ""
}

func isBody(body string) func(*event.Event) bool {
	return func(evt *event.Event) bool { return bodyOf(evt) == body }
}

// isMember matches a membership event of user.
func isMember(user id.UserID, ms event.Membership) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		if evt.Type != event.StateMember || evt.GetStateKey() != user.String() {
			return false
		}
		m := evt.Content.AsMember()
		return m != nil && m.Membership == ms
	}
}

func (u *mxUser) joined(room id.RoomID) map[id.UserID]bool {
	resp, err := u.client.JoinedMembers(ctxT(u.t), room)
	require.NoError(u.t, err)
	out := map[id.UserID]bool{}
	for user := range resp.Joined {
		out[user] = true
	}
	return out
}

// managementRoom opens a DM with the bot and waits for its greeting.
func (u *mxUser) managementRoom() id.RoomID {
	resp, err := u.client.CreateRoom(ctxT(u.t), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{botMXID()}})
	require.NoError(u.t, err)
	u.waitFor(resp.RoomID, "bot greeting", func(evt *event.Event) bool {
		return evt.Sender == botMXID() && strings.Contains(bodyOf(evt), "management room")
	})
	return resp.RoomID
}

// command sends a management command and returns the bot's reply.
func (u *mxUser) command(room id.RoomID, text string) string {
	before := len(u.timeline(room))
	_, err := u.client.SendText(ctxT(u.t), room, text)
	require.NoError(u.t, err)
	var reply string
	u.eventually("a reply to "+strings.Fields(text)[0], func() bool {
		evs := u.timeline(room)
		for _, evt := range evs[min(before+1, len(evs)):] {
			if evt.Sender == botMXID() && evt.Type == event.EventMessage {
				reply = bodyOf(evt)
				return true
			}
		}
		return false
	})
	return reply
}
