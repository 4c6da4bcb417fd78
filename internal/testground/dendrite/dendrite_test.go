package dendrite

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testRegistration = `id: isthmus-test
url: http://127.0.0.1:1
as_token: test-as-token
hs_token: test-hs-token
sender_localpart: test_sender
rate_limited: false
namespaces:
  users:
  - exclusive: true
    regex: '@test_.*'
  aliases: []
  rooms: []
`

func whoami(t *testing.T, s *Server, path, token string) string {
	t.Helper()
	var resp struct {
		UserID string `json:"user_id"`
	}
	require.NoError(t, s.Call(context.Background(), http.MethodGet, path, token, nil, &resp))
	return resp.UserID
}

func TestCreatedUserCanLogIn(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	assert.Equal(t, Domain, s.Domain)

	userID, token := s.CreateUser(t, "alice", "alice-password")
	assert.Equal(t, "@alice:"+Domain, userID)
	assert.Equal(t, userID, whoami(t, s, "/_matrix/client/v3/account/whoami", token))

	_, token2 := s.Login(t, "alice", "alice-password")
	assert.NotEqual(t, token, token2, "each login is a new device")
	assert.Equal(t, userID, whoami(t, s, "/_matrix/client/v3/account/whoami", token2))

	t.Run("open registration is disabled", func(t *testing.T) {
		err := s.Call(context.Background(), http.MethodPost, "/_matrix/client/v3/register", "",
			map[string]any{"username": "mallory", "password": "mallory-password", "auth": map[string]string{"type": "m.login.dummy"}}, nil)
		var herr *HTTPError
		require.ErrorAs(t, err, &herr)
		assert.Equal(t, "M_FORBIDDEN", herr.ErrCode)
	})
}

func TestAppserviceRegistrationIsLoaded(t *testing.T) {
	t.Parallel()
	reg := filepath.Join(t.TempDir(), "registration.yaml")
	require.NoError(t, os.WriteFile(reg, []byte(testRegistration), 0o600))
	s := Start(t, Options{RegistrationPath: reg})
	ctx := context.Background()
	const asToken = "test-as-token"

	t.Run("the sender user exists from the start", func(t *testing.T) {
		assert.Equal(t, "@test_sender:"+Domain, whoami(t, s, "/_matrix/client/v3/account/whoami", asToken))
	})

	t.Run("a user in the namespace can be registered and impersonated", func(t *testing.T) {
		register := map[string]any{"type": "m.login.application_service", "username": "test_bot"}
		require.NoError(t, s.Call(ctx, http.MethodPost, "/_matrix/client/v3/register", asToken, register, nil))
		botID := "@test_bot:" + Domain
		assert.Equal(t, botID, whoami(t, s, "/_matrix/client/v3/account/whoami?user_id="+botID, asToken))

		var herr *HTTPError
		err := s.Call(ctx, http.MethodPost, "/_matrix/client/v3/register", asToken, register, nil)
		require.ErrorAs(t, err, &herr)
		assert.Equal(t, "M_USER_IN_USE", herr.ErrCode)
	})

	t.Run("an unregistered user cannot be impersonated", func(t *testing.T) {
		err := s.Call(ctx, http.MethodGet, "/_matrix/client/v3/account/whoami?user_id=@test_nobody:"+Domain, asToken, nil, nil)
		var herr *HTTPError
		require.ErrorAs(t, err, &herr)
		assert.Equal(t, http.StatusForbidden, herr.Status)
	})

	t.Run("a user outside the namespace cannot be registered", func(t *testing.T) {
		register := map[string]any{"type": "m.login.application_service", "username": "alice"}
		err := s.Call(ctx, http.MethodPost, "/_matrix/client/v3/register", asToken, register, nil)
		var herr *HTTPError
		require.ErrorAs(t, err, &herr)
		assert.Equal(t, "M_EXCLUSIVE", herr.ErrCode)
	})
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	userID, token := s.CreateUser(t, "bob", "bob-password")
	url := s.URL

	s.Stop(t)
	err := s.Call(context.Background(), http.MethodGet, "/_matrix/client/versions", "", nil, nil)
	var herr *HTTPError
	require.Error(t, err, "a stopped server does not answer")
	require.False(t, errors.As(err, &herr), "a stopped server does not answer, got %v", err)

	s.Restart(t)
	assert.Equal(t, url, s.URL, "the address stays the same")
	assert.Equal(t, userID, whoami(t, s, "/_matrix/client/v3/account/whoami", token), "the old token still works")

	s.Restart(t) // restarting a running server works too
	s.Login(t, "bob", "bob-password")
}

func TestSetKeyRejectsUnknownKeys(t *testing.T) {
	cfg := map[any]any{"global": map[any]any{"server_name": "x"}}
	require.NoError(t, setKey(cfg, "global.server_name", "y"))
	assert.Equal(t, "y", cfg["global"].(map[any]any)["server_name"])
	assert.Error(t, setKey(cfg, "global.sever_name", "y"))
	assert.Error(t, setKey(cfg, "global.server_name.x", "y"))
	assert.Error(t, setKey(cfg, "client_api.registration_disabled", true))
}
