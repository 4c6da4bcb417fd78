package slackemu

import (
	"net/http"
	"slices"
	"time"
)

// This file is the test side of the workspace: setting it up, acting in it
// as other people would from the Slack app, and looking at what the bridge
// did. Every action that Slack announces over RTM is announced here too,
// with the event shape its documentation page gives.

// AddUser adds a member. TeamID and Profile.RealName default sensibly.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.TeamID == "" {
		u.TeamID = s.team.ID
	}
	if u.RealName == "" {
		u.RealName = u.Name
	}
	if u.Profile.RealName == "" {
		u.Profile.RealName = u.RealName
	}
	if u.Updated == 0 {
		u.Updated = time.Now().Unix()
	}
	s.users[u.ID] = &u
	s.presence[u.ID] = &presenceState{}
	// A new member is announced to everyone with their user object
	// (https://api.slack.com/events/team_join).
	cp := u
	s.broadcastLocked("", "", map[string]any{"type": "team_join", "user": &cp})
}

// AddToken makes a token valid for a user.
func (s *Server) AddToken(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[t.Value] = &t
}

// RevokeToken makes every later call with the token fail with
// token_revoked, and closes the RTM connections opened with it, as Slack
// does when a user signs out or an admin revokes a token.
func (s *Server) RevokeToken(value string) {
	s.mu.Lock()
	if t := s.tokens[value]; t != nil {
		t.revoked = true
	}
	s.mu.Unlock()
	s.closeConns(func(c *rtmConn) bool { return c.token == value })
}

// SignOutToken makes every later call with the token fail with
// invalid_auth, as if Slack had never issued it (a browser session signed
// out, a token rotated away), and closes its RTM connections.
func (s *Server) SignOutToken(value string) {
	s.mu.Lock()
	if t := s.tokens[value]; t != nil {
		t.signedOut = true
	}
	s.mu.Unlock()
	s.closeConns(func(c *rtmConn) bool { return c.token == value })
}

// DeactivateUser deactivates a member as an admin would: their tokens
// answer account_inactive from then on
// (https://api.slack.com/methods/auth.test, "Errors"), their RTM
// connections close, and everyone hears of it with user_change carrying
// "deleted": true (https://api.slack.com/events/user_change).
func (s *Server) DeactivateUser(id string) {
	s.mu.Lock()
	u := s.users[id]
	if u != nil {
		u.Deleted = true
		u.Updated = time.Now().Unix()
		cp := *u
		s.broadcastLocked("", id, map[string]any{"type": "user_change", "user": &cp})
	}
	s.mu.Unlock()
	s.closeConns(func(c *rtmConn) bool { return c.user == id })
}

// AddConversation adds a channel, private channel, IM or MPIM. An empty ID
// is allocated with Slack's prefix for the kind; the ID is returned.
func (s *Server) AddConversation(c Conversation) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ID == "" {
		prefix := map[ConversationKind]string{PublicChannel: "C", PrivateChannel: "C", IM: "D", MPIM: "C"}[c.Kind]
		c.ID = s.newID(prefix)
	}
	if c.Created == 0 {
		c.Created = time.Now().Unix()
	}
	c.Members = slices.Clone(c.Members)
	s.convs[c.ID] = &conversation{Conversation: c}
	return c.ID
}

// CreateChannel creates a public channel as a user would in the Slack app
// and returns its ID. Everyone in the workspace hears of it with
// channel_created (https://api.slack.com/events/channel_created: "sent to
// all connections for a workspace"); the creator is its first member, which
// member_joined_channel announces ("also triggered upon creating a new
// channel", https://api.slack.com/events/member_joined_channel), with the
// channel_join message.
func (s *Server) CreateChannel(creator, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("C")
	conv := &conversation{Conversation: Conversation{ID: id, Name: name, Kind: PublicChannel, Creator: creator, Created: time.Now().Unix()}}
	s.convs[id] = conv
	s.broadcastLocked("", "", map[string]any{
		"type":    "channel_created",
		"channel": map[string]any{"id": id, "name": name, "created": conv.Created, "creator": creator},
	})
	s.joinLocked(id, creator, "")
	return id
}

// OpenMPIM opens a group DM as user would from the Slack app, the way
// conversations.open does for several users (see conversationsOpen), and
// returns its ID.
func (s *Server) OpenMPIM(user string, others ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openLocked(user, others, MPIM).ID
}

// Post sends a message as a user, as if typed in the Slack app, and
// returns its ts. threadTS makes it a thread reply ("" for none).
// It is announced as a message event (https://api.slack.com/events/message).
func (s *Server) Post(channel, user, text, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{Type: "message", Channel: channel, User: user, Text: text, ThreadTS: threadTS, Team: s.team.ID}
	s.storeLocked(channel, m)
	return m.TS
}

// Broadcast posts a thread reply that is also sent to the channel, as the
// Slack app's "Also send to #channel" does: a thread_broadcast message
// (https://api.slack.com/events/message/thread_broadcast), shown in the
// thread and in the channel. It returns the ts.
func (s *Server) Broadcast(channel, user, text, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &Message{Type: "message", Subtype: "thread_broadcast", Channel: channel, User: user, Text: text, ThreadTS: threadTS, Team: s.team.ID}
	s.storeLocked(channel, m)
	return m.TS
}

// PostMessage stores and announces a message built by the test (a
// subtype, files, a bot message); TS and Channel are filled in. It returns
// the ts.
func (s *Server) PostMessage(channel string, m Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Type = "message"
	m.Channel = channel
	if m.Team == "" && m.BotID == "" {
		m.Team = s.team.ID
	}
	s.storeLocked(channel, &m)
	return m.TS
}

// Edit changes a message's text as its author in the Slack app would.
func (s *Server) Edit(channel, ts, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m := s.findLocked(channel, ts)
	if m == nil {
		return false
	}
	s.editLocked(conv, m, m.User, text)
	return true
}

// Delete deletes a message as its author in the Slack app would.
func (s *Server) Delete(channel, ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m := s.findLocked(channel, ts)
	if m == nil {
		return false
	}
	s.deleteLocked(conv, ts)
	return true
}

// React adds (add=true) or removes a reaction by a user.
func (s *Server) React(channel, ts, user, name string, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m := s.findLocked(channel, ts)
	if m == nil {
		return false
	}
	if add {
		return s.addReactionLocked(conv, m, user, name) == ""
	}
	return s.removeReactionLocked(conv, m, user, name) == ""
}

// Typing announces that a user types in a conversation
// (https://api.slack.com/events/user_typing).
func (s *Server) Typing(channel, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcastLocked(channel, "", map[string]any{"type": "user_typing", "channel": channel, "user": user})
}

// Join adds a user to a conversation and announces it
// (https://api.slack.com/events/member_joined_channel), with the
// channel_join message Slack posts (https://api.slack.com/events/message/channel_join).
func (s *Server) Join(channel, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joinLocked(channel, user, "")
}

// Leave removes a user from a conversation and announces it
// (https://api.slack.com/events/member_left_channel and
// https://api.slack.com/events/message/channel_leave).
func (s *Server) Leave(channel, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(channel, user)
}

// Rename renames a channel: channel_rename
// (https://api.slack.com/events/channel_rename), or group_rename for a
// private channel (https://api.slack.com/events/group_rename).
func (s *Server) Rename(channel, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.convs[channel]
	if conv == nil {
		return
	}
	conv.Name = name
	kind := "channel_rename"
	if conv.Kind == PrivateChannel {
		kind = "group_rename"
	}
	s.broadcastLocked(channel, "", map[string]any{
		"type":    kind,
		"channel": map[string]any{"id": channel, "name": name, "created": conv.Created},
	})
}

// SetTopic sets a conversation's topic as a user would in the Slack app,
// which posts the channel_topic message
// (https://api.slack.com/events/message/channel_topic), group_topic in a
// private channel (https://api.slack.com/events/message/group_topic).
func (s *Server) SetTopic(channel, user, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conv := s.convs[channel]; conv != nil {
		conv.Topic = topic
		s.postSettingLocked(conv, user, "topic", topic)
	}
}

// SetPurpose sets a conversation's purpose (description) as a user would,
// which posts channel_purpose (https://api.slack.com/events/message/channel_purpose),
// or group_purpose (https://api.slack.com/events/message/group_purpose).
func (s *Server) SetPurpose(channel, user, purpose string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conv := s.convs[channel]; conv != nil {
		conv.Purpose = purpose
		s.postSettingLocked(conv, user, "purpose", purpose)
	}
}

// postSettingLocked posts the message Slack shows for a new topic or
// purpose, with the text its event pages give: "<@U…|name> set the channel
// topic: …".
func (s *Server) postSettingLocked(conv *conversation, user, what, value string) {
	scope := "channel"
	if conv.Kind == PrivateChannel {
		scope = "group"
	}
	name := user
	if u := s.users[user]; u != nil {
		name = u.Name
	}
	m := &Message{Type: "message", Subtype: scope + "_" + what, User: user, Team: s.team.ID,
		Text: "<@" + user + "|" + name + "> set the " + scope + " " + what + ": " + value}
	if what == "topic" {
		m.Topic = value
	} else {
		m.Purpose = value
	}
	s.storeLocked(conv.ID, m)
}

// Mark moves a user's read marker as their Slack app does when they read
// a conversation (https://api.slack.com/methods/conversations.mark).
func (s *Server) Mark(channel, user, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conv := s.convs[channel]; conv != nil {
		s.markLocked(conv, user, ts)
	}
}

// ReadMarker returns a user's read marker in a conversation, "".
func (s *Server) ReadMarker(channel, user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conv := s.convs[channel]; conv != nil {
		return conv.marks[user]
	}
	return ""
}

// Archive archives (true) or unarchives a channel as a user, as the Slack
// app does: an archived channel takes no messages (chat.postMessage
// answers is_archived).
func (s *Server) Archive(channel, user string, archive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conv := s.convs[channel]; conv != nil {
		s.archiveLocked(conv, user, archive)
	}
}

// UpdateUser replaces a user's profile and announces it to everyone
// (https://api.slack.com/events/user_change).
func (s *Server) UpdateUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.users[u.ID]
	if old == nil {
		return
	}
	if u.TeamID == "" {
		u.TeamID = old.TeamID
	}
	u.Updated = time.Now().Unix()
	s.users[u.ID] = &u
	cp := u
	s.broadcastLocked("", "", map[string]any{"type": "user_change", "user": &cp})
}

// SetPresence sets whether a user is active or away, as their Slack
// client would, and tells the RTM connections subscribed to them.
func (s *Server) SetPresence(user string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.presence[user]
	if p == nil {
		return
	}
	before := s.presenceLocked(user)
	p.online = active
	p.manualAway = !active
	s.announcePresenceLocked(user, before)
}

// Presence returns "active" or "away" for a user as users.getPresence
// would.
func (s *Server) Presence(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presenceLocked(user)
}

// Emit pushes a raw event to the RTM connections of the conversation's
// members ("" = every connection), for event types the emulator has no
// action for.
func (s *Server) Emit(channel string, event map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broadcastLocked(channel, "", event)
}

// Messages returns a copy of a conversation's stored messages, oldest
// first, thread replies included; deleted messages are gone.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.convs[channel]
	if conv == nil {
		return nil
	}
	out := make([]Message, len(conv.messages))
	for i, m := range conv.messages {
		out[i] = m.clone()
	}
	return out
}

// IMWith returns the ID of the IM between two users, "" when there is none.
func (s *Server) IMWith(a, b string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range sortedKeys(s.convs) {
		c := s.convs[id]
		if c.Kind == IM && slices.Contains(c.Members, a) && slices.Contains(c.Members, b) {
			return id
		}
	}
	return ""
}

// Members returns a conversation's member IDs.
func (s *Server) Members(channel string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conv := s.convs[channel]; conv != nil {
		return slices.Clone(conv.Members)
	}
	return nil
}

// Calls returns the Web API calls made so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the calls of one method.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// RateLimit makes the next n calls of a method ("*" = any method) answer
// HTTP 429 with Retry-After: retryAfter seconds.
func (s *Server) RateLimit(method string, n, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits[method] = &rateLimit{remaining: n, retryAfter: retryAfter}
}

// holdKey names the calls of one method by one user.
type holdKey struct{ method, user string }

// Hold keeps back the answers to the calls of method made by user until
// release is called. The method does its work at once, events included,
// and only the answer waits: a slow network, or a client waiting out a
// rate limit before it retries (https://api.slack.com/apis/rate-limits).
// With conversations.open (https://api.slack.com/methods/conversations.open)
// that puts the im_created of a new DM before the answer that names it,
// which Slack may do too, since the event and the answer travel apart.
// Slack has no such switch: it is how a test makes a call slow.
func (s *Server) Hold(method, user string) (release func()) {
	ch := make(chan struct{})
	key := holdKey{method, user}
	s.mu.Lock()
	if old := s.holds[key]; old != nil {
		close(old)
	}
	s.holds[key] = ch
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.holds[key] == ch {
			delete(s.holds, key)
			close(ch)
		}
	}
}

// waitHold waits while the answer to a call is held (Hold), or until the
// caller gives up.
func (s *Server) waitHold(r *http.Request, method, user string) {
	s.mu.Lock()
	ch := s.holds[holdKey{method, user}]
	s.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-r.Context().Done():
	}
}

// releaseHolds lets every held answer go.
func (s *Server) releaseHolds() {
	s.mu.Lock()
	holds := s.holds
	s.holds = map[holdKey]chan struct{}{}
	s.mu.Unlock()
	for _, ch := range holds {
		close(ch)
	}
}

// SetRTMDown closes every RTM and Socket Mode connection (down=true) and
// makes rtm.connect and apps.connections.open fail until it is called with
// false, so a test can post messages while
// the bridge is disconnected and check that it catches up.
func (s *Server) SetRTMDown(down bool) {
	s.mu.Lock()
	s.rtmDown = down
	s.mu.Unlock()
	if down {
		s.DropRTM()
	}
}

// DropRTM closes every RTM and Socket Mode connection without warning, as
// a network failure would.
func (s *Server) DropRTM() {
	s.closeConns(func(*rtmConn) bool { return true })
	s.mu.Lock()
	var drop []*socketConn
	for c := range s.sockets {
		drop = append(drop, c)
	}
	s.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
}

// closeConns closes the connections that match; closing takes the lock
// itself, so they are collected first.
func (s *Server) closeConns(match func(*rtmConn) bool) {
	s.mu.Lock()
	var drop []*rtmConn
	for c := range s.conns {
		if match(c) {
			drop = append(drop, c)
		}
	}
	s.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
}

// RTMConnections counts the open RTM connections of a user ("" = all).
func (s *Server) RTMConnections(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.ws != nil && (user == "" || c.user == user) {
			n++
		}
	}
	return n
}

// TypingSent returns the conversations a user's RTM clients sent typing
// indicators for, in order.
func (s *Server) TypingSent(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, t := range s.typing {
		if t.user == user {
			out = append(out, t.channel)
		}
	}
	return out
}

// Subscriptions returns the users a user's RTM connections asked presence
// for with presence_sub.
func (s *Server) Subscriptions(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for c := range s.conns {
		if c.user == user {
			for id := range c.presenceSubs {
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// findLocked finds a message by channel and ts; both are nil when it does
// not exist.
func (s *Server) findLocked(channel, ts string) (*conversation, *Message) {
	conv := s.convs[channel]
	if conv == nil {
		return nil, nil
	}
	if m := conv.find(ts); m != nil {
		return conv, m
	}
	return nil, nil
}

func (m *Message) clone() Message {
	c := *m
	c.Reactions = make([]Reaction, len(m.Reactions))
	for i, r := range m.Reactions {
		c.Reactions[i] = Reaction{Name: r.Name, Users: slices.Clone(r.Users), Count: r.Count}
	}
	if m.Reactions == nil {
		c.Reactions = nil
	}
	c.Files = slices.Clone(m.Files)
	if m.Edited != nil {
		e := *m.Edited
		c.Edited = &e
	}
	return c
}

func (c *conversation) find(ts string) *Message {
	for _, m := range c.messages {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func channelType(k ConversationKind) string {
	switch k {
	case PrivateChannel:
		return "G"
	case IM:
		return "D"
	case MPIM:
		return "G"
	}
	return "C"
}
