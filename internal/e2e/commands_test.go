package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/storage"
)

func TestManagementRoomCommands(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()

	t.Run("help lists the commands the user may run", func(t *testing.T) {
		reply := alice.Command(mgmt, "help")
		for _, cmd := range []string{"status", "login", "logout", "login-matrix", "list", "reject-invites"} {
			assert.Contains(t, reply, cmd)
		}
		assert.NotContains(t, reply, "unlink", "admin commands are not offered to users")
	})

	t.Run("an unknown command gets help", func(t *testing.T) {
		reply := alice.Command(mgmt, "frobnicate")
		assert.Contains(t, reply, "Unknown command")
		assert.Contains(t, reply, "status")
	})

	t.Run("a token pasted alone is redacted and not repeated", func(t *testing.T) {
		const secret = "xoxp-1111-2222-pasted-by-mistake"
		reply := alice.Command(mgmt, secret)
		assert.Contains(t, reply, "Unknown command")
		assert.NotContains(t, reply, secret)
		require.Eventually(t, func() bool {
			for _, evt := range alice.Timeline(mgmt) {
				if strings.Contains(bridgeworld.Body(evt), secret) {
					return false
				}
			}
			return true
		}, 10*time.Second, 100*time.Millisecond, "the token is still readable in the room")
	})

	t.Run("a wrong login is refused with the reason and no session", func(t *testing.T) {
		reply := alice.Command(mgmt, "login loop nobody")
		assert.Contains(t, reply, "failed")
		assert.Contains(t, alice.Command(mgmt, "status"), "no sessions")
	})

	t.Run("status shows the session after a login", func(t *testing.T) {
		require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
		reply := alice.Command(mgmt, "status")
		assert.Contains(t, reply, "loop as alice: connected")
	})

	t.Run("list shows the portals", func(t *testing.T) {
		joinPortal(alice, "listed")
		assert.Contains(t, alice.Command(mgmt, "list"), "listed")
	})

	t.Run("logout ends the session", func(t *testing.T) {
		assert.Contains(t, alice.Command(mgmt, "logout loop"), "Logged out")
		assert.Contains(t, alice.Command(mgmt, "status"), "no sessions")
	})

	t.Run("a relay-only user may not log in", func(t *testing.T) {
		mallory := w.NewUser("mallory")
		mm := mallory.ManagementRoom()
		reply := mallory.Command(mm, "login loop mallory")
		assert.Contains(t, reply, "needs the user permission")
	})

	t.Run("the login command is redacted because it holds a secret", func(t *testing.T) {
		require.Eventually(t, func() bool {
			for _, evt := range alice.Timeline(mgmt) {
				if evt.Sender == alice.ID && evt.Type == event.EventMessage && strings.HasPrefix(bridgeworld.Body(evt), "login loop") {
					return false
				}
			}
			return true
		}, 10*time.Second, 100*time.Millisecond, "login commands still readable in the room")
	})
}

func TestRejectInvitesClearsPendingDMInvites(t *testing.T) {
	w := newWorld(t, nil)
	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	for _, spammer := range []string{"spam1", "spam2", "spam3"} {
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:" + spammer, Sender: spammer, Text: "buy now", DM: true})
	}
	require.Eventually(t, func() bool { return len(alice.Invites()) == 3 }, 20*time.Second, 200*time.Millisecond)
	// The invites show before the bridge has finished setting the rooms up;
	// "list" shows a portal once it has.
	require.Eventually(t, func() bool {
		l := alice.Command(mgmt, "list")
		return strings.Contains(l, "spam1") && strings.Contains(l, "spam2") && strings.Contains(l, "spam3")
	}, 20*time.Second, 500*time.Millisecond)
	reply := alice.Command(mgmt, "reject-invites")
	assert.Contains(t, reply, "Rejected 3")
	require.Eventually(t, func() bool { return len(alice.Invites()) == 0 }, 20*time.Second, 200*time.Millisecond)
}

func TestHealthEndpoint(t *testing.T) {
	w := newWorld(t, nil)
	resp, err := http.Get(fmt.Sprintf("http://%s/_isthmus/health", w.Config.Appservice.Listen))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	data, _ := io.ReadAll(resp.Body)
	var h struct {
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(data, &h))
	assert.Equal(t, "ok", h.Status)
	assert.NotContains(t, string(data), w.Config.Appservice.ASToken)
}

func TestThirdPartyLookups(t *testing.T) {
	w := newWorld(t, nil)
	get := func(path string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s%s", w.Config.Appservice.Listen, path), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+w.Config.Appservice.HSToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"the protocol lists the network as an instance", "/_matrix/app/v1/thirdparty/protocol/loopback", 200, `"network_id":"loop"`},
		{"an unknown protocol is not found", "/_matrix/app/v1/thirdparty/protocol/xmpp", 404, "M_NOT_FOUND"},
		{"a chat maps to its portal alias", "/_matrix/app/v1/thirdparty/location/loopback?network=loop&chat=general", 200, `"#loop_loop_general:isthmus.test"`},
		{"a remote user maps to their ghost", "/_matrix/app/v1/thirdparty/user/loopback?network=loop&user=carol", 200, `"@loop_loop_carol:isthmus.test"`},
		{"a ghost maps back to the remote user", "/_matrix/app/v1/thirdparty/user?userid=@loop_loop_carol:isthmus.test", 200, `"user":"carol"`},
		{"an alias maps back to the chat", "/_matrix/app/v1/thirdparty/location?alias=%23loop_loop_general:isthmus.test", 200, `"chat":"general"`},
		{"a user outside the namespace is not found", "/_matrix/app/v1/thirdparty/user?userid=@alice:isthmus.test", 404, "M_NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(tt.path)
			assert.Equal(t, tt.status, status, body)
			assert.Contains(t, body, tt.contains)
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	w := newWorldWith(t, storage.SQLite, nil, bridgeworld.Options{})
	// Pick the port only now: Dendrite (running already) binds ports of
	// its own, and one picked earlier could be taken by then.
	addr := bridgeworld.FreeAddr(t)
	f, err := os.OpenFile(w.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fmt.Fprintf(f, "metrics: {listen: %q}\n", addr)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	w.StartBridge()
	alice := w.NewUser("alice")
	require.Contains(t, alice.Command(alice.ManagementRoom(), "login loop alice"), "Logged in")
	room := joinPortal(alice, "metrics")
	w.remote.Append(remote.Event{Kind: "message", Chat: "metrics", Sender: "carol", Text: "count me"})
	alice.WaitFor(room, "message", func(e *event.Event) bool { return bridgeworld.Body(e) == "count me" })
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	text := string(data)
	for _, name := range []string{
		"isthmus_appservice_transactions_total", "isthmus_remote_events_total", "isthmus_homeserver_request_seconds",
		"isthmus_sessions", "isthmus_remote_queue_depth",
	} {
		assert.True(t, strings.Contains(text, name), "metric %s missing", name)
	}
	// Metrics are per process; other tests' bridges may have counted too.
	assert.Regexp(t, `isthmus_sessions\{network="loop",state="connected"\} [1-9]`, text)
	assert.Regexp(t, `isthmus_remote_events_total\{outcome="handled"\} [1-9]`, text)
	assert.False(t, strings.Contains(text, w.Config.Appservice.ASToken), "no secret in metrics")
}

func TestAdminLinksAndUnlinksARoom(t *testing.T) {
	w := newWorld(t, nil)
	admin := w.NewUser("admin")
	alice := w.NewUser("alice")
	mgmt := admin.ManagementRoom()
	created, err := admin.Client.CreateRoom(bridgeworld.Ctx(t), &mautrix.ReqCreateRoom{Preset: "public_chat", Invite: []id.UserID{bridgeworld.BotMXID()},
		PowerLevelOverride: &event.PowerLevelsEventContent{Users: map[id.UserID]int{admin.ID: 100, bridgeworld.BotMXID(): 100}}})
	require.NoError(t, err)
	room := created.RoomID

	t.Run("a user may not link", func(t *testing.T) {
		aliceMgmt := alice.ManagementRoom()
		assert.Contains(t, alice.Command(aliceMgmt, "link loop existing "+room.String()), "needs the admin permission")
	})

	t.Run("after link, the room carries bridge info and remote messages", func(t *testing.T) {
		assert.Contains(t, admin.Command(mgmt, "link loop existing "+room.String()), "Linked")
		admin.WaitFor(room, "bridge info", func(e *event.Event) bool { return e.Type == event.StateBridge })
		w.remote.Append(remote.Event{Kind: "message", Chat: "existing", Sender: "carol", Text: "into the linked room"})
		admin.WaitFor(room, "message", func(e *event.Event) bool { return bridgeworld.Body(e) == "into the linked room" })
	})

	t.Run("after unlink, remote messages no longer reach the room", func(t *testing.T) {
		assert.Contains(t, admin.Command(mgmt, "unlink "+room.String()), "Unlinked")
		admin.WaitFor(room, "bridge info cleared", func(e *event.Event) bool {
			return e.Type == event.StateBridge && len(e.Content.Raw) == 0
		})
		// The chat gets a fresh portal instead (history is "joined", so
		// alice joins before the message): wait for the message there, then
		// check the unlinked room did not get it too.
		fresh := joinPortal(alice, "existing")
		assert.NotEqual(t, room, fresh)
		w.remote.Append(remote.Event{Kind: "message", Chat: "existing", Sender: "carol", Text: "not here"})
		alice.WaitFor(fresh, "message in the new portal", func(e *event.Event) bool { return bridgeworld.Body(e) == "not here" })
		assert.NotContains(t, admin.Messages(room, ""), "not here")
	})
}
