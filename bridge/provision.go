package bridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// The provisioning API lets an integration manager or a web page log users
// in and out without a management room, in the shape mautrix bridges use:
// the bridge.provisioning.shared_secret as a bearer token, acting for the
// user named by ?user_id=, who needs the same permission as for the
// command. It is off while the secret is empty. Request bodies hold
// credentials and are never logged.
const provisionPrefix = "/_isthmus/provision/v1"

// maxProvisionBody bounds a login body: a token or two, never megabytes.
const maxProvisionBody = 64 << 10

// ProvisioningConfig turns the provisioning API on.
type ProvisioningConfig struct {
	SharedSecret string `yaml:"shared_secret"`
}

func (br *Bridge) routeProvisioning(mux *http.ServeMux) {
	if br.Config.Bridge.Provisioning.SharedSecret == "" {
		return
	}
	mux.Handle("GET "+provisionPrefix+"/logins", br.provisionAuth(PermRelay, br.provisionLogins))
	mux.Handle("POST "+provisionPrefix+"/login/{network}", br.provisionAuth(PermUser, br.provisionLogin))
	mux.Handle("POST "+provisionPrefix+"/logout/{network}", br.provisionAuth(PermUser, br.provisionLogout))
}

type provisionHandler func(w http.ResponseWriter, r *http.Request, user *User)

// provisionAuth checks the shared secret (missing: 401, wrong: 403, both
// compared as SHA-256 sums in constant time) and the user's permission.
func (br *Bridge) provisionAuth(need Permission, next provisionHandler) http.Handler {
	want := sha256.Sum256([]byte(br.Config.Bridge.Provisioning.SharedSecret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			mautrix.MMissingToken.WithMessage("Missing provisioning secret").Write(w)
			return
		}
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			br.Log.Warn().Str("path", r.URL.Path).Str("remote_addr", r.RemoteAddr).Msg("Provisioning request with a wrong secret")
			mautrix.MForbidden.WithMessage("Wrong provisioning secret").Write(w)
			return
		}
		mxid := id.UserID(r.URL.Query().Get("user_id"))
		if _, _, err := mxid.Parse(); err != nil {
			mautrix.MInvalidParam.WithMessage("user_id must be a Matrix user ID").Write(w)
			return
		}
		user, err := br.userFor(r.Context(), mxid)
		if err != nil {
			br.Log.Err(err).Msg("Provisioning: failed to load user")
			mautrix.MUnknown.WithMessage("Internal error").Write(w)
			return
		}
		if user.Permission < need {
			mautrix.MForbidden.WithMessage("%s may not do this (needs the %s permission)", mxid, need).Write(w)
			return
		}
		ctx := br.Log.With().Str("user_id", mxid.String()).Str("path", r.URL.Path).Logger().WithContext(r.Context())
		next(w, r.WithContext(ctx), user)
	})
}

type provisionedLogin struct {
	Network    NetworkID    `json:"network"`
	LoginID    LoginID      `json:"login_id"`
	RemoteID   RemoteUserID `json:"remote_id"`
	RemoteName string       `json:"remote_name"`
	State      string       `json:"state,omitempty"`
	Message    string       `json:"message,omitempty"`
}

func (br *Bridge) provisionLogins(w http.ResponseWriter, _ *http.Request, user *User) {
	br.sessMu.RLock()
	entries := append([]*sessionEntry(nil), br.sessions[user.MXID]...)
	br.sessMu.RUnlock()
	out := []provisionedLogin{}
	for _, e := range entries {
		st := e.currentState()
		out = append(out, provisionedLogin{Network: e.login.Network, LoginID: e.login.ID, RemoteID: e.login.RemoteID,
			RemoteName: e.login.RemoteName, State: string(st.Kind), Message: st.Message})
	}
	writeJSON(w, http.StatusOK, map[string]any{"logins": out})
}

// provisionLogin takes {"args": [...]}, the words after "login <network>".
func (br *Bridge) provisionLogin(w http.ResponseWriter, r *http.Request, user *User) {
	nid, ok := br.resolveNetwork(r.PathValue("network"))
	if !ok {
		mautrix.MNotFound.WithMessage("No network %q (configured: %s)", r.PathValue("network"), br.networkList()).Write(w)
		return
	}
	var body struct {
		Args []string `json:"args"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxProvisionBody)).Decode(&body); err != nil {
		mautrix.MNotJSON.WithMessage("Body must be {\"args\": [...]}").Write(w)
		return
	}
	login, err := br.login(r.Context(), user, nid, body.Args)
	if err != nil {
		// Adapters keep credentials out of their errors; the error is the
		// user's to read, as in the management room.
		// Not logged: the reason may quote what was sent, a password
		// passed in the wrong place included.
		zerolog.Ctx(r.Context()).Info().Str("network", string(nid)).Msg("Provisioned login refused")
		mautrix.MForbidden.WithMessage("%s", err.Error()).Write(w)
		return
	}
	zerolog.Ctx(r.Context()).Info().Str("network", string(nid)).Str("login_id", string(login.ID)).Msg("Provisioned login")
	writeJSON(w, http.StatusOK, provisionedLogin{Network: nid, LoginID: login.ID, RemoteID: login.RemoteID, RemoteName: login.RemoteName})
}

// provisionLogout takes an optional {"login_id": "...", "revoke": true}:
// one login, and invalidating its credentials remotely.
func (br *Bridge) provisionLogout(w http.ResponseWriter, r *http.Request, user *User) {
	nid, ok := br.resolveNetwork(r.PathValue("network"))
	if !ok {
		mautrix.MNotFound.WithMessage("No network %q", r.PathValue("network")).Write(w)
		return
	}
	var body struct {
		LoginID LoginID `json:"login_id"`
		Revoke  bool    `json:"revoke"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxProvisionBody)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		mautrix.MNotJSON.WithMessage("Body must be empty or {\"login_id\": \"...\"}").Write(w)
		return
	}
	n, err := br.logout(r.Context(), user.MXID, nid, body.LoginID, body.Revoke)
	if err != nil {
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("Provisioned logout failed")
		mautrix.MUnknown.WithMessage("%s", err.Error()).Write(w)
		return
	}
	if n == 0 {
		mautrix.MNotFound.WithMessage("Not logged in to %s", nid).Write(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"logged_out": n})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
