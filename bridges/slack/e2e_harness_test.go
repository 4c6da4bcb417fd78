package slack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	_ "github.com/isthmus-bridge/isthmus/bridges/slack"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// The end-to-end world: Dendrite, the Slack emulator and the whole bridge in
// this process. Alice is a Matrix user who logs into Slack as U001; Bob
// (U002) and Carol (U003) only use the Slack app.
const (
	e2eTeam     = "T0001"
	e2eAliceTok = "xoxp-e2e-alice"
	// e2eAliceTok2 is a second token of Alice's, for logging in again.
	e2eAliceTok2 = "xoxp-e2e-alice-2"
	waitLimit    = 30 * time.Second
)

// e2eApp is the Slack app of app mode.
var e2eApp = slackemu.App{ID: "A001", BotID: "B0APP", BotUser: "U0BOT", BotName: "isthmus", BotToken: "xoxb-e2e-app", AppToken: "xapp-1-e2e-app"}

type world struct {
	t       *testing.T
	bw      *bridgeworld.World
	emu     *slackemu.Server
	hs      *dendrite.Server
	listen  string
	general string // Slack channel ID of #general
	random  string // #random: Bob and the app's bot only

	alice   *mautrix.Client
	aliceID id.UserID
	mgmt    id.RoomID

	ghosts  *puppet.Namer
	aliases *puppet.AliasNamer
}

// newWorld starts the emulator, Dendrite with the bridge's registration
// and the bridge; it creates Alice on Matrix with her management room, but
// does not log her into Slack. It skips when the Dendrite binaries are
// missing (see internal/testground/dendrite).
func newWorld(t *testing.T, configure ...func(*bridgeworld.Options)) *world {
	t.Helper()
	w := newAcme(t)
	w.start(w.emu.APIURL(), configure...)
	return w
}

// newAcme is the first half of newWorld: the Acme workspace, before
// anything else starts, so that a test can put more workspaces next to it
// (slackemu.Front) and then start the bridge on their API URL.
func newAcme(t *testing.T) *world {
	t.Helper()
	emu := slackemu.New(t, e2eTeam, "Acme")
	emu.AddUser(slackemu.User{ID: "U001", Name: "alice"})
	emu.AddUser(slackemu.User{ID: "U002", Name: "bob", Profile: slackemu.UserProfile{DisplayName: "Bob"}})
	emu.AddUser(slackemu.User{ID: "U003", Name: "carol", Profile: slackemu.UserProfile{DisplayName: "Carol"}})
	emu.AddToken(slackemu.Token{Value: e2eAliceTok, User: "U001"})
	w := &world{t: t, emu: emu}
	// App mode is on: the app's bot is in #general with Alice (the two
	// see every event there, and the bridge must still bridge each once)
	// and alone with Bob in #random, where nobody has logged in.
	emu.AddApp(e2eApp)
	w.general = emu.AddConversation(slackemu.Conversation{ID: "C0GENERAL", Name: "general", Members: []string{"U001", "U002", "U003", e2eApp.BotUser}})
	w.random = emu.AddConversation(slackemu.Conversation{ID: "C0RANDOM", Name: "random", Members: []string{"U002", e2eApp.BotUser}})
	return w
}

// start is the second half of newWorld: Dendrite and the bridge, which
// calls Slack at apiURL, and Alice on Matrix.
func (w *world) start(apiURL string, configure ...func(*bridgeworld.Options)) {
	t := w.t
	t.Helper()
	opts := bridgeworld.Options{
		Permissions: map[string]string{bridgeworld.Domain: "user"},
		Networks: map[string]any{"slack": map[string]any{
			"enabled": true, "api_url": apiURL, "backfill": 0,
			"app": map[string]any{"bot_token": e2eApp.BotToken, "app_token": e2eApp.AppToken},
		}},
	}
	for _, c := range configure {
		c(&opts)
	}
	bw := bridgeworld.Start(t, opts)
	w.bw, w.hs, w.listen = bw, bw.HS, bw.Config.Appservice.Listen

	var err error
	w.ghosts, err = puppet.NewNamer("slack_{id}", "slack", bridgeworld.Domain)
	require.NoError(t, err)
	w.aliases, err = puppet.NewAliasNamer("slack_{chat}", "slack", bridgeworld.Domain)
	require.NoError(t, err)

	alice := bw.NewUser("alice")
	w.aliceID, w.alice = alice.ID, alice.Client
	w.mgmt = alice.ManagementRoom()
}

// in is the world seen from a subtest, so that helpers fail the subtest
// and not its parent.
func (w *world) in(t *testing.T) *world {
	c := *w
	c.t = t
	return &c
}

// command sends a command to the management room and returns the bot's
// first answer after it.
func (w *world) command(text string) string {
	w.t.Helper()
	sent, err := w.alice.SendText(context.Background(), w.mgmt, text)
	require.NoError(w.t, err)
	bot := id.NewUserID("isthmusbot", bridgeworld.Domain)
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		seen := false
		for _, evt := range w.timeline(w.mgmt) {
			if evt.ID == sent.EventID {
				seen = true
			} else if seen && evt.Sender == bot && body(evt) != "" {
				return body(evt)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("no answer to %s", strings.Fields(text)[0])
	return ""
}

// joinPortal joins Alice to the portal of a Slack conversation by its
// alias once the bridge has created it.
func (w *world) joinPortal(channel string) id.RoomID {
	w.t.Helper()
	return w.joinPortalAs(w.alice, channel)
}

// joinPortalAs is joinPortal for any Matrix user.
func (w *world) joinPortalAs(c *mautrix.Client, channel string) id.RoomID {
	w.t.Helper()
	return w.joinTeamPortalAs(c, e2eTeam, channel)
}

// joinTeamPortalAs is joinPortalAs for a conversation of any workspace.
func (w *world) joinTeamPortalAs(c *mautrix.Client, team, channel string) id.RoomID {
	w.t.Helper()
	alias := w.aliases.Alias(team + "-" + channel)
	var room id.RoomID
	require.Eventually(w.t, func() bool {
		resp, err := c.JoinRoom(context.Background(), alias.String(), nil)
		if err == nil {
			room = resp.RoomID
		}
		return err == nil
	}, waitLimit, 200*time.Millisecond, "the portal of %s was never created", channel)
	return room
}

// ghost is the Matrix ID of an Acme user's ghost.
func (w *world) ghost(user string) id.UserID { return w.teamGhost(e2eTeam, user) }

// teamGhost is the Matrix ID of the ghost of a user of any workspace.
func (w *world) teamGhost(team, user string) id.UserID {
	return w.ghosts.MXID(team + "-" + user)
}

// waitSlack waits until cond holds on the emulator.
func (w *world) waitSlack(what string, cond func() bool) {
	w.t.Helper()
	require.Eventually(w.t, cond, waitLimit, 50*time.Millisecond, "never on Slack: %s", what)
}

// slackMessage waits for a message in an Acme conversation.
func (w *world) slackMessage(channel, what string, match func(slackemu.Message) bool) slackemu.Message {
	w.t.Helper()
	return w.slackMessageIn(w.emu, channel, what, match)
}

// slackMessageIn waits for a message in a conversation of any workspace.
func (w *world) slackMessageIn(emu *slackemu.Server, channel, what string, match func(slackemu.Message) bool) slackemu.Message {
	w.t.Helper()
	var found slackemu.Message
	w.waitSlack(what, func() bool {
		for _, m := range emu.Messages(channel) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// pushEvents delivers events to the bridge the way a homeserver does, for
// what Dendrite v0.13.8 does not send to appservices: redactions and
// ephemeral events (typing, receipts, presence).
func (w *world) pushEvents(body map[string]any) {
	w.t.Helper()
	if body["events"] == nil {
		body["events"] = []any{}
	}
	w.bw.PushRaw(body)
}

// redact redacts an event as Alice on Dendrite and hands the redaction to
// the bridge as the homeserver would.
func (w *world) redact(room id.RoomID, target id.EventID) {
	w.t.Helper()
	resp, err := w.alice.RedactEvent(context.Background(), room, target)
	require.NoError(w.t, err)
	w.pushEvents(map[string]any{"events": []any{map[string]any{
		"type": "m.room.redaction", "room_id": room, "sender": w.aliceID, "event_id": resp.EventID,
		"redacts": target, "content": map[string]any{"redacts": target}, "origin_server_ts": time.Now().UnixMilli(),
	}}})
}

// aliceUser is Alice seen through the shared harness, failing w.t.
func (w *world) aliceUser() *bridgeworld.User {
	return &bridgeworld.User{T: w.t, ID: w.aliceID, Client: w.alice}
}

// timeline is the room's recent events as Alice sees them, oldest first.
func (w *world) timeline(room id.RoomID) []*event.Event { return w.aliceUser().Timeline(room) }

// waitFor waits for the first event of the room's timeline that matches.
func (w *world) waitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	w.t.Helper()
	return w.aliceUser().WaitForWithin(room, what, waitLimit, match)
}

// countAfterMarker has Bob post a marker in #general and waits for it in
// the room, so that whatever Slack sent before it has been bridged, then
// counts the events of the room's timeline that match.
func (w *world) countAfterMarker(room id.RoomID, match func(*event.Event) bool) int {
	w.t.Helper()
	marker := fmt.Sprintf("marker %d", time.Now().UnixNano())
	w.emu.Post(w.general, "U002", marker, "")
	w.waitFor(room, marker, from(w.ghost("U002"), marker))
	n := 0
	for _, evt := range w.timeline(room) {
		if match(evt) {
			n++
		}
	}
	return n
}

func body(evt *event.Event) string {
	if m := evt.Content.AsMessage(); m != nil {
		return m.Body
	}
	return ""
}

// withBody matches a message by body.
func withBody(text string) func(*event.Event) bool {
	return func(evt *event.Event) bool { return body(evt) == text }
}

// from matches a message by sender and body.
func from(sender id.UserID, text string) func(*event.Event) bool {
	return func(evt *event.Event) bool { return evt.Sender == sender && body(evt) == text }
}
