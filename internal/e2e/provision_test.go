package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/storage"
)

const provisionSecret = "provision-secret-for-tests"

func TestProvisioningAPILogsUsersInAndOut(t *testing.T) {
	var logs bytes.Buffer
	w := newWorldWith(t, storage.SQLite, nil, bridgeworld.Options{Log: &logs,
		Bridge: map[string]any{"provisioning": map[string]any{"shared_secret": provisionSecret}}})
	w.StartBridge()
	alice := w.NewUser("alice")
	base := "http://" + w.Config.Appservice.Listen + "/_isthmus/provision/v1"
	call := func(method, path, secret, user string, body any) (int, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, err := http.NewRequest(method, base+path+"?user_id="+url.QueryEscape(user), rd)
		require.NoError(t, err)
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	for _, tt := range []struct {
		name, secret, user string
		status             int
		errcode            string
	}{
		{"no secret", "", alice.ID.String(), 401, "M_MISSING_TOKEN"},
		{"a wrong secret", "not-the-secret", alice.ID.String(), 403, "M_FORBIDDEN"},
		{"no user", provisionSecret, "", 400, "M_INVALID_PARAM"},
		{"a relay-only user", provisionSecret, "@mallory:" + bridgeworld.Domain, 403, "M_FORBIDDEN"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			status, body := call("POST", "/login/loop", tt.secret, tt.user, map[string]any{"args": []string{"alice"}})
			assert.Equal(t, tt.status, status)
			assert.Equal(t, tt.errcode, body["errcode"])
			status, body = call("GET", "/logins", provisionSecret, alice.ID.String(), nil)
			assert.Equal(t, 200, status)
			assert.Empty(t, body["logins"], "a refused request logged someone in")
		})
	}

	t.Run("a wrong login is refused with the adapter's reason", func(t *testing.T) {
		status, body := call("POST", "/login/loop", provisionSecret, alice.ID.String(), map[string]any{"args": []string{"nobody"}})
		assert.Equal(t, 403, status)
		assert.Contains(t, body["error"], "nobody")
	})

	t.Run("an unknown network is not found", func(t *testing.T) {
		status, _ := call("POST", "/login/nowhere", provisionSecret, alice.ID.String(), map[string]any{"args": []string{"alice"}})
		assert.Equal(t, 404, status)
	})

	t.Run("a login connects a session the user sees in status", func(t *testing.T) {
		status, body := call("POST", "/login/loop", provisionSecret, alice.ID.String(), map[string]any{"args": []string{"alice"}})
		require.Equal(t, 200, status, body)
		assert.Equal(t, "loop", body["network"])
		assert.Contains(t, alice.Command(alice.ManagementRoom(), "status"), "loop as alice: connected")
		require.Eventually(t, func() bool {
			_, body := call("GET", "/logins", provisionSecret, alice.ID.String(), nil)
			logins, _ := body["logins"].([]any)
			return len(logins) == 1 && logins[0].(map[string]any)["state"] == "connected"
		}, 10*time.Second, 100*time.Millisecond)
	})

	t.Run("a logout ends it, and a second finds nothing", func(t *testing.T) {
		status, body := call("POST", "/logout/loop", provisionSecret, alice.ID.String(), nil)
		require.Equal(t, 200, status, body)
		assert.Contains(t, alice.Command(alice.ManagementRoom(), "status"), "no sessions")
		status, _ = call("POST", "/logout/loop", provisionSecret, alice.ID.String(), nil)
		assert.Equal(t, 404, status)
	})

	w.StopBridge() // the log buffer is read only once nothing writes to it
	assert.False(t, strings.Contains(logs.String(), provisionSecret), "the provisioning secret reached the logs")
}
