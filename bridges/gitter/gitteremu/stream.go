package gitteremu

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// streamBacklog is how many messages a stream may fall behind before the
// emulator drops it, as the streaming docs say Gitter does on "excessive
// client-side lag".
const streamBacklog = 1024

type streamSub struct {
	viewer string
	ch     chan []byte
	done   chan struct{}
	once   sync.Once
}

func (sub *streamSub) close() { sub.once.Do(func() { close(sub.done) }) }

func (sub *streamSub) enqueue(b []byte) {
	select {
	case sub.ch <- b:
	default:
		sub.close()
	}
}

func (s *Server) streamHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/rooms/{roomId}/chatMessages", s.authed(s.serveStream))
	return mux
}

// serveStream follows a room's messages (07.Streaming-API.md,
// 09.Streaming-API.md: GET {stream_url}/v1/rooms/:roomId/chatMessages,
// JSON objects delimited by "\r", newline keep-alives — " \n" as in
// gitterHQ/gitter-node-stream). New messages are sent as they are posted;
// the docs do not say whether edits are, so updated models (an edit, or a
// deletion as text "") are sent too.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, me string) {
	s.mu.Lock()
	if s.refuse {
		s.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable)
		return
	}
	rm, err := s.memberRoom(r, me)
	if err != nil {
		s.mu.Unlock()
		writeErr(w, err)
		return
	}
	sub := &streamSub{viewer: me, ch: make(chan []byte, streamBacklog), done: make(chan struct{})}
	if s.streams[rm.ID] == nil {
		s.streams[rm.ID] = map[*streamSub]struct{}{}
	}
	s.streams[rm.ID][sub] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams[rm.ID], sub)
		s.mu.Unlock()
	}()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		var chunk []byte
		select {
		case b := <-sub.ch:
			chunk = append(b, '\r')
		case <-heartbeat.C:
			chunk = []byte(" \n")
		case <-sub.done:
			return
		case <-r.Context().Done():
			return
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// publishMessage tells streams and Faye subscribers about a message
// operation. Callers hold s.mu.
func (s *Server) publishMessage(r *room, m *gitterapi.Message, op string) {
	for sub := range s.streams[r.ID] {
		b, _ := json.Marshal(r.messageView(m, sub.viewer))
		sub.enqueue(b)
	}
	s.publishFaye(gitterapi.RoomMessagesChannel(r.ID), gitterapi.FayeEvent{Operation: op, Model: mustJSON(r.messageView(m, ""))})
}

// publishMember tells Faye subscribers that a user joined or left a room:
// the room's member list and the user's own room list change.
func (s *Server) publishMember(r *room, userID, op string) {
	s.publishFaye(gitterapi.RoomUsersChannel(r.ID), gitterapi.FayeEvent{Operation: op, Model: mustJSON(s.users[userID].User)})
	s.publishFaye(gitterapi.UserRoomsChannel(userID), gitterapi.FayeEvent{Operation: op, Model: mustJSON(s.roomView(r, userID))})
}

// publishPresence sends the notification of 08.Presence.md on the room's
// root channel.
func (s *Server) publishPresence(roomID, userID string, in bool) {
	status := "out"
	if in {
		status = "in"
	}
	s.publishFaye(gitterapi.RoomChannel(roomID), gitterapi.FayeEvent{Notification: "presence", UserID: userID, Status: status})
}

// DropStreams ends every open stream, as a network hiccup or server
// maintenance would (the docs warn of both).
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, subs := range s.streams {
		for sub := range subs {
			sub.close()
		}
	}
}

// RefuseStreams makes new streams fail with 503 while on, so a test can
// post messages while a client is certainly not streaming.
func (s *Server) RefuseStreams(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// StreamCount is the number of open streams, for tests that wait for a
// client to (re)connect.
func (s *Server) StreamCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, subs := range s.streams {
		n += len(subs)
	}
	return n
}

func (s *Server) dropStreamsOf(roomID, userID string) {
	for sub := range s.streams[roomID] {
		if sub.viewer == userID {
			sub.close()
		}
	}
}
