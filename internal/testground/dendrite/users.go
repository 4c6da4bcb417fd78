package dendrite

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// requestTimeout bounds one call to the server's API.
const requestTimeout = 30 * time.Second

var httpClient = &http.Client{Timeout: requestTimeout}

// CreateUser registers a normal (non-admin) user through the shared-secret admin API
// (/_synapse/admin/v1/register), then logs in with the password and returns the full user ID and
// that login's access token. Dendrite rejects passwords shorter than 8 characters. It fails t on
// any error, including a taken localpart.
func (s *Server) CreateUser(t testing.TB, localpart, password string) (userID, accessToken string) {
	t.Helper()
	ctx := context.Background()
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := s.Call(ctx, http.MethodGet, "/_synapse/admin/v1/register", "", nil, &nonce); err != nil {
		t.Fatalf("create user %s: get nonce: %v", localpart, err)
	}
	mac := hmac.New(sha1.New, []byte(s.SharedSecret))
	for i, part := range []string{nonce.Nonce, localpart, password, "notadmin"} {
		if i > 0 {
			mac.Write([]byte{0})
		}
		mac.Write([]byte(part))
	}
	req := map[string]any{
		"nonce":    nonce.Nonce,
		"username": localpart,
		"password": password,
		"admin":    false,
		"mac":      hex.EncodeToString(mac.Sum(nil)),
	}
	if err := s.Call(ctx, http.MethodPost, "/_synapse/admin/v1/register", "", req, nil); err != nil {
		t.Fatalf("create user %s: %v", localpart, err)
	}
	return s.Login(t, localpart, password)
}

// Login logs in with a password (m.login.password) and returns the user ID and a new access token
// (a new device each time). It fails t on any error.
func (s *Server) Login(t testing.TB, localpart, password string) (userID, accessToken string) {
	t.Helper()
	req := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": localpart},
		"password":   password,
	}
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
	}
	if err := s.Call(context.Background(), http.MethodPost, "/_matrix/client/v3/login", "", req, &resp); err != nil {
		t.Fatalf("log in %s: %v", localpart, err)
	}
	if resp.UserID == "" || resp.AccessToken == "" {
		t.Fatalf("log in %s: answer lacks user_id or access_token", localpart)
	}
	return resp.UserID, resp.AccessToken
}

// HTTPError is a non-2xx answer from the server, with the Matrix error code when it sent one.
type HTTPError struct {
	Method, Path string
	Status       int
	ErrCode      string // e.g. "M_FORBIDDEN"; empty if the body was not a Matrix error
	Body         string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// Call sends one JSON request to the server and decodes a 2xx JSON answer into out (when out is
// not nil). path may carry a query string; token, when not empty, goes in an
// "Authorization: Bearer" header; body, when not nil, is encoded as JSON. A non-2xx answer is an
// *HTTPError. It is meant for tests that need a raw client-server API call.
func (s *Server) Call(ctx context.Context, method, path, token string, body, out any) error {
	var reqBody io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		reqBody = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, reqBody)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var merr struct {
			ErrCode string `json:"errcode"`
		}
		_ = json.Unmarshal(data, &merr)
		return &HTTPError{Method: method, Path: path, Status: resp.StatusCode, ErrCode: merr.ErrCode, Body: string(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
