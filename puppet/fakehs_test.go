package puppet_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/puppet"
)

const (
	testDomain  = "example.org"
	testASToken = "as-token-for-the-bridge"
)

// fakeHS is a homeserver that answers the few endpoints the puppet package
// uses and counts every request, so tests can assert that nothing is sent
// twice.
type fakeHS struct {
	t      testing.TB
	srv    *httptest.Server
	domain string

	mu           sync.Mutex
	counts       map[string]int // "METHOD endpoint" -> requests
	profiles     map[id.UserID]map[string]any
	tokens       map[string]id.UserID // user access tokens
	asTokens     map[string]bool      // tokens allowed to masquerade
	forbidden    map[id.UserID]bool   // users an appservice may not masquerade as
	sharedSecret string               // "" = no shared-secret login
	legacyLogin  bool                 // offer only m.login.password for shared-secret logins
	failNext     map[string][]int     // endpoint -> statuses to fail with before succeeding
	sent         []map[string]any     // contents of room events, with "sender" added
	media        int
	issued       int
}

func newFakeHS(t testing.TB) *fakeHS {
	hs := &fakeHS{
		t:         t,
		domain:    testDomain,
		counts:    map[string]int{},
		profiles:  map[id.UserID]map[string]any{},
		tokens:    map[string]id.UserID{},
		asTokens:  map[string]bool{testASToken: true},
		forbidden: map[id.UserID]bool{},
		failNext:  map[string][]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_matrix/client/v3/register", hs.register)
	mux.HandleFunc("PUT /_matrix/client/v3/profile/{user}/{field}", hs.setProfile)
	mux.HandleFunc("POST /_matrix/media/v3/upload", hs.upload)
	mux.HandleFunc("GET /_matrix/client/v3/account/whoami", hs.whoami)
	mux.HandleFunc("GET /_matrix/client/v3/login", hs.loginFlows)
	mux.HandleFunc("POST /_matrix/client/v3/login", hs.login)
	mux.HandleFunc("POST /_matrix/client/v3/logout", hs.logout)
	mux.HandleFunc("PUT /_matrix/client/v3/rooms/{room}/send/{type}/{txn}", hs.send)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake homeserver: unexpected %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, "M_UNRECOGNIZED", "not in the fake")
	})
	hs.srv = httptest.NewServer(mux)
	t.Cleanup(hs.srv.Close)
	return hs
}

// appService builds a mautrix appservice aimed at the fake, without retries
// so that error cases are fast.
func (hs *fakeHS) appService() *mauas.AppService {
	as := mauas.Create()
	as.HomeserverDomain = hs.domain
	as.Registration = &mauas.Registration{ID: "isthmus", AppToken: testASToken, SenderLocalpart: "isthmusbot"}
	as.DefaultHTTPRetries = 0
	require.NoError(hs.t, as.SetHomeserverURL(hs.srv.URL))
	// mautrix creates the bot client lazily without a lock, and Intent reads
	// it; whoever owns the appservice must do this once before concurrent use.
	as.BotIntent()
	return as
}

func (hs *fakeHS) URL() string { return hs.srv.URL }

func (hs *fakeHS) count(endpoint string) int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.counts[endpoint]
}

func (hs *fakeHS) snapshot() map[string]int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make(map[string]int, len(hs.counts))
	for k, v := range hs.counts {
		out[k] = v
	}
	return out
}

// since returns the requests made after the snapshot before, by endpoint.
func (hs *fakeHS) since(before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range hs.snapshot() {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func (hs *fakeHS) profile(userID id.UserID, field string) (any, bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	v, ok := hs.profiles[userID][field]
	return v, ok
}

func (hs *fakeHS) addUserToken(token string, userID id.UserID) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.tokens[token] = userID
}

func (hs *fakeHS) revoke(token string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	delete(hs.tokens, token)
}

// failOnce makes the next request to endpoint fail with status: 403 gives
// M_FORBIDDEN, anything else M_UNKNOWN.
func (hs *fakeHS) failOnce(endpoint string, status int) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.failNext[endpoint] = append(hs.failNext[endpoint], status)
}

func (hs *fakeHS) sentEvents() []map[string]any {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]map[string]any(nil), hs.sent...)
}

// begin counts the request and says whether it should fail on purpose.
func (hs *fakeHS) begin(w http.ResponseWriter, endpoint string) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.counts[endpoint]++
	if fails := hs.failNext[endpoint]; len(fails) > 0 {
		hs.failNext[endpoint] = fails[1:]
		code := "M_UNKNOWN"
		if fails[0] == http.StatusForbidden {
			code = "M_FORBIDDEN"
		}
		writeError(w, fails[0], code, "failing on purpose")
		return false
	}
	return true
}

// caller resolves the request's access token: the appservice (masquerading
// with user_id) or a user. ok is false after an error was written.
func (hs *fakeHS) caller(w http.ResponseWriter, r *http.Request) (userID id.UserID, viaAS, ok bool) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	switch {
	case hs.asTokens[token]:
		userID = id.UserID(r.URL.Query().Get("user_id"))
		if userID == "" {
			userID = id.NewUserID("isthmusbot", hs.domain)
		}
		if hs.forbidden[userID] {
			writeError(w, http.StatusForbidden, "M_FORBIDDEN", "not in the appservice's namespace")
			return "", true, false
		}
		return userID, true, true
	case hs.tokens[token] != "":
		return hs.tokens[token], false, true
	default:
		writeError(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "unknown token")
		return "", false, false
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"errcode": code, "error": msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (hs *fakeHS) register(w http.ResponseWriter, r *http.Request) {
	if !hs.begin(w, "POST register") {
		return
	}
	if _, viaAS, ok := hs.caller(w, r); !ok {
		return
	} else if !viaAS {
		writeError(w, http.StatusForbidden, "M_FORBIDDEN", "appservice only")
		return
	}
	var req struct {
		Type     string `json:"type"`
		Username string `json:"username"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Type != string(mautrix.AuthTypeAppservice) {
		writeError(w, http.StatusBadRequest, "M_BAD_JSON", fmt.Sprintf("want %s", mautrix.AuthTypeAppservice))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": id.NewUserID(req.Username, hs.domain)})
}

func (hs *fakeHS) setProfile(w http.ResponseWriter, r *http.Request) {
	field := r.PathValue("field")
	if !hs.begin(w, "PUT "+field) {
		return
	}
	caller, _, ok := hs.caller(w, r)
	if !ok {
		return
	}
	target := id.UserID(r.PathValue("user"))
	if caller != target {
		writeError(w, http.StatusForbidden, "M_FORBIDDEN", "not your profile")
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "M_NOT_JSON", err.Error())
		return
	}
	hs.mu.Lock()
	if hs.profiles[target] == nil {
		hs.profiles[target] = map[string]any{}
	}
	hs.profiles[target][field] = body[field]
	hs.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (hs *fakeHS) upload(w http.ResponseWriter, r *http.Request) {
	if !hs.begin(w, "POST upload") {
		return
	}
	if _, _, ok := hs.caller(w, r); !ok {
		return
	}
	hs.mu.Lock()
	hs.media++
	n := hs.media
	hs.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"content_uri": fmt.Sprintf("mxc://%s/media%d", hs.domain, n)})
}

func (hs *fakeHS) whoami(w http.ResponseWriter, r *http.Request) {
	if !hs.begin(w, "GET whoami") {
		return
	}
	userID, _, ok := hs.caller(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_id": userID})
}

func (hs *fakeHS) loginFlows(w http.ResponseWriter, r *http.Request) {
	hs.begin(w, "GET login")
	hs.mu.Lock()
	legacy := hs.legacyLogin
	hs.mu.Unlock()
	flows := []map[string]string{{"type": "m.login.password"}}
	if !legacy {
		flows = append(flows, map[string]string{"type": "com.devture.shared_secret_auth"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"flows": flows})
}

// login implements the shared-secret authenticator: the token (or, in
// its legacy form, the password) is hex HMAC-SHA512 of the full user ID.
func (hs *fakeHS) login(w http.ResponseWriter, r *http.Request) {
	if !hs.begin(w, "POST login") {
		return
	}
	var req mautrix.ReqLogin
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "M_NOT_JSON", err.Error())
		return
	}
	hs.mu.Lock()
	legacy, secret := hs.legacyLogin, hs.sharedSecret
	hs.mu.Unlock()
	proof := req.Token
	if legacy {
		if req.Type != mautrix.AuthTypePassword {
			writeError(w, http.StatusBadRequest, "M_UNKNOWN", "unsupported login type")
			return
		}
		proof = req.Password
	} else if req.Type != "com.devture.shared_secret_auth" {
		writeError(w, http.StatusBadRequest, "M_UNKNOWN", "unsupported login type")
		return
	}
	userID := id.UserID(req.Identifier.User)
	if secret == "" || req.Identifier.Type != mautrix.IdentifierTypeUser ||
		!hmac.Equal([]byte(proof), []byte(sharedSecretProof(secret, userID))) {
		writeError(w, http.StatusForbidden, "M_FORBIDDEN", "invalid login")
		return
	}
	hs.mu.Lock()
	hs.issued++
	token := fmt.Sprintf("syt_issued_%d", hs.issued)
	hs.tokens[token] = userID
	hs.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"user_id": userID, "access_token": token, "device_id": "DEV"})
}

func (hs *fakeHS) logout(w http.ResponseWriter, r *http.Request) {
	if !hs.begin(w, "POST logout") {
		return
	}
	if _, _, ok := hs.caller(w, r); !ok {
		return
	}
	hs.revoke(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	writeJSON(w, http.StatusOK, struct{}{})
}

func (hs *fakeHS) send(w http.ResponseWriter, r *http.Request) {
	if !hs.begin(w, "PUT send") {
		return
	}
	sender, _, ok := hs.caller(w, r)
	if !ok {
		return
	}
	var content map[string]any
	if err := json.NewDecoder(r.Body).Decode(&content); err != nil {
		writeError(w, http.StatusBadRequest, "M_NOT_JSON", err.Error())
		return
	}
	content["sender"] = string(sender)
	hs.mu.Lock()
	hs.sent = append(hs.sent, content)
	n := len(hs.sent)
	hs.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"event_id": fmt.Sprintf("$event%d", n)})
}

// upgraded runs the package's migrations on db.
func upgraded(t testing.TB, db *dbutil.Database) *dbutil.Database {
	t.Helper()
	require.NoError(t, puppet.Upgrade(context.Background(), db))
	return db
}

// configure changes the fake's settings under its lock.
func (hs *fakeHS) configure(change func(hs *fakeHS)) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	change(hs)
}

// sharedSecretProof is what the shared-secret authenticator expects: hex
// HMAC-SHA512 of the full user ID, keyed with the secret.
func sharedSecretProof(secret string, userID id.UserID) string {
	mac := hmac.New(sha512.New, []byte(secret))
	mac.Write([]byte(userID))
	return hex.EncodeToString(mac.Sum(nil))
}
