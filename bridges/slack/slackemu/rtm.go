package slackemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// rtmQueueSize bounds what may wait for a slow RTM client. Slack drops
// clients that do not keep up; so does the emulator, rather than letting
// one stuck test client block the workspace.
const rtmQueueSize = 4096

var wsUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// rtmTicket is a websocket URL handed out by rtm.connect: single use and
// valid for 30 seconds (https://api.slack.com/rtm, "Connecting").
type rtmTicket struct {
	conn    *rtmConn
	expires time.Time
}

// rtmConn is one RTM session. It starts with rtm.connect, not with the
// websocket: the RTM page says the hello "will be followed by any events
// that occurred between the call to rtm.start and the connection to the
// message server", so events are queued for it from the ticket on, and
// sent once the websocket (ws, set under s.mu) is there.
type rtmConn struct {
	s             *Server
	ws            *websocket.Conn
	user, token   string
	batchPresence bool
	presenceSubs  map[string]bool // guarded by s.mu
	queue         chan []byte
	done          chan struct{}
	closeOnce     sync.Once
	// stalled marks a connection that died without closing (StallRTM);
	// guarded by s.mu.
	stalled bool
}

// rtmConnect follows https://api.slack.com/methods/rtm.connect: it returns
// a websocket URL with the user ("self") and team. While a test holds RTM
// down (SetRTMDown) it fails the way a Slack outage does, with an error the
// client should retry.
func (s *Server) rtmConnect(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rtmDown {
		return errorResponse("internal_error")
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	ticket := hex.EncodeToString(b[:])
	if s.tickets == nil {
		s.tickets = map[string]rtmTicket{}
	}
	conn := &rtmConn{
		s: s, user: c.user.ID, token: c.token.Value, batchPresence: truthy(p.Get("batch_presence_aware")),
		presenceSubs: map[string]bool{},
		queue:        make(chan []byte, rtmQueueSize),
		done:         make(chan struct{}),
	}
	// hello comes first (https://api.slack.com/events/hello), then what
	// happens from now on.
	conn.sendLocked(map[string]string{"type": "hello"})
	s.conns[conn] = struct{}{}
	s.tickets[ticket] = rtmTicket{conn: conn, expires: time.Now().Add(30 * time.Second)}
	time.AfterFunc(30*time.Second, func() {
		s.mu.Lock()
		unused := conn.ws == nil
		s.mu.Unlock()
		if unused {
			conn.close()
		}
	})
	wsURL := "ws" + strings.TrimPrefix(s.public, "http") + "/rtm/" + ticket
	return ok(response{
		"url":  wsURL,
		"team": s.team,
		"self": map[string]string{"id": c.user.ID, "name": c.user.Name},
	})
}

// serveRTM upgrades a ticket to a websocket, which then gets the hello
// and the events queued since rtm.connect.
func (s *Server) serveRTM(w http.ResponseWriter, r *http.Request) {
	ticket := strings.TrimPrefix(r.URL.Path, "/rtm/")
	s.mu.Lock()
	t, found := s.tickets[ticket]
	delete(s.tickets, ticket)
	down := s.rtmDown
	s.mu.Unlock()
	if !found || time.Now().After(t.expires) || down {
		if found {
			t.conn.close()
		}
		http.Error(w, "invalid or expired websocket URL", http.StatusNotFound)
		return
	}
	c := t.conn
	ws, err := wsUpgrader.Upgrade(w, r, nil)
	if err != nil {
		c.close()
		return
	}
	s.mu.Lock()
	before := s.presenceLocked(c.user)
	c.ws = ws
	s.presence[c.user].online = true
	s.announcePresenceLocked(c.user, before)
	s.mu.Unlock()
	go c.writeLoop()
	c.readLoop()
}

func (c *rtmConn) writeLoop() { writeLoop(c.ws, c.queue, c.done, c.close) }

// writeLoop is a connection's only writer of messages: it sends what is
// queued, in order, until done; a failed write closes the connection.
func writeLoop(ws *websocket.Conn, queue <-chan []byte, done <-chan struct{}, closeConn func()) {
	for {
		select {
		case data := <-queue:
			_ = ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
				closeConn()
				return
			}
		case <-done:
			return
		}
	}
}

// clientMessage is what a client may send over RTM
// (https://api.slack.com/rtm, "Sending messages", "Ping and Pong",
// "Typing indicators"; https://api.slack.com/events/presence_sub).
type clientMessage struct {
	ID       int      `json:"id"`
	Type     string   `json:"type"`
	Channel  string   `json:"channel"`
	Text     string   `json:"text"`
	ThreadTS string   `json:"thread_ts"`
	IDs      []string `json:"ids"`
}

func (c *rtmConn) readLoop() {
	defer c.close()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var m clientMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		c.handle(m, data)
	}
}

func (c *rtmConn) handle(m clientMessage, raw []byte) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.stalled {
		return // lost on the way, pings too
	}
	switch m.Type {
	case "ping":
		// The pong echoes every field of the ping but id and type.
		var echo map[string]any
		_ = json.Unmarshal(raw, &echo)
		delete(echo, "id")
		echo["type"] = "pong"
		echo["reply_to"] = m.ID
		c.sendLocked(echo)
	case "typing":
		s.typing = append(s.typing, typingSent{user: c.user, channel: m.Channel})
		s.broadcastLocked(m.Channel, c.user, map[string]any{"type": "user_typing", "channel": m.Channel, "user": c.user})
	case "presence_sub":
		subs := map[string]bool{}
		for _, id := range m.IDs {
			subs[id] = true
			if !c.presenceSubs[id] && s.presence[id] != nil {
				ev := map[string]any{"type": "presence_change", "presence": s.presenceLocked(id)}
				if c.batchPresence {
					ev["users"] = []string{id}
				} else {
					ev["user"] = id
				}
				c.sendLocked(ev)
			}
		}
		c.presenceSubs = subs
	case "message":
		conv := s.convs[m.Channel]
		if conv == nil || !s.visibleLocked(conv, c.user) {
			c.sendLocked(map[string]any{"ok": false, "reply_to": m.ID, "error": map[string]any{"code": 2, "msg": "channel not found"}})
			return
		}
		msg := &Message{Type: "message", User: c.user, Text: m.Text, ThreadTS: m.ThreadTS, Team: s.team.ID}
		s.storeLocked(conv.ID, msg)
		c.sendLocked(map[string]any{"ok": true, "reply_to": m.ID, "ts": msg.TS, "text": m.Text})
	default:
		c.sendLocked(map[string]any{"ok": false, "reply_to": m.ID, "error": map[string]any{"code": 3, "msg": "unsupported type"}})
	}
}

func (c *rtmConn) sendLocked(ev any) {
	data, err := json.Marshal(ev)
	if err != nil {
		panic(err) // events are built here from plain values
	}
	c.enqueueLocked(data)
}

func (c *rtmConn) enqueueLocked(data []byte) {
	if c.stalled {
		return
	}
	select {
	case c.queue <- data:
	default:
		go c.close() // close takes s.mu, which the caller holds
	}
}

// close ends the connection once; when it was the user's last one, the
// user goes away for their subscribers.
func (c *rtmConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		s := c.s
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.ws != nil {
			_ = c.ws.Close()
		}
		delete(s.conns, c)
		for other := range s.conns {
			if other.user == c.user {
				return
			}
		}
		if p := s.presence[c.user]; p != nil {
			before := s.presenceLocked(c.user)
			p.online = false
			s.announcePresenceLocked(c.user, before)
		}
	})
}

// StallRTM makes every open RTM connection of a user ("" = all) go
// silent without closing, as one whose network path died does: nothing
// the client sends arrives (pings get no pong,
// https://api.slack.com/rtm#ping_and_pong) and no event reaches it. The
// socket stays open until the client gives up on it; new connections work.
func (s *Server) StallRTM(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.ws != nil && (user == "" || c.user == user) {
			c.stalled = true
		}
	}
}

// StalledRTM counts the stalled RTM connections of a user ("" = all) that
// are still open: the client has not yet noticed they are dead.
func (s *Server) StalledRTM(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.stalled && (user == "" || c.user == user) {
			n++
		}
	}
	return n
}
