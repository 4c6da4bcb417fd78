package gitteremu

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("forbidden")
)

// httpError writes an error body like {"error":"Not Found"}; the docs show
// no error bodies, so the shape is the simplest JSON.
func httpError(w http.ResponseWriter, status int) {
	writeJSON(w, status, map[string]string{"error": http.StatusText(status)})
}

func writeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNotFound):
		httpError(w, http.StatusNotFound)
	case errors.Is(err, errForbidden):
		httpError(w, http.StatusForbidden)
	default:
		httpError(w, http.StatusBadRequest)
	}
}

// writeJSON answers with the headers of 01.REST-API.md's example response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

type ctxUser struct{}

// authed wraps a handler with what every API call goes through: request
// recording, injected failures, token auth (01.REST-API.md: "Authorization:
// Bearer {{token}}"; 08.Presence.md also shows ?access_token=) answered
// with 401 when missing or unknown, and rate limiting.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, me string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = r.URL.Query().Get("access_token")
		}
		s.mu.Lock()
		me := s.tokens[token]
		q := r.URL.Query()
		q.Del("access_token")
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: q.Encode(), UserID: me})
		s.mu.Unlock()
		if status, fail := s.takeFailure(r); fail {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0")
			}
			httpError(w, status)
			return
		}
		if me == "" {
			httpError(w, http.StatusUnauthorized)
			return
		}
		if !s.allow(w, token) {
			httpError(w, http.StatusTooManyRequests)
			return
		}
		h(w, r, me)
	}
}

// rateWindow counts one token's calls. Gitter sends X-RateLimit-Limit and
// X-RateLimit-Remaining on every call (gitterHQ/gitter issue 1380) with a
// limit of 100 a minute (42wim/matterbridge issue 921); the emulator adds
// X-RateLimit-Reset as Unix milliseconds so clients can wait precisely.
type rateWindow struct {
	start time.Time
	used  int
}

func (s *Server) allow(w http.ResponseWriter, token string) bool {
	if s.opts.RateLimit <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	rw := s.rate[token]
	if rw == nil || now.Sub(rw.start) >= s.opts.RateWindow {
		rw = &rateWindow{start: now}
		s.rate[token] = rw
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(rw.start.Add(s.opts.RateWindow).UnixMilli(), 10))
	if rw.used >= s.opts.RateLimit {
		h.Set("X-RateLimit-Remaining", "0")
		return false
	}
	rw.used++
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.opts.RateLimit-rw.used))
	return true
}

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/user/me", s.authed(s.getMe))
	mux.HandleFunc("GET /v1/user", s.authed(s.getUser))
	mux.HandleFunc("GET /v1/user/{userId}/rooms", s.authed(s.getUserRooms))
	mux.HandleFunc("POST /v1/user/{userId}/rooms", s.authed(s.postUserRooms))
	mux.HandleFunc("GET /v1/user/{userId}/rooms/{roomId}/unreadItems", s.authed(s.inRoom(s.getUnread)))
	mux.HandleFunc("POST /v1/user/{userId}/rooms/{roomId}/unreadItems", s.authed(s.inRoom(s.postUnread)))
	mux.HandleFunc("GET /v1/rooms", s.authed(s.getRooms))
	mux.HandleFunc("POST /v1/rooms", s.authed(s.postRooms))
	mux.HandleFunc("GET /v1/rooms/{roomId}", s.authed(s.getRoom))
	mux.HandleFunc("PUT /v1/rooms/{roomId}", s.authed(s.putRoom))
	mux.HandleFunc("GET /v1/rooms/{roomId}/users", s.authed(s.getRoomUsers))
	mux.HandleFunc("DELETE /v1/rooms/{roomId}/users/{userId}", s.authed(s.deleteRoomUser))
	mux.HandleFunc("GET /v1/rooms/{roomId}/chatMessages", s.authed(s.inRoom(s.getMessages)))
	mux.HandleFunc("POST /v1/rooms/{roomId}/chatMessages", s.authed(s.postMessage))
	mux.HandleFunc("GET /v1/rooms/{roomId}/chatMessages/{messageId}", s.authed(s.inRoom(s.getMessage)))
	mux.HandleFunc("PUT /v1/rooms/{roomId}/chatMessages/{messageId}", s.authed(s.putMessage))
	mux.HandleFunc("DELETE /v1/rooms/{roomId}/chatMessages/{messageId}", s.authed(s.deleteMessage))
	mux.HandleFunc("POST /v1/eyeballs", s.authed(s.postEyeballs))
	mux.HandleFunc("GET /faye", s.serveFaye)
	mux.HandleFunc("GET /avatars/{username}", s.getAvatar)
	return mux
}

// avatarPNG is a 1×1 PNG: every user's picture. The user schema gives
// avatar URLs (05.User-resource.md); on Gitter they point at an avatar
// host that needs no token, so the emulator serves them the same way.
var avatarPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\b\x02\x00\x00\x00\x90wS\xde" +
	"\x00\x00\x00\x10IDATx\x9cb\xd2\xeb\x0e\a\x04\x00\x00\xff\xff\x02\x03\x01\x13\x82P\x80\x15\x00\x00\x00\x00IEND\xaeB`\x82")

func (s *Server) getAvatar(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	found := s.userByName(r.PathValue("username")) != nil
	s.mu.Unlock()
	if !found {
		httpError(w, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(avatarPNG)
}

// getMe answers GET /v1/user/me with the token's user as one object. The
// stored docs only show GET /v1/user; Gitter servers also answer /me.
func (s *Server) getMe(w http.ResponseWriter, _ *http.Request, me string) {
	s.mu.Lock()
	u := s.users[me].User
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, u)
}

// getUser answers GET /v1/user with a one-element array
// (05.User-resource.md, "Get the current user").
func (s *Server) getUser(w http.ResponseWriter, _ *http.Request, me string) {
	s.mu.Lock()
	u := s.users[me].User
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, []gitterapi.User{u})
}

func (s *Server) roomsOf(me string) []gitterapi.Room {
	out := []gitterapi.Room{}
	for _, id := range s.order {
		if r := s.rooms[id]; r.isMember(me) {
			out = append(out, s.roomView(r, me))
		}
	}
	return out
}

// getRooms answers GET /v1/rooms (03.Rooms-resource.md, "List rooms").
func (s *Server) getRooms(w http.ResponseWriter, _ *http.Request, me string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.roomsOf(me))
}

// getUserRooms answers GET /v1/user/:userId/rooms (05.User-resource.md,
// "Rooms"); only for the token's own user.
func (s *Server) getUserRooms(w http.ResponseWriter, r *http.Request, me string) {
	if r.PathValue("userId") != me {
		httpError(w, http.StatusForbidden)
		return
	}
	s.getRooms(w, r, me)
}

// postRooms joins a room by URI (03.Rooms-resource.md, "Join a room": the
// user is added if the room exists). A URI that is a username opens the
// one-to-one room with that user, creating it if needed: the stored docs
// do not say so, but gitterHQ/docs pull request 34 documents it ("If the
// supplied URI is that of a gitter user (e.g., /someuser), the API will
// create a one-to-one room") and Gitteroid/GitterJavaSDK issue 41 uses it
// to message users. Unknown URIs get 404; the emulator does not create
// rooms from GitHub orgs.
func (s *Server) postRooms(w http.ResponseWriter, r *http.Request, me string) {
	var body struct {
		URI string `json:"uri"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.URI == "" {
		httpError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.order {
		if rm := s.rooms[id]; !rm.OneToOne && strings.EqualFold(rm.URI, body.URI) {
			s.join(rm, me)
			writeJSON(w, http.StatusOK, s.roomView(rm, me))
			return
		}
	}
	if other := s.userByName(strings.TrimPrefix(body.URI, "/")); other != nil && other.ID != me {
		writeJSON(w, http.StatusOK, s.roomView(s.oneToOne(me, other.ID), me))
		return
	}
	httpError(w, http.StatusNotFound)
}

// postUserRooms joins a room by ID (POST /v1/user/:userId/rooms with
// {"id"}), the join the issue names; not in the stored docs.
func (s *Server) postUserRooms(w http.ResponseWriter, r *http.Request, me string) {
	var body struct {
		ID string `json:"id"`
	}
	if r.PathValue("userId") != me {
		httpError(w, http.StatusForbidden)
		return
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.ID == "" {
		httpError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[body.ID]
	if rm == nil || rm.OneToOne {
		httpError(w, http.StatusNotFound)
		return
	}
	s.join(rm, me)
	writeJSON(w, http.StatusOK, s.roomView(rm, me))
}

// getRoom answers GET /v1/rooms/:roomId with the room as the caller sees it.
func (s *Server) getRoom(w http.ResponseWriter, r *http.Request, me string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[r.PathValue("roomId")]
	if rm == nil || (rm.OneToOne && !rm.isMember(me)) {
		httpError(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.roomView(rm, me))
}

// putRoom updates topic, noindex and tags (04.Rooms-resource.md, "Update
// room"); members may do it here, Gitter would ask for admin rights.
func (s *Server) putRoom(w http.ResponseWriter, r *http.Request, me string) {
	var body gitterapi.RoomUpdate
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		httpError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[r.PathValue("roomId")]
	if rm == nil {
		httpError(w, http.StatusNotFound)
		return
	}
	if !rm.isMember(me) {
		httpError(w, http.StatusForbidden)
		return
	}
	if body.Tags != nil {
		rm.Tags = nil
		for t := range strings.SplitSeq(*body.Tags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				rm.Tags = append(rm.Tags, t)
			}
		}
	}
	if body.Topic != nil {
		s.setTopic(rm, *body.Topic)
	}
	writeJSON(w, http.StatusOK, s.roomView(rm, me))
}

func intParam(r *http.Request, name string, def int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n < 0 {
		return def
	}
	return n
}

// getRoomUsers pages a room's members with q, skip and limit (default 30),
// 04.Rooms-resource.md "Users".
func (s *Server) getRoomUsers(w http.ResponseWriter, r *http.Request, me string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[r.PathValue("roomId")]
	if rm == nil {
		httpError(w, http.StatusNotFound)
		return
	}
	q := strings.ToLower(r.URL.Query().Get("q"))
	var all []gitterapi.User
	for _, id := range rm.members {
		u := s.users[id].User
		if q == "" || strings.Contains(strings.ToLower(u.Username+" "+u.DisplayName), q) {
			all = append(all, u)
		}
	}
	skip := min(intParam(r, "skip", 0), len(all))
	limit := intParam(r, "limit", 30)
	end := min(skip+limit, len(all))
	writeJSON(w, http.StatusOK, append([]gitterapi.User{}, all[skip:end]...))
}

// deleteRoomUser removes a user from a room; a user removing themself is
// leaving (04.Rooms-resource.md, "Remove user from room, also leave a
// room"). Removing others is refused: the emulator has no room admins.
func (s *Server) deleteRoomUser(w http.ResponseWriter, r *http.Request, me string) {
	if r.PathValue("userId") != me {
		httpError(w, http.StatusForbidden)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[r.PathValue("roomId")]
	if rm == nil || !rm.isMember(me) {
		httpError(w, http.StatusNotFound)
		return
	}
	s.leave(rm, me)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// inRoom wraps a handler that needs the path's room: the caller must be in
// it, and on /v1/user/:userId/... paths must be that user. h runs with
// s.mu held.
func (s *Server) inRoom(h func(w http.ResponseWriter, r *http.Request, me string, rm *room)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, me string) {
		if uid := r.PathValue("userId"); uid != "" && uid != me {
			httpError(w, http.StatusForbidden)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		rm, err := s.memberRoom(r, me)
		if err != nil {
			writeErr(w, err)
			return
		}
		h(w, r, me, rm)
	}
}

// memberRoom returns the room of the path if the caller is in it.
func (s *Server) memberRoom(r *http.Request, me string) (*room, error) {
	rm := s.rooms[r.PathValue("roomId")]
	if rm == nil {
		return nil, errNotFound
	}
	if !rm.isMember(me) {
		return nil, errForbidden
	}
	return rm, nil
}

// getMessages lists messages oldest first with skip, beforeId, afterId,
// aroundId, limit (at most 100) and q (04.Messages-resource.md and
// 05.Messages-resource.md, "List Messages"). The docs give no default
// limit; 50 is what their examples ask for.
func (s *Server) getMessages(w http.ResponseWriter, r *http.Request, me string, rm *room) {
	query := r.URL.Query()
	limit := min(intParam(r, "limit", 50), gitterapi.MaxMessageLimit)
	msgs := rm.messages
	if q := strings.ToLower(query.Get("q")); q != "" {
		msgs = slices.DeleteFunc(slices.Clone(msgs), func(m *gitterapi.Message) bool {
			return !strings.Contains(strings.ToLower(m.Text), q)
		})
	}
	// IDs sort in creation order, so cursors compare as strings and work
	// even for an ID that is not in this room.
	index := func(id string) int {
		i, _ := slices.BinarySearchFunc(msgs, id, func(m *gitterapi.Message, id string) int { return strings.Compare(m.ID, id) })
		return i
	}
	var page []*gitterapi.Message
	switch {
	case query.Get("afterId") != "":
		i := index(query.Get("afterId"))
		if i < len(msgs) && msgs[i].ID == query.Get("afterId") {
			i++
		}
		page = msgs[i:min(i+limit, len(msgs))]
	case query.Get("beforeId") != "":
		i := index(query.Get("beforeId"))
		page = msgs[max(0, i-limit):i]
	case query.Get("aroundId") != "":
		i := index(query.Get("aroundId"))
		lo := max(0, i-limit/2)
		page = msgs[lo:min(lo+limit, len(msgs))]
	default:
		end := max(0, len(msgs)-min(intParam(r, "skip", 0), 5000))
		page = msgs[max(0, end-limit):end]
	}
	out := make([]gitterapi.Message, 0, len(page))
	for _, m := range page {
		out = append(out, rm.messageView(m, me))
	}
	writeJSON(w, http.StatusOK, out)
}

// getMessage answers GET /v1/rooms/:roomId/chatMessages/:messageId
// (04.Messages-resource.md, "Get a single message").
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, me string, rm *room) {
	m := rm.message(r.PathValue("messageId"))
	if m == nil {
		httpError(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, rm.messageView(m, me))
}

// postMessage sends a message with text and status
// (05.Messages-resource.md, "Send a Message").
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, me string) {
	var body gitterapi.NewMessage
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Text == "" {
		httpError(w, http.StatusBadRequest)
		return
	}
	m, err := s.post(r.PathValue("roomId"), me, body)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// putMessage replaces a message's text (04.Messages-resource.md, "Update a
// Message"); only the author may. Text "" is how the v1 API deletes.
func (s *Server) putMessage(w http.ResponseWriter, r *http.Request, me string) {
	var body struct {
		Text *string `json:"text"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Text == nil {
		httpError(w, http.StatusBadRequest)
		return
	}
	m, err := s.update(r.PathValue("roomId"), me, r.PathValue("messageId"), *body.Text)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// deleteMessage is DELETE on a message, which some Gitter clients use; the
// docs have no such call, so it does what an update to "" does.
func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request, me string) {
	if _, err := s.update(r.PathValue("roomId"), me, r.PathValue("messageId"), ""); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// getUnread lists unread chat and mention IDs (05.User-resource.md,
// "Unread Items").
func (s *Server) getUnread(w http.ResponseWriter, r *http.Request, me string, rm *room) {
	items := gitterapi.UnreadItems{Chat: []string{}, Mention: []string{}}
	for id := range rm.unread[me] {
		items.Chat = append(items.Chat, id)
		if m := rm.message(id); m != nil && mentions(m, me) {
			items.Mention = append(items.Mention, id)
		}
	}
	slices.Sort(items.Chat)
	slices.Sort(items.Mention)
	writeJSON(w, http.StatusOK, items)
}

// postUnread marks chat messages read (05.User-resource.md, "Mark Unread
// Items": a body with chat, an array of IDs).
func (s *Server) postUnread(w http.ResponseWriter, r *http.Request, me string, rm *room) {
	var body struct {
		Chat []string `json:"chat"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		httpError(w, http.StatusBadRequest)
		return
	}
	s.markRead(rm, me, body.Chat)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// postEyeballs takes a form with socketId (a Faye client ID) and on=1|0
// (08.Presence.md, "Sending Notification Signals") and publishes the
// user's presence in each of their rooms.
func (s *Server) postEyeballs(w http.ResponseWriter, r *http.Request, me string) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := s.faye[r.PostForm.Get("socketId")]
	if fc == nil || fc.userID != me {
		httpError(w, http.StatusBadRequest)
		return
	}
	on := r.PostForm.Get("on") == "1"
	for _, id := range s.order {
		if s.rooms[id].isMember(me) {
			s.publishPresence(id, me, on)
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}
