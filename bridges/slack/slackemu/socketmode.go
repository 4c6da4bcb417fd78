package slackemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Socket Mode (https://api.slack.com/apis/connections/socket-implement):
// an app opens a websocket with its app-level token
// (https://api.slack.com/methods/apps.connections.open) and receives the
// Events API payloads of the conversations its bot user is in, each in an
// envelope the app must acknowledge by envelope_id. The emulator's choices
// where the docs leave room: an envelope not acknowledged on a connection
// is delivered again, with retry_attempt raised, on the app's next
// connection; events that happen while the app has no connection at all
// are not queued (like RTM, the app catches up with
// conversations.history); the server pings every SocketPingInterval, as
// Slack does, and slack-go's client gives up on a silent server.

// SocketPingInterval is how often the emulator pings Socket Mode clients.
var SocketPingInterval = time.Second

// App is a Slack app installed in the workspace: its bot user (added by
// AddApp) posts with BotToken; AppToken opens Socket Mode connections.
type App struct {
	ID       string // A...
	BotID    string // B...
	BotUser  string // U..., the bot user's ID
	BotName  string
	BotToken string // xoxb-...
	AppToken string // xapp-...
}

// rtmOnly are event types the RTM API has and the Events API does not
// (typing, presence and read markers are client state, not app events).
var rtmOnly = map[string]bool{
	"hello": true, "pong": true, "user_typing": true, "presence_change": true,
	"channel_marked": true, "group_marked": true, "im_marked": true,
}

type socketConn struct {
	s         *Server
	ws        *websocket.Conn
	app       *App
	queue     chan []byte
	done      chan struct{}
	closeOnce sync.Once
}

// envelope is one delivery awaiting its acknowledgement.
type envelope struct {
	ID      string          `json:"envelope_id"`
	Payload json.RawMessage `json:"payload"`
	Type    string          `json:"type"`
	// AcceptsResponsePayload is false: events_api envelopes take no answer.
	AcceptsResponsePayload bool   `json:"accepts_response_payload"`
	RetryAttempt           int    `json:"retry_attempt"`
	RetryReason            string `json:"retry_reason"`
}

// AddApp installs an app: it adds the bot user and makes both tokens
// valid. Put the bot user in conversations' Members for the app to see
// them.
func (s *Server) AddApp(a App) {
	s.AddUser(User{ID: a.BotUser, Name: a.BotName, IsBot: true})
	s.AddToken(Token{Value: a.BotToken, User: a.BotUser, BotID: a.BotID})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[a.AppToken] = &a
}

// appsConnectionsOpen follows https://api.slack.com/methods/apps.connections.open:
// only an app-level token may call it, and it answers a single-use
// websocket URL.
func (s *Server) appsConnectionsOpen(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	app := s.apps[token]
	switch {
	case token == "":
		writeJSON(w, errorResponse("not_authed"))
	case app == nil && s.tokens[token] != nil:
		writeJSON(w, errorResponse("not_allowed_token_type"))
	case app == nil:
		writeJSON(w, errorResponse("invalid_auth"))
	case s.rtmDown:
		writeJSON(w, errorResponse("internal_error"))
	default:
		s.calls = append(s.calls, Call{Method: "apps.connections.open", User: app.BotUser, Params: map[string]string{}})
		var b [12]byte
		_, _ = rand.Read(b[:])
		ticket := hex.EncodeToString(b[:])
		s.socketTickets[ticket] = app
		writeJSON(w, ok(response{"url": "ws" + strings.TrimPrefix(s.public, "http") + "/socket/" + ticket}))
	}
}

// serveSocket upgrades a ticket to a Socket Mode connection, greets with
// hello and hands over what the app's last connection left unacknowledged.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := strings.TrimPrefix(r.URL.Path, "/socket/")
	s.mu.Lock()
	app := s.socketTickets[ticket]
	delete(s.socketTickets, ticket)
	down := s.rtmDown
	s.mu.Unlock()
	if app == nil || down {
		http.Error(w, "invalid or expired websocket URL", http.StatusNotFound)
		return
	}
	ws, err := wsUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &socketConn{s: s, ws: ws, app: app, queue: make(chan []byte, rtmQueueSize), done: make(chan struct{})}
	s.mu.Lock()
	s.sockets[c] = struct{}{}
	n := 0
	for other := range s.sockets {
		if other.app == app {
			n++
		}
	}
	c.sendLocked(map[string]any{"type": "hello", "num_connections": n,
		"connection_info": map[string]string{"app_id": app.ID}, "debug_info": map[string]any{"host": "slackemu"}})
	for _, id := range slices.Sorted(maps.Keys(s.unacked[app.ID])) {
		env := s.unacked[app.ID][id]
		env.RetryAttempt++
		env.RetryReason = "timeout"
		c.sendLocked(env)
	}
	s.mu.Unlock()
	go c.writeLoop()
	go c.pingLoop()
	c.readLoop()
}

func (c *socketConn) writeLoop() { writeLoop(c.ws, c.queue, c.done, c.close) }

// pingLoop sends websocket pings; gorilla allows WriteControl alongside
// the writer goroutine.
func (c *socketConn) pingLoop() {
	t := time.NewTicker(SocketPingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if c.ws.WriteControl(websocket.PingMessage, []byte("slackemu"), time.Now().Add(5*time.Second)) != nil {
				c.close()
				return
			}
		case <-c.done:
			return
		}
	}
}

// readLoop takes acknowledgements ({"envelope_id": "..."}, with an
// optional payload the emulator ignores).
func (c *socketConn) readLoop() {
	defer c.close()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var ack struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		s := c.s
		s.mu.Lock()
		if _, ok := s.unacked[c.app.ID][ack.EnvelopeID]; ok {
			delete(s.unacked[c.app.ID], ack.EnvelopeID)
			s.acked = append(s.acked, ack.EnvelopeID)
		}
		s.mu.Unlock()
	}
}

func (c *socketConn) sendLocked(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // built here from plain values
	}
	select {
	case c.queue <- data:
	default:
		go c.close()
	}
}

func (c *socketConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.ws.Close()
		c.s.mu.Lock()
		delete(c.s.sockets, c)
		c.s.mu.Unlock()
	})
}

// deliverLocked wraps an event in an events_api envelope for every Socket
// Mode connection of an app whose bot user is among members (nil: every
// app), as the Events API would POST it
// (https://api.slack.com/apis/connections/events-api, "Callback field
// overview").
func (s *Server) deliverLocked(data []byte, members []string) {
	if len(s.sockets) == 0 {
		return
	}
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &head) != nil || rtmOnly[head.Type] {
		return
	}
	sent := map[string]bool{}
	for c := range s.sockets {
		app := c.app
		if sent[app.ID] || (members != nil && !slices.Contains(members, app.BotUser)) {
			continue
		}
		sent[app.ID] = true // one connection of an app gets each envelope
		s.nextEnvelope++
		payload, err := json.Marshal(map[string]any{
			"token": "", "team_id": s.team.ID, "api_app_id": app.ID, "type": "event_callback",
			"event": json.RawMessage(data), "event_id": fmt.Sprintf("Ev%08d", s.nextEnvelope),
			"event_time": time.Now().Unix(),
		})
		if err != nil {
			panic(err)
		}
		env := &envelope{ID: newEnvelopeID(), Payload: payload, Type: "events_api"}
		if s.unacked[app.ID] == nil {
			s.unacked[app.ID] = map[string]*envelope{}
		}
		s.unacked[app.ID][env.ID] = env
		c.sendLocked(env)
	}
}

func newEnvelopeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// SocketConnections counts an app's open Socket Mode connections.
func (s *Server) SocketConnections(appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.sockets {
		if c.app.ID == appID {
			n++
		}
	}
	return n
}

// Unacked counts the envelopes an app has not acknowledged.
func (s *Server) Unacked(appID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unacked[appID])
}

// Acked counts the envelopes acknowledged so far, by every app.
func (s *Server) Acked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}
