package slack_test

import (
	"context"
	"fmt"
	"net"
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
	_ "github.com/isthmus-bridge/isthmus/bridges/slack"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// TestEndToEnd runs the whole bridge in this process against Dendrite and
// the Slack emulator: a Matrix user logs in from the management room,
// sees a Slack channel as a portal with what Bob says in it, and what they
// write in the portal appears on Slack as them. It skips when the Dendrite
// binaries are missing (see internal/testground/dendrite).
func TestEndToEnd(t *testing.T) {
	emu := slackemu.New(t, "T0001", "Acme")
	emu.AddUser(slackemu.User{ID: "U001", Name: "alice"})
	emu.AddUser(slackemu.User{ID: "U002", Name: "bob", Profile: slackemu.UserProfile{DisplayName: "Bob"}})
	emu.AddToken(slackemu.Token{Value: "xoxp-e2e-alice", User: "U001"})
	general := emu.AddConversation(slackemu.Conversation{ID: "C0GENERAL", Name: "general", Members: []string{"U001", "U002"}})

	dir := t.TempDir()
	listen := freeAddr(t)
	configFor := func(hsURL string) string {
		return fmt.Sprintf(`homeserver: {address: %q, domain: %s}
appservice:
  listen: %q
  url: "http://%s"
  id: isthmus
  bot: {localpart: isthmusbot, displayname: Isthmus}
  as_token: "e2e-as-token-0123456789"
  hs_token: "e2e-hs-token-0123456789"
database: {type: sqlite, uri: %q}
bridge:
  permissions: {"%s": user}
logging: {level: debug, format: json}
networks:
  slack: {enabled: true, api_url: %q, backfill: 0}
`, hsURL, dendrite.Domain, listen, listen, filepath.Join(dir, "isthmus.db"), dendrite.Domain, emu.APIURL())
	}
	// The registration only needs the bridge's own address.
	cfg, err := bridge.ParseConfig([]byte(configFor("http://127.0.0.1:1")))
	require.NoError(t, err)
	nets, err := bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	pre, err := bridge.New(cfg, zerolog.Nop(), nets)
	require.NoError(t, err)
	reg, err := pre.Registration().YAML()
	require.NoError(t, err)
	regPath := filepath.Join(dir, "registration.yaml")
	require.NoError(t, os.WriteFile(regPath, []byte(reg), 0o600))
	hs := dendrite.Start(t, dendrite.Options{RegistrationPath: regPath})

	cfg, err = bridge.ParseConfig([]byte(configFor(hs.URL)))
	require.NoError(t, err)
	nets, err = bridge.BuildNetworks(cfg)
	require.NoError(t, err)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	br, err := bridge.New(cfg, log, nets)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(log.WithContext(ctx), bridge.Options{}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("bridge did not stop")
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond)

	uid, tok := hs.CreateUser(t, "alice", "password-alice")
	alice, err := mautrix.NewClient(hs.URL, id.UserID(uid), tok)
	require.NoError(t, err)
	bot := id.NewUserID("isthmusbot", dendrite.Domain)
	mgmt, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{bot}})
	require.NoError(t, err)
	waitFor(t, alice, mgmt.RoomID, func(evt *event.Event) bool {
		return evt.Sender == bot && strings.Contains(body(evt), "management room")
	})

	_, err = alice.SendText(ctx, mgmt.RoomID, "login slack xoxp-e2e-alice")
	require.NoError(t, err)
	aliases, err := puppet.NewAliasNamer("slack_{chat}", "slack", dendrite.Domain)
	require.NoError(t, err)
	alias := aliases.Alias("T0001-C0GENERAL")
	var room id.RoomID
	require.Eventually(t, func() bool {
		resp, err := alice.JoinRoom(ctx, alias.String(), nil)
		if err == nil {
			room = resp.RoomID
		}
		return err == nil
	}, 30*time.Second, 200*time.Millisecond, "the portal of #general was never created for alice")

	emu.Post(general, "U002", "hello from *Slack*", "")
	ghosts, err := puppet.NewNamer("slack_{id}", "slack", dendrite.Domain)
	require.NoError(t, err)
	bob := ghosts.MXID("T0001-U002")
	msg := waitFor(t, alice, room, func(evt *event.Event) bool { return evt.Sender == bob && body(evt) == "hello from *Slack*" })
	require.Equal(t, "hello from <strong>Slack</strong>", msg.Content.AsMessage().FormattedBody)

	_, err = alice.SendText(ctx, room, "hello from Matrix")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, m := range emu.Messages(general) {
			if m.User == "U001" && m.Text == "hello from Matrix" {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "alice's Matrix message never reached Slack as her")
	// Its RTM echo must not come back into the room.
	time.Sleep(time.Second)
	n := 0
	for _, evt := range timeline(t, alice, room) {
		if body(evt) == "hello from Matrix" {
			n++
		}
	}
	require.Equal(t, 1, n, "the message appears once in Matrix")
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func timeline(t *testing.T, c *mautrix.Client, room id.RoomID) []*event.Event {
	resp, err := c.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 200)
	require.NoError(t, err)
	out := make([]*event.Event, 0, len(resp.Chunk))
	for i := len(resp.Chunk) - 1; i >= 0; i-- {
		evt := resp.Chunk[i]
		_ = evt.Content.ParseRaw(evt.Type)
		out = append(out, evt)
	}
	return out
}

func waitFor(t *testing.T, c *mautrix.Client, room id.RoomID, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, evt := range timeline(t, c, room) {
			if match(evt) {
				return evt
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting in %s", room)
	return nil
}

func body(evt *event.Event) string {
	if m := evt.Content.AsMessage(); m != nil {
		return m.Body
	}
	return ""
}
