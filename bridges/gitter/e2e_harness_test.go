package gitter

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// hsWorld is one end-to-end test's Gitter emulator, Dendrite and bridge
// (run in this process, with this package's adapter as its only network),
// on the shared harness in internal/testground/bridgeworld.
type hsWorld struct {
	*bridgeworld.World
	t   *testing.T
	emu *gitteremu.Server
	// bot is the relay bot account, configured as the network's relay.
	bot    gitterapi.User
	botTok string
	// logs collects every line the bridge logged, at debug level, across
	// restarts, so the test can look for secrets in them.
	logs *syncBuffer
}

// newHSWorld starts the emulator and a Dendrite that knows the bridge's
// registration; the bridge itself starts with StartBridge. Portals let
// invited users read what was sent before they joined, so backfill shows.
func newHSWorld(t *testing.T) *hsWorld {
	t.Helper()
	w := &hsWorld{t: t, logs: &syncBuffer{}}
	w.emu = gitteremu.New(gitteremu.Options{Heartbeat: 100 * time.Millisecond, FayeTimeout: time.Second})
	t.Cleanup(w.emu.Close)
	w.bot, w.botTok = w.emu.AddUser("relaybot", "Relay Bot")
	w.World = bridgeworld.New(t, bridgeworld.Options{
		Networks: map[string]any{"gitter": []any{map[string]any{
			"name": "gitter", "api_url": w.emu.APIURL(), "stream_url": w.emu.StreamURL(), "faye_url": w.emu.FayeURL(), "backfill": 5,
			"relay": map[string]any{"token": w.botTok},
		}}},
		Bridge: map[string]any{"portal": map[string]any{"history_visibility": "invited"}},
		Log:    w.logs,
		// The adapter's backoffs are shortened so reconnects do not slow tests.
		BeforeStart: func(nets []bridge.Network) {
			for _, n := range nets {
				if gn, ok := n.(*Network); ok {
					gn.minBackoff, gn.maxBackoff = 20*time.Millisecond, 500*time.Millisecond
					gn.clientTweak = func(o *gitterapi.Options) { o.RetryBase = 10 * time.Millisecond; o.StreamIdle = 2 * time.Second }
				}
			}
		},
	})
	return w
}

func (w *hsWorld) startBridge() { w.StartBridge() }
func (w *hsWorld) stopBridge()  { w.StopBridge() }

// ghost is the Matrix user standing for a Gitter user.
func (w *hsWorld) ghost(u gitterapi.User) id.UserID {
	return w.Bridge.GhostMXID("gitter", bridge.RemoteUserID(u.ID))
}

// alias is the alias a Matrix user types for a Gitter room URI: the
// core's alias namespace, which the adapter resolves by URI.
func (w *hsWorld) alias(uri string) id.RoomAlias {
	namer, err := puppet.NewAliasNamer(aliasTemplate, "gitter", bridgeworld.Domain)
	require.NoError(w.t, err)
	return namer.Alias(uri)
}

// pushEvents delivers events to the bridge as the homeserver would, for
// what Dendrite v0.13.8 never sends an appservice (redactions: its PR
// #3445 adds them; ephemeral events).
func (w *hsWorld) pushEvents(body map[string]any) {
	w.t.Helper()
	w.PushRaw(body)
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
	url := "http://" + w.Config.Appservice.Listen + path
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.Config.Appservice.HSToken)
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
	*bridgeworld.User
	t *testing.T
}

func (w *hsWorld) newMatrixUser(localpart string) *mxUser {
	return &mxUser{User: w.NewUser(localpart), t: w.t}
}

func (u *mxUser) ctx() context.Context { return bridgeworld.Ctx(u.t) }

func (u *mxUser) managementRoom() id.RoomID { return u.ManagementRoom() }

func (u *mxUser) command(room id.RoomID, cmd string) string { return u.Command(room, cmd) }

func (u *mxUser) timeline(room id.RoomID) []*event.Event { return u.Timeline(room) }

func (u *mxUser) waitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	u.t.Helper()
	return u.WaitFor(room, what, match)
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
		resp, err := u.Client.SyncRequest(u.ctx(), 0, "", "", false, event.PresenceOffline)
		if err != nil {
			return false
		}
		for room, inv := range resp.Rooms.Invite {
			for _, e := range inv.State.Events {
				if e.Type == event.StateMember && e.GetStateKey() == u.ID.String() {
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
	if err := u.Client.StateEvent(u.ctx(), room, event.StateMember, user.String(), &content); err != nil {
		return ""
	}
	return content.Membership
}

// readUpTo is the event of the user's own m.read receipt in the room, from
// a fresh sync.
func (u *mxUser) readUpTo(room id.RoomID) id.EventID {
	resp, err := u.Client.SyncRequest(u.ctx(), 0, "", "", false, event.PresenceOffline)
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
			if _, ok := byType[event.ReceiptTypeRead][u.ID]; ok {
				return evtID
			}
		}
	}
	return ""
}

// roomName reads the room's m.room.name ("" when it has none).
func (u *mxUser) roomName(room id.RoomID) string {
	var content event.RoomNameEventContent
	if err := u.Client.StateEvent(u.ctx(), room, event.StateRoomName, "", &content); err != nil {
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
