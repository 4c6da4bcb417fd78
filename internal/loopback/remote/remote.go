// Package remote is a tiny chat network for tests: an HTTP server holding
// users, chats and an ordered event log. The loopback adapter talks to it
// over HTTP the way a real adapter talks to Slack or Gitter, so a test can
// kill and restart the bridge while the "remote side" keeps running.
package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Event is one entry of the remote log. Kind uses the bridge's remote event
// kinds ("message", "edit", "join", ...).
type Event struct {
	Seq      int64  `json:"seq"`
	Kind     string `json:"kind"`
	Chat     string `json:"chat"`
	Sender   string `json:"sender"`
	ID       string `json:"id,omitempty"`
	Target   string `json:"target,omitempty"`
	Text     string `json:"text,omitempty"`
	Reaction string `json:"reaction,omitempty"`
	Member   string `json:"member,omitempty"`
	Name     string `json:"name,omitempty"`
	Avatar   string `json:"avatar,omitempty"` // an image URL (profile and chat_info)
	File     string `json:"file,omitempty"`   // an attachment's URL (messages)
	Mode     string `json:"mode,omitempty"`   // chat_info: "+i", "-i", "+m", "-m", "+s", "-s"
	Presence string `json:"presence,omitempty"`
	Typing   bool   `json:"typing,omitempty"`
	DM       bool   `json:"dm,omitempty"`
	ViaAPI   bool   `json:"via_api,omitempty"` // sent through the API (by the bridge)
	// Txn is the sender's idempotency key: an act repeated with the same
	// Txn returns the first result instead of happening twice.
	Txn  string    `json:"txn,omitempty"`
	Time time.Time `json:"time"`
}

// Server is the remote network. Its zero value is not usable; use New.
type Server struct {
	URL string

	mu     sync.Mutex
	log    []Event
	nextID int
	wake   chan struct{}
	names  map[string]string
	txns   map[string]Event
	refuse map[string]bool
	ops    map[string]bool // chat + "\x00" + user
	srv    *httptest.Server
}

// New starts a remote network on a free loopback port; Close stops it.
func New() *Server {
	s := &Server{wake: make(chan struct{}), names: map[string]string{}, txns: map[string]Event{}, refuse: map[string]bool{}, ops: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("POST /act", s.serveAct)
	mux.HandleFunc("GET /users/{user}", s.serveUser)
	mux.HandleFunc("GET /op", s.serveOp)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Refuse makes every later act of a user fail with 403, as when the remote
// side has banned them.
func (s *Server) Refuse(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[user] = true
}

// SetOp gives or takes a user's operator rights in a chat.
func (s *Server) SetOp(chat, user string, op bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops[chat+"\x00"+user] = op
}

func (s *Server) serveOp(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	op := s.ops[r.URL.Query().Get("chat")+"\x00"+r.URL.Query().Get("user")]
	s.mu.Unlock()
	writeJSON(w, map[string]bool{"op": op})
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Append adds events to the log as if remote people did them, and returns
// them with their sequence numbers and (for messages) IDs.
func (s *Server) Append(evs ...Event) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range evs {
		evs[i] = s.appendLocked(evs[i])
	}
	return evs
}

func (s *Server) appendLocked(ev Event) Event {
	ev.Seq = int64(len(s.log) + 1)
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.ID == "" && (ev.Kind == "message" || ev.Kind == "edit") {
		s.nextID++
		ev.ID = "m" + strconv.Itoa(s.nextID)
	}
	if ev.Kind == "profile" {
		s.names[ev.Sender] = ev.Name
	}
	s.log = append(s.log, ev)
	close(s.wake)
	s.wake = make(chan struct{})
	return ev
}

// Log returns a copy of every event so far.
func (s *Server) Log() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.log...)
}

// SentViaAPI returns what the bridge posted, in order.
func (s *Server) SentViaAPI() []Event {
	var out []Event
	for _, ev := range s.Log() {
		if ev.ViaAPI {
			out = append(out, ev)
		}
	}
	return out
}

// serveEvents long-polls: GET /events?after=N returns events with Seq > N,
// waiting up to 20 s for one to arrive.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		var out []Event
		if after < int64(len(s.log)) {
			out = append(out, s.log[after:]...)
		}
		wake := s.wake
		s.mu.Unlock()
		if len(out) > 0 {
			writeJSON(w, out)
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			writeJSON(w, []Event{})
			return
		}
	}
}

// serveAct is how sessions act: POST /act with an Event (sender = the
// logged-in user). The event is logged (echoed to every reader, as real
// networks do) and returned with its ID.
func (s *Server) serveAct(w http.ResponseWriter, r *http.Request) {
	var ev Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, "bad json: "+err.Error(), http.StatusBadRequest)
		return
	}
	if ev.Sender == "" || ev.Kind == "" {
		http.Error(w, "sender and kind are required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	refused := s.refuse[ev.Sender]
	s.mu.Unlock()
	if ev.Sender == "nobody" || refused {
		http.Error(w, "not allowed to post", http.StatusForbidden)
		return
	}
	ev.ViaAPI = true
	ev.Seq, ev.Time = 0, time.Time{}
	s.mu.Lock()
	if prev, ok := s.txns[ev.Txn]; ok && ev.Txn != "" {
		s.mu.Unlock()
		writeJSON(w, prev)
		return
	}
	ev = s.appendLocked(ev)
	if ev.Txn != "" {
		s.txns[ev.Txn] = ev
	}
	s.mu.Unlock()
	writeJSON(w, ev)
}

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if user == "nobody" {
		http.Error(w, "no such user", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	name := s.names[user]
	s.mu.Unlock()
	if name == "" {
		name = user
	}
	writeJSON(w, map[string]string{"id": user, "name": name})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprintf("encode: %v", err))
	}
}
