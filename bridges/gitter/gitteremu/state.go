package gitteremu

import (
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// Options tunes the emulator; zero values pick the defaults noted.
type Options struct {
	// RateLimit is how many REST calls one token may make per RateWindow
	// before getting 429; 0 disables limiting (and its headers).
	RateLimit int
	// RateWindow defaults to one minute, the window Gitter used.
	RateWindow time.Duration
	// Heartbeat is how often streams send a keep-alive; default 5 s.
	Heartbeat time.Duration
	// FayeTimeout is how long the Faye server holds a /meta/connect
	// before answering (the advice timeout); default 30 s.
	FayeTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server is a running emulator: API and Faye on one HTTP server, the
// streaming API on another (their paths overlap, as on Gitter, where they
// are different hosts).
type Server struct {
	opts   Options
	api    *httptest.Server
	stream *httptest.Server

	mu       sync.Mutex
	seq      uint64
	epoch    uint32
	users    map[string]*user // by ID
	tokens   map[string]string
	rooms    map[string]*room
	order    []string // room IDs in creation order
	requests []Request
	failures []failure
	rate     map[string]*rateWindow
	refuse   bool // refuse new streams with 503

	streams map[string]map[*streamSub]struct{} // by room ID
	faye    map[string]*fayeClient             // by client ID
	// fayeConns holds every open websocket, handshaken or not, so Close
	// can end them all.
	fayeConns map[*fayeClient]struct{}
}

type user struct {
	gitterapi.User
	token string
}

type room struct {
	gitterapi.Room
	members  []string // user IDs, in join order
	messages []*gitterapi.Message
	// unread[userID] holds the IDs of messages that user has not read.
	unread map[string]map[string]bool
	// readers[messageID] holds who read it, for readBy.
	readers map[string]map[string]bool
}

// Request is one call the emulator received, for tests to inspect. It
// never holds the token.
type Request struct {
	Method string
	Path   string
	Query  string
	UserID string // "" when unauthenticated
}

type failure struct {
	method, prefix string
	status         int
	left           int
}

// New starts an emulator; Close stops it.
func New(opts Options) *Server {
	if opts.RateWindow <= 0 {
		opts.RateWindow = time.Minute
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	if opts.FayeTimeout <= 0 {
		opts.FayeTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		epoch:   uint32(opts.Now().Unix()),
		users:   map[string]*user{},
		tokens:  map[string]string{},
		rooms:   map[string]*room{},
		rate:    map[string]*rateWindow{},
		streams: map[string]map[*streamSub]struct{}{},
		faye:    map[string]*fayeClient{},

		fayeConns: map[*fayeClient]struct{}{},
	}
	s.api = httptest.NewServer(s.apiHandler())
	s.stream = httptest.NewServer(s.streamHandler())
	return s
}

// Close ends every connection and stops the servers.
func (s *Server) Close() {
	s.DropStreams()
	s.dropFaye()
	s.api.CloseClientConnections()
	s.stream.CloseClientConnections()
	s.api.Close()
	s.stream.Close()
}

// APIURL is the api_url to configure ("http://127.0.0.1:port/").
func (s *Server) APIURL() string { return s.api.URL + "/" }

// StreamURL is the stream_url to configure.
func (s *Server) StreamURL() string { return s.stream.URL + "/" }

// FayeURL is the faye_url to configure ("ws://127.0.0.1:port/faye").
func (s *Server) FayeURL() string { return "ws" + strings.TrimPrefix(s.api.URL, "http") + "/faye" }

// newID makes a 24-hex-digit ID like Gitter's (MongoDB ObjectIDs): a time
// prefix and a counter, so IDs sort in creation order, which is what
// beforeId and afterId rely on.
func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("%08x%016x", s.epoch, s.seq)
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// AddUser creates a user and returns it with its token.
func (s *Server) AddUser(username, displayName string) (gitterapi.User, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{User: gitterapi.User{
		ID:              s.newID(),
		Username:        username,
		DisplayName:     displayName,
		URL:             "/" + username,
		AvatarURLSmall:  s.api.URL + "/avatars/" + username + "?s=60",
		AvatarURLMedium: s.api.URL + "/avatars/" + username + "?s=128",
		V:               1,
	}}
	u.token = "tok_" + u.ID
	s.users[u.ID] = u
	s.tokens[u.token] = u.ID
	return u.User, u.token
}

// AddRoom creates a group room (an ORG, REPO or *_CHANNEL room) with the
// given members.
func (s *Server) AddRoom(uri, topic, githubType string, memberIDs ...string) gitterapi.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &room{Room: gitterapi.Room{
		ID:         s.newID(),
		Name:       uri,
		Topic:      topic,
		URI:        uri,
		URL:        "/" + uri,
		GithubType: githubType,
		V:          1,
	}}
	s.addRoom(r, memberIDs)
	return s.roomView(r, "")
}

// AddOneToOne creates the one-to-one room of two users.
func (s *Server) AddOneToOne(a, b string) gitterapi.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &room{Room: gitterapi.Room{ID: s.newID(), OneToOne: true, GithubType: gitterapi.RoomOneToOne}}
	s.addRoom(r, []string{a, b})
	return s.roomView(r, a)
}

// oneToOne finds the one-to-one room of two users, or creates it and
// tells both their room lists, as a room joined on Gitter would.
func (s *Server) oneToOne(a, b string) *room {
	for _, id := range s.order {
		if r := s.rooms[id]; r.OneToOne && r.isMember(a) && r.isMember(b) {
			return r
		}
	}
	r := &room{Room: gitterapi.Room{ID: s.newID(), OneToOne: true, GithubType: gitterapi.RoomOneToOne}}
	s.addRoom(r, []string{a, b})
	for _, m := range r.members {
		s.publishFaye(gitterapi.UserRoomsChannel(m), gitterapi.FayeEvent{Operation: gitterapi.OpCreate, Model: mustJSON(s.roomView(r, m))})
	}
	return r
}

// OneToOneOf returns the one-to-one room of two users, if they have one.
func (s *Server) OneToOneOf(a, b string) (gitterapi.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.order {
		if r := s.rooms[id]; r.OneToOne && r.isMember(a) && r.isMember(b) {
			return s.roomView(r, a), true
		}
	}
	return gitterapi.Room{}, false
}

func (s *Server) addRoom(r *room, memberIDs []string) {
	r.unread = map[string]map[string]bool{}
	r.readers = map[string]map[string]bool{}
	for _, m := range memberIDs {
		if s.users[m] == nil {
			panic("gitteremu: unknown user " + m)
		}
		r.members = append(r.members, m)
		r.unread[m] = map[string]bool{}
	}
	s.rooms[r.ID] = r
	s.order = append(s.order, r.ID)
}

// roomView is a room as one user sees it: one-to-one rooms are named after
// the other person (03.Rooms-resource.md example), counters are theirs.
func (s *Server) roomView(r *room, viewer string) gitterapi.Room {
	v := r.Room
	v.UserCount = len(r.members)
	if r.OneToOne {
		for _, m := range r.members {
			if m != viewer {
				other := s.users[m].User
				v.User = &other
				v.Name = other.DisplayName
				v.URL = "/" + other.Username
				break
			}
		}
	}
	if viewer != "" {
		v.UnreadItems = len(r.unread[viewer])
		for id := range r.unread[viewer] {
			if m := r.message(id); m != nil && mentions(m, viewer) {
				v.Mentions++
			}
		}
	}
	return v
}

func mentions(m *gitterapi.Message, userID string) bool {
	for _, mn := range m.Mentions {
		if mn.UserID == userID || slices.Contains(mn.UserIDs, userID) {
			return true
		}
	}
	return false
}

func (r *room) message(id string) *gitterapi.Message {
	i, ok := slices.BinarySearchFunc(r.messages, id, func(m *gitterapi.Message, id string) int {
		return strings.Compare(m.ID, id)
	})
	if !ok {
		return nil
	}
	return r.messages[i]
}

func (r *room) isMember(userID string) bool { return slices.Contains(r.members, userID) }

// messageView is a message as one user sees it (unread is per viewer).
func (r *room) messageView(m *gitterapi.Message, viewer string) gitterapi.Message {
	v := *m
	v.Unread = r.unread[viewer][m.ID]
	v.ReadBy = len(r.readers[m.ID])
	return v
}

var mentionRe = regexp.MustCompile(`(^|[^\w@/])@([A-Za-z0-9_-]+)`)

// render fills html, mentions and urls from text, in the shapes of the
// docs' examples (04.Messages-resource.md): mentions as
// <span data-link-type="mention" ...>. The emulator does not render
// markdown: clients are expected to use text, html is a convenience.
func (s *Server) render(m *gitterapi.Message) {
	m.Mentions = []gitterapi.Mention{}
	m.URLs = []gitterapi.URLRef{}
	m.Issues = []gitterapi.IssueRef{}
	m.Meta = map[string]any{}
	escaped := html.EscapeString(m.Text)
	for _, sm := range mentionRe.FindAllStringSubmatch(m.Text, -1) {
		if u := s.userByName(sm[2]); u != nil {
			m.Mentions = append(m.Mentions, gitterapi.Mention{ScreenName: u.Username, UserID: u.ID})
		}
	}
	m.HTML = mentionRe.ReplaceAllStringFunc(escaped, func(match string) string {
		sub := mentionRe.FindStringSubmatch(match)
		if s.userByName(sub[2]) == nil {
			return match
		}
		return sub[1] + `<span data-link-type="mention" data-screen-name="` + sub[2] + `" class="mention">@` + sub[2] + `</span>`
	})
	for _, f := range strings.Fields(m.Text) {
		if strings.HasPrefix(f, "https://") || strings.HasPrefix(f, "http://") {
			m.URLs = append(m.URLs, gitterapi.URLRef{URL: f})
		}
	}
}

func (s *Server) userByName(name string) *user {
	for _, u := range s.users {
		if strings.EqualFold(u.Username, name) {
			return u
		}
	}
	return nil
}

// ---- acting as other users (tests) and for handlers ----

// Post sends a message as userID, as if from a Gitter client.
func (s *Server) Post(roomID, userID, text string) gitterapi.Message {
	m, err := s.post(roomID, userID, gitterapi.NewMessage{Text: text})
	if err != nil {
		panic("gitteremu: Post: " + err.Error())
	}
	return m
}

// PostStatus sends a status update (/me) as userID.
func (s *Server) PostStatus(roomID, userID, text string) gitterapi.Message {
	m, err := s.post(roomID, userID, gitterapi.NewMessage{Text: text, Status: true})
	if err != nil {
		panic("gitteremu: PostStatus: " + err.Error())
	}
	return m
}

// Edit replaces a message's text as its author.
func (s *Server) Edit(roomID, userID, messageID, text string) gitterapi.Message {
	m, err := s.update(roomID, userID, messageID, text)
	if err != nil {
		panic("gitteremu: Edit: " + err.Error())
	}
	return m
}

// Delete deletes a message as its author (its text becomes "").
func (s *Server) Delete(roomID, userID, messageID string) {
	if _, err := s.update(roomID, userID, messageID, ""); err != nil {
		panic("gitteremu: Delete: " + err.Error())
	}
}

// Join adds a user to a room, as if they joined from Gitter.
func (s *Server) Join(roomID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.join(s.rooms[roomID], userID)
}

// Leave removes a user from a room, as if they left from Gitter.
func (s *Server) Leave(roomID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leave(s.rooms[roomID], userID)
}

// SetTopic changes a room's topic, as a room admin on Gitter would.
func (s *Server) SetTopic(roomID, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setTopic(s.rooms[roomID], topic)
}

// SetPresence publishes a presence notification for a user in a room
// (08.Presence.md): in is true for "in", false for "out".
func (s *Server) SetPresence(roomID, userID string, in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishPresence(roomID, userID, in)
}

// ReadAll marks every message of a room read for userID, as opening the
// room in a Gitter client does.
func (s *Server) ReadAll(roomID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	s.markRead(r, userID, slices.Collect(maps.Keys(r.unread[userID])))
}

// markRead marks messages read for a user and, when that changed their
// unread count, patches the room in their room list with the new counts.
// Gitter's clients keep that list live over Faye and watch unreadItems
// change on it (gitterHQ/realtime-client: lib/room-collection.js listens
// to /v1/user/:userId/rooms, lib/live-collection.js applies "patch"
// operations to the rooms it holds).
func (s *Server) markRead(r *room, userID string, ids []string) {
	before := len(r.unread[userID])
	for _, id := range ids {
		delete(r.unread[userID], id)
		if r.message(id) != nil {
			if r.readers[id] == nil {
				r.readers[id] = map[string]bool{}
			}
			r.readers[id][userID] = true
		}
	}
	if len(r.unread[userID]) == before {
		return
	}
	v := s.roomView(r, userID)
	patch := map[string]any{"id": r.ID, "unreadItems": v.UnreadItems, "mentions": v.Mentions}
	s.publishFaye(gitterapi.UserRoomsChannel(userID), gitterapi.FayeEvent{Operation: gitterapi.OpPatch, Model: mustJSON(patch)})
}

// Messages returns a room's messages, oldest first, deleted ones included
// (with empty text).
func (s *Server) Messages(roomID string) []gitterapi.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	out := make([]gitterapi.Message, 0, len(r.messages))
	for _, m := range r.messages {
		out = append(out, r.messageView(m, ""))
	}
	return out
}

// Members returns the user IDs of a room, in join order.
func (s *Server) Members(roomID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms[roomID].members)
}

// Room returns a room as userID sees it.
func (s *Server) Room(roomID, userID string) gitterapi.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roomView(s.rooms[roomID], userID)
}

// Unread returns the IDs of messages userID has not read in a room.
func (s *Server) Unread(roomID, userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.rooms[roomID].unread[userID] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Requests returns the calls received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next count calls whose method matches (or any, for
// "") and whose path starts with prefix fail with status. A 429 carries
// Retry-After: 0 so clients retry at once.
func (s *Server) FailNext(method, prefix string, status, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{method: method, prefix: prefix, status: status, left: count})
}

// RevokeToken makes a user's token invalid: every call with it gets 401.
func (s *Server) RevokeToken(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, s.users[userID].token)
}

func (s *Server) takeFailure(r *http.Request) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.failures {
		f := &s.failures[i]
		if f.left > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(r.URL.Path, f.prefix) {
			f.left--
			return f.status, true
		}
	}
	return 0, false
}

// post, update, join, leave and setTopic are shared by handlers and the
// test API; they publish what Gitter clients would see.

func (s *Server) post(roomID, userID string, nm gitterapi.NewMessage) (gitterapi.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return gitterapi.Message{}, errNotFound
	}
	if !r.isMember(userID) {
		return gitterapi.Message{}, errForbidden
	}
	m := &gitterapi.Message{
		ID:       s.newID(),
		Text:     nm.Text,
		Sent:     gitterapi.Time{Time: s.now()},
		FromUser: s.users[userID].User,
		Status:   nm.Status,
		ParentID: nm.ParentID,
		V:        1,
	}
	s.render(m)
	r.messages = append(r.messages, m)
	for _, member := range r.members {
		if member != userID {
			r.unread[member][m.ID] = true
		}
	}
	s.publishMessage(r, m, gitterapi.OpCreate)
	return r.messageView(m, userID), nil
}

func (s *Server) update(roomID, userID, messageID, text string) (gitterapi.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return gitterapi.Message{}, errNotFound
	}
	m := r.message(messageID)
	if m == nil {
		return gitterapi.Message{}, errNotFound
	}
	if m.FromUser.ID != userID {
		return gitterapi.Message{}, errForbidden
	}
	m.Text = text
	m.EditedAt = gitterapi.Time{Time: s.now()}
	m.V++
	s.render(m)
	op := gitterapi.OpUpdate
	if text == "" {
		op = gitterapi.OpRemove
	}
	s.publishMessage(r, m, op)
	return r.messageView(m, userID), nil
}

func (s *Server) join(r *room, userID string) {
	if r.isMember(userID) {
		return
	}
	r.members = append(r.members, userID)
	r.unread[userID] = map[string]bool{}
	s.publishMember(r, userID, gitterapi.OpCreate)
}

func (s *Server) leave(r *room, userID string) {
	i := slices.Index(r.members, userID)
	if i < 0 {
		return
	}
	s.publishMember(r, userID, gitterapi.OpRemove)
	r.members = slices.Delete(r.members, i, i+1)
	delete(r.unread, userID)
	s.dropStreamsOf(r.ID, userID)
}

func (s *Server) setTopic(r *room, topic string) {
	r.Topic = topic
	r.V++
	for _, m := range r.members {
		s.publishFaye(gitterapi.UserRoomsChannel(m), gitterapi.FayeEvent{Operation: gitterapi.OpUpdate, Model: mustJSON(s.roomView(r, m))})
	}
}
