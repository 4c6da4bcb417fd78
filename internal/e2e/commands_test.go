package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
)

func TestManagementRoomCommands(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()

	t.Run("help lists the commands the user may run", func(t *testing.T) {
		reply := alice.command(mgmt, "help")
		for _, cmd := range []string{"status", "login", "logout", "login-matrix", "list", "reject-invites"} {
			assert.Contains(t, reply, cmd)
		}
		assert.NotContains(t, reply, "unlink", "admin commands are not offered to users")
	})

	t.Run("an unknown command gets help", func(t *testing.T) {
		reply := alice.command(mgmt, "frobnicate")
		assert.Contains(t, reply, "Unknown command")
		assert.Contains(t, reply, "status")
	})

	t.Run("a wrong login is refused with the reason and no session", func(t *testing.T) {
		reply := alice.command(mgmt, "login loop nobody")
		assert.Contains(t, reply, "failed")
		assert.Contains(t, alice.command(mgmt, "status"), "no sessions")
	})

	t.Run("status shows the session after a login", func(t *testing.T) {
		require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
		reply := alice.command(mgmt, "status")
		assert.Contains(t, reply, "loop as alice: connected")
	})

	t.Run("list shows the portals", func(t *testing.T) {
		alice.joinPortal("listed")
		assert.Contains(t, alice.command(mgmt, "list"), "listed")
	})

	t.Run("logout ends the session", func(t *testing.T) {
		assert.Contains(t, alice.command(mgmt, "logout loop"), "Logged out")
		assert.Contains(t, alice.command(mgmt, "status"), "no sessions")
	})

	t.Run("a relay-only user may not log in", func(t *testing.T) {
		mallory := w.newUser("mallory")
		mm := mallory.managementRoom()
		reply := mallory.command(mm, "login loop mallory")
		assert.Contains(t, reply, "needs the user permission")
	})

	t.Run("the login command is redacted because it holds a secret", func(t *testing.T) {
		require.Eventually(t, func() bool {
			for _, evt := range alice.timeline(mgmt) {
				if evt.Sender == alice.id && evt.Type == event.EventMessage && strings.HasPrefix(body(evt), "login loop") {
					return false
				}
			}
			return true
		}, 10*time.Second, 100*time.Millisecond, "login commands still readable in the room")
	})
}

func TestRejectInvitesClearsPendingDMInvites(t *testing.T) {
	w := newWorld(t, "")
	alice := w.newUser("alice")
	mgmt := alice.managementRoom()
	require.Contains(t, alice.command(mgmt, "login loop alice"), "Logged in")
	for _, spammer := range []string{"spam1", "spam2", "spam3"} {
		w.remote.Append(remote.Event{Kind: "message", Chat: "dm:alice:" + spammer, Sender: spammer, Text: "buy now", DM: true})
	}
	require.Eventually(t, func() bool { return len(alice.invites()) == 3 }, 20*time.Second, 200*time.Millisecond)
	reply := alice.command(mgmt, "reject-invites")
	assert.Contains(t, reply, "Rejected 3")
	require.Eventually(t, func() bool { return len(alice.invites()) == 0 }, 20*time.Second, 200*time.Millisecond)
}

// invites returns the rooms the user is invited to.
func (u *user) invites() []id.RoomID {
	resp, err := u.client.SyncRequest(ctxT(u.t), 0, "", "", false, event.PresenceOffline)
	require.NoError(u.t, err)
	var out []id.RoomID
	for r := range resp.Rooms.Invite {
		out = append(out, r)
	}
	return out
}

func TestHealthEndpoint(t *testing.T) {
	w := newWorld(t, "")
	resp, err := http.Get(fmt.Sprintf("http://%s/_isthmus/health", w.cfg.Appservice.Listen))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	data, _ := io.ReadAll(resp.Body)
	var h struct {
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(data, &h))
	assert.Equal(t, "ok", h.Status)
	assert.NotContains(t, string(data), w.cfg.Appservice.ASToken)
}
