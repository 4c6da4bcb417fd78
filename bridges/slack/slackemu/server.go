package slackemu

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Token is a credential the workspace accepts.
type Token struct {
	Value string // xoxp-..., xoxb-... or xoxc-...
	User  string // the user it acts as
	// Cookie is the value of the "d" cookie an xoxc- token needs; ignored
	// for other tokens.
	Cookie string
	// BotID is set for xoxb- tokens: auth.test reports it and messages the
	// token posts carry it.
	BotID string

	revoked bool
	// signedOut makes the token unknown to Slack (invalid_auth), as
	// signing a browser session out does to its xoxc- token.
	signedOut bool
}

// Server is one emulated Slack workspace. Create it with New; it stops
// with the test.
type Server struct {
	srv      *httptest.Server
	team     teamJSON
	teamIcon []byte

	mu sync.Mutex
	// public is the base of every URL the workspace hands out (websockets,
	// uploads, files, icons): its own server's, or its place behind a
	// Front.
	public   string
	users    map[string]*User
	convs    map[string]*conversation
	tokens   map[string]*Token
	presence map[string]*presenceState
	files    map[string]*storedFile
	conns    map[*rtmConn]struct{}
	limits   map[string]*rateLimit
	calls    []Call
	rtmDown  bool
	lastTS   time.Time
	nextID   int
	tickets  map[string]rtmTicket
	methods  map[string]method
	typing   []typingSent
	// holds are answers kept back by Hold, by method and caller.
	holds map[holdKey]chan struct{}

	// Socket Mode (socketmode.go).
	apps          map[string]*App // by app-level token
	socketTickets map[string]*App
	sockets       map[*socketConn]struct{}
	unacked       map[string]map[string]*envelope // app ID, envelope ID
	acked         []string
	nextEnvelope  int
}

// typingSent is a typing indicator a client sent over RTM.
type typingSent struct{ user, channel string }

type teamJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain string `json:"domain"`
	// Icon is team.info's "icon": image_34 … image_230 URLs, and
	// image_default true while the workspace has no icon of its own.
	Icon map[string]any `json:"icon"`
}

type conversation struct {
	Conversation
	messages []*Message        // sorted by ts, oldest first
	marks    map[string]string // each member's read marker
}

type presenceState struct {
	manualAway bool
	online     bool // has an RTM connection or was marked active by the test
}

type rateLimit struct {
	remaining  int
	retryAfter int
}

// caller is who made an authenticated call.
type caller struct {
	user  *User
	token *Token
}

// method handles one Web API method. It runs without the server lock held
// and takes it itself, so that it can push RTM events after changing
// state.
type method func(c caller, p url.Values) any

// New starts an empty workspace with the given team ID and name; the
// server is closed when the test ends.
func New(t interface{ Cleanup(func()) }, teamID, teamName string) *Server {
	s := &Server{
		team:     teamJSON{ID: teamID, Name: teamName, Domain: strings.ToLower(teamName), Icon: map[string]any{"image_default": true}},
		users:    map[string]*User{},
		convs:    map[string]*conversation{},
		tokens:   map[string]*Token{},
		presence: map[string]*presenceState{},
		files:    map[string]*storedFile{},
		conns:    map[*rtmConn]struct{}{},
		limits:   map[string]*rateLimit{},
		holds:    map[holdKey]chan struct{}{},

		apps:          map[string]*App{},
		socketTickets: map[string]*App{},
		sockets:       map[*socketConn]struct{}{},
		unacked:       map[string]map[string]*envelope{},
	}
	s.methods = map[string]method{
		"auth.test":                    s.authTest,
		"team.info":                    s.teamInfo,
		"auth.revoke":                  s.authRevoke,
		"users.info":                   s.usersInfo,
		"users.conversations":          s.usersConversations,
		"users.getPresence":            s.usersGetPresence,
		"users.setPresence":            s.usersSetPresence,
		"users.profile.get":            s.usersProfileGet,
		"conversations.info":           s.conversationsInfo,
		"conversations.members":        s.conversationsMembers,
		"conversations.history":        s.conversationsHistory,
		"conversations.replies":        s.conversationsReplies,
		"conversations.open":           s.conversationsOpen,
		"conversations.mark":           s.conversationsMark,
		"conversations.join":           s.conversationsJoin,
		"conversations.leave":          s.conversationsLeave,
		"conversations.kick":           s.conversationsKick,
		"chat.postMessage":             s.chatPostMessage,
		"chat.meMessage":               s.chatMeMessage,
		"chat.update":                  s.chatUpdate,
		"chat.delete":                  s.chatDelete,
		"reactions.add":                s.reactionsAdd,
		"reactions.remove":             s.reactionsRemove,
		"files.getUploadURLExternal":   s.filesGetUploadURLExternal,
		"files.completeUploadExternal": s.filesCompleteUploadExternal,
		"rtm.connect":                  s.rtmConnect,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/apps.connections.open", s.appsConnectionsOpen)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/socket/", s.serveSocket)
	mux.HandleFunc("/rtm/", s.serveRTM)
	mux.HandleFunc("/upload/", s.serveUpload)
	mux.HandleFunc("/files-pri/", s.serveFile)
	mux.HandleFunc("/team-icon/", s.serveTeamIcon)
	s.srv = httptest.NewServer(mux)
	s.public = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to give slack.OptionAPIURL and the bridge's
// api_url: method names are appended to it.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Close drops every RTM connection and stops the server. Held answers
// go out first: the HTTP server waits for the calls it is serving.
func (s *Server) Close() {
	s.releaseHolds()
	s.DropRTM()
	s.srv.Close()
}

// Team returns the workspace's ID.
func (s *Server) Team() string { return s.team.ID }

// serveAPI dispatches https://slack.com/api/METHOD. Authentication follows
// https://api.slack.com/web#authentication: a bearer token in the
// Authorization header, or a "token" POST parameter.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/api/")
	p, err := params(r)
	if err != nil {
		writeJSON(w, errorResponse("invalid_form_data"))
		return
	}
	if retry, limited := s.takeRateLimit(name); limited {
		// https://api.slack.com/apis/rate-limits: HTTP 429 with the number
		// of seconds to wait in Retry-After.
		s.recordCall(Call{Method: name, Params: flatten(p), Limited: true})
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		w.WriteHeader(http.StatusTooManyRequests)
		writeJSON(w, errorResponse("ratelimited"))
		return
	}
	m, ok := s.methods[name]
	if !ok {
		s.record(name, "", p)
		writeJSON(w, errorResponse("unknown_method"))
		return
	}
	c, errCode := s.authenticate(r, p)
	if errCode != "" {
		s.record(name, "", p)
		writeJSON(w, errorResponse(errCode))
		return
	}
	s.record(name, c.user.ID, p)
	res := m(c, p)
	s.waitHold(r, name, c.user.ID)
	writeJSON(w, res)
}

// authenticate finds the token of a call. The error codes are the ones
// https://api.slack.com/methods/auth.test lists: not_authed without a
// token, invalid_auth for an unknown one (or an xoxc- token without its
// cookie), token_revoked and account_inactive.
func (s *Server) authenticate(r *http.Request, p url.Values) (caller, string) {
	value := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if value == "" {
		value = p.Get("token")
	}
	if value == "" {
		return caller{}, "not_authed"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps[value] != nil {
		// App-level tokens only open Socket Mode connections.
		return caller{}, "not_allowed_token_type"
	}
	tok, ok := s.tokens[value]
	if !ok || tok.signedOut {
		return caller{}, "invalid_auth"
	}
	if strings.HasPrefix(value, "xoxc-") {
		d, err := r.Cookie("d")
		if err != nil || d.Value != tok.Cookie {
			return caller{}, "invalid_auth"
		}
	}
	if tok.revoked {
		return caller{}, "token_revoked"
	}
	u := s.users[tok.User]
	if u == nil {
		return caller{}, "invalid_auth"
	}
	if u.Deleted {
		return caller{}, "account_inactive"
	}
	return caller{user: u, token: tok}, ""
}

func (s *Server) record(name, user string, p url.Values) {
	s.recordCall(Call{Method: name, User: user, Params: flatten(p)})
}

func (s *Server) recordCall(c Call) {
	c.At = time.Now()
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// flatten keeps a call's arguments for inspection, without the token.
func flatten(p url.Values) map[string]string {
	flat := make(map[string]string, len(p))
	for k, v := range p {
		if k != "token" {
			flat[k] = strings.Join(v, ",")
		}
	}
	return flat
}

func (s *Server) takeRateLimit(name string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{name, "*"} {
		if l := s.limits[key]; l != nil && l.remaining > 0 {
			l.remaining--
			return l.retryAfter, true
		}
	}
	return 0, false
}

// params reads a call's arguments from the query string and from a form or
// JSON body, the content types https://api.slack.com/web#posting_json
// describes. JSON values that are not strings are kept as their JSON text
// (files.completeUploadExternal's "files" arrives either way).
func params(r *http.Request) (url.Values, error) {
	p := url.Values{}
	for k, v := range r.URL.Query() {
		p[k] = v
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && err != io.EOF {
			return nil, err
		}
		for k, raw := range body {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				p.Set(k, str)
			} else {
				p.Set(k, string(raw))
			}
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return nil, err
		}
		for k, v := range r.MultipartForm.Value {
			p[k] = v
		}
	default:
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k, v := range r.PostForm {
			p[k] = v
		}
	}
	return p, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

type response map[string]any

func ok(fields response) response {
	if fields == nil {
		fields = response{}
	}
	fields["ok"] = true
	return fields
}

func errorResponse(code string) response {
	return response{"ok": false, "error": code}
}

// newTS allocates a message timestamp. Slack's ts is "seconds.micros" and
// unique per channel; the emulator makes it unique per workspace and
// strictly increasing so tests can order by it.
func (s *Server) newTS() string {
	now := time.Now().Truncate(time.Microsecond)
	if !now.After(s.lastTS) {
		now = s.lastTS.Add(time.Microsecond)
	}
	s.lastTS = now
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}

// newID allocates an ID with Slack's prefixes (C channel, D IM, G group, F
// file, U user).
func (s *Server) newID(prefix string) string {
	s.nextID++
	return fmt.Sprintf("%s%07d", prefix, s.nextID)
}

// tsLess compares two Slack timestamps ("seconds.micros") numerically
// without going through float64, which cannot hold every microsecond.
func tsLess(a, b string) bool {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	if len(as) != len(bs) {
		return len(as) < len(bs)
	}
	if as != bs {
		return as < bs
	}
	return af < bf
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
