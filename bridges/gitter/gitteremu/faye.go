package gitteremu

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// The Faye endpoint follows 06.Faye-endpoint.md (channels) and the Bayeux
// 1.0 specification (message fields, handshake, connect, subscribe,
// advice, errors as "code:args:text"), over a websocket, where Faye frames
// carry JSON arrays of messages. The token is read from the handshake's
// ext.token (gitterHQ/gitter-faye-client); data on resource channels is
// {operation, model} (gitterHQ/realtime-client), presence is
// {notification, userId, status} (08.Presence.md).

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// fayeClient is one websocket connection. Its fields other than conn and
// out are guarded by Server.mu.
type fayeClient struct {
	id     string // "" until handshaken, or after ForgetFayeClients
	userID string
	subs   map[string]bool
	conn   *websocket.Conn
	out    chan []byte
	done   chan struct{}
	once   sync.Once
	// pending is the /meta/connect being held, answered on timeout or
	// when the next one arrives.
	pendingID    string
	pendingTimer *time.Timer
}

func (fc *fayeClient) close() { fc.once.Do(func() { close(fc.done); fc.conn.Close() }) }

func (fc *fayeClient) send(msgs ...*gitterapi.FayeMessage) {
	b, _ := json.Marshal(msgs)
	select {
	case fc.out <- b:
	default:
		fc.close() // too far behind
	}
}

func ok(v bool) *bool { return &v }

// serveFaye upgrades GET /faye to a websocket and speaks Bayeux on it.
func (s *Server) serveFaye(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	fc := &fayeClient{conn: conn, out: make(chan []byte, 1024), done: make(chan struct{}), subs: map[string]bool{}}
	s.mu.Lock()
	s.fayeConns[fc] = struct{}{}
	s.mu.Unlock()
	go func() {
		for {
			select {
			case b := <-fc.out:
				_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if conn.WriteMessage(websocket.TextMessage, b) != nil {
					fc.close()
					return
				}
			case <-fc.done:
				return
			}
		}
	}()
	defer func() {
		s.mu.Lock()
		if fc.id != "" && s.faye[fc.id] == fc {
			delete(s.faye, fc.id)
		}
		delete(s.fayeConns, fc)
		if fc.pendingTimer != nil {
			fc.pendingTimer.Stop()
		}
		s.mu.Unlock()
		fc.close()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		msgs, err := gitterapi.DecodeFayeFrame(data)
		if err != nil {
			return
		}
		for _, m := range msgs {
			s.handleFaye(fc, m)
		}
	}
}

func (s *Server) handleFaye(fc *fayeClient, m *gitterapi.FayeMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := &gitterapi.FayeMessage{Channel: m.Channel, ID: m.ID, ClientID: m.ClientID}
	if m.Channel != gitterapi.MetaHandshake && (fc.id == "" || m.ClientID != fc.id || s.faye[fc.id] != fc) {
		// Bayeux 1.0, 3.6.1: an unknown client is told to handshake again.
		reply.Successful = ok(false)
		reply.Error = "401:" + m.ClientID + ":Unknown client"
		reply.Advice = &gitterapi.FayeAdvice{Reconnect: "handshake"}
		fc.send(reply)
		return
	}
	switch m.Channel {
	case gitterapi.MetaHandshake:
		var ext gitterapi.FayeHandshakeExt
		_ = json.Unmarshal(m.Ext, &ext)
		userID := s.tokens[ext.Token]
		reply.Version = "1.0"
		if userID == "" {
			reply.Successful = ok(false)
			reply.Error = "401::Unauthorised"
			reply.Advice = &gitterapi.FayeAdvice{Reconnect: "none"}
			fc.send(reply)
			return
		}
		if fc.id != "" {
			delete(s.faye, fc.id)
		}
		fc.id = "faye" + s.newID()
		fc.userID = userID
		s.faye[fc.id] = fc
		reply.ClientID = fc.id
		reply.Successful = ok(true)
		reply.SupportedConnectionTypes = []string{"websocket"}
		reply.Advice = s.fayeAdvice()
		fc.send(reply)
	case gitterapi.MetaConnect:
		s.answerPendingConnect(fc)
		fc.pendingID = m.ID
		fc.pendingTimer = time.AfterFunc(s.opts.FayeTimeout, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.answerPendingConnect(fc)
		})
	case gitterapi.MetaSubscribe:
		reply.Subscription = m.Subscription
		if !s.maySubscribe(fc.userID, m.Subscription) {
			reply.Successful = ok(false)
			reply.Error = "403:" + m.Subscription + ":Forbidden"
			fc.send(reply)
			return
		}
		fc.subs[m.Subscription] = true
		reply.Successful = ok(true)
		fc.send(reply)
	case gitterapi.MetaUnsubscribe:
		delete(fc.subs, m.Subscription)
		reply.Subscription = m.Subscription
		reply.Successful = ok(true)
		fc.send(reply)
	case gitterapi.MetaDisconnect:
		delete(s.faye, fc.id)
		reply.Successful = ok(true)
		fc.send(reply)
	default:
		// Clients publish nothing on Gitter's channels.
		reply.Successful = ok(false)
		reply.Error = "403:" + m.Channel + ":Publishing not allowed"
		fc.send(reply)
	}
}

func (s *Server) fayeAdvice() *gitterapi.FayeAdvice {
	return &gitterapi.FayeAdvice{Reconnect: "retry", Interval: 0, Timeout: int(s.opts.FayeTimeout / time.Millisecond)}
}

// answerPendingConnect answers the held /meta/connect, if any. Callers
// hold s.mu.
func (s *Server) answerPendingConnect(fc *fayeClient) {
	if fc.pendingID == "" && fc.pendingTimer == nil {
		return
	}
	if fc.pendingTimer != nil {
		fc.pendingTimer.Stop()
		fc.pendingTimer = nil
	}
	reply := &gitterapi.FayeMessage{Channel: gitterapi.MetaConnect, ID: fc.pendingID, ClientID: fc.id, Advice: s.fayeAdvice()}
	fc.pendingID = ""
	if fc.id == "" || s.faye[fc.id] != fc {
		reply.Successful = ok(false)
		reply.Error = "401::Unknown client"
		reply.Advice = &gitterapi.FayeAdvice{Reconnect: "handshake"}
	} else {
		reply.Successful = ok(true)
	}
	fc.send(reply)
}

// maySubscribe allows the channels of 06.Faye-endpoint.md: a user's own
// /api/v1/user/:userId... channels, and the channels of rooms they are in.
func (s *Server) maySubscribe(userID, channel string) bool {
	parts := strings.Split(strings.TrimPrefix(channel, "/api/v1/"), "/")
	if !strings.HasPrefix(channel, "/api/v1/") || len(parts) < 2 {
		return false
	}
	switch parts[0] {
	case "user":
		return parts[1] == userID
	case "rooms":
		r := s.rooms[parts[1]]
		return r != nil && r.isMember(userID)
	}
	return false
}

// publishFaye delivers data to every client subscribed to channel.
// Callers hold s.mu.
func (s *Server) publishFaye(channel string, ev gitterapi.FayeEvent) {
	var msg *gitterapi.FayeMessage
	for _, fc := range s.faye {
		if !fc.subs[channel] {
			continue
		}
		if msg == nil {
			msg = &gitterapi.FayeMessage{Channel: channel, Data: mustJSON(ev)}
		}
		fc.send(msg)
	}
}

// ForgetFayeClients makes the Faye server forget every client ID, as after
// a server restart: each client's next connect is told to handshake again.
func (s *Server) ForgetFayeClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, fc := range s.faye {
		delete(s.faye, id)
		s.answerPendingConnect(fc)
	}
}

// DropFaye closes every Faye websocket, as a network failure would.
func (s *Server) DropFaye() { s.dropFaye() }

func (s *Server) dropFaye() {
	s.mu.Lock()
	clients := make([]*fayeClient, 0, len(s.fayeConns))
	for fc := range s.fayeConns {
		clients = append(clients, fc)
	}
	s.mu.Unlock()
	for _, fc := range clients {
		fc.close()
	}
}

// FayeSubscriptions lists the channels userID's Faye clients subscribed
// to, for tests that wait until a client is listening.
func (s *Server) FayeSubscriptions(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, fc := range s.faye {
		if fc.userID != userID {
			continue
		}
		for ch := range fc.subs {
			out = append(out, ch)
		}
	}
	return out
}
