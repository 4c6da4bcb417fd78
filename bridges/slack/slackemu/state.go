package slackemu

import (
	"encoding/json"
	"slices"
)

// The functions here change the workspace and announce the change. They
// run with s.mu held; broadcasting only enqueues on each connection's
// buffered queue, so holding the lock never waits on a socket, and the
// order of events on every connection is the order of the changes.

// storeLocked gives a message its ts, stores it and announces it
// (https://api.slack.com/events/message).
func (s *Server) storeLocked(channel string, m *Message) {
	conv := s.convs[channel]
	if conv == nil {
		return
	}
	m.TS = s.newTS()
	m.Channel = channel
	if m.ThreadTS == m.TS {
		m.ThreadTS = ""
	}
	var root *Message
	if m.ThreadTS != "" {
		// https://api.slack.com/messaging/retrieving#finding_threads: the
		// parent carries thread_ts (its own ts) and reply_count.
		if parent := conv.find(m.ThreadTS); parent != nil {
			parent.ThreadTS = parent.TS
			parent.ReplyCount++
			cp := parent.clone()
			cp.Channel = ""
			root = &cp
		}
	}
	conv.messages = append(conv.messages, m)
	ev := m.clone()
	if m.broadcast() {
		ev.Root = root // https://api.slack.com/events/message/thread_broadcast
	}
	s.broadcastLocked(channel, "", ev)
}

// editLocked changes a message's text and announces message_changed
// (https://api.slack.com/events/message/message_changed).
func (s *Server) editLocked(conv *conversation, m *Message, editor, text string) {
	prev := m.clone()
	editTS := s.newTS()
	m.Text = text
	m.Edited = &Edited{User: editor, TS: editTS}
	cur := m.clone()
	cur.Channel = ""
	prev.Channel = ""
	s.broadcastLocked(conv.ID, "", map[string]any{
		"type": "message", "subtype": "message_changed", "hidden": true,
		"channel": conv.ID, "ts": editTS, "event_ts": editTS,
		"message": cur, "previous_message": prev,
	})
}

// deleteLocked removes a message and announces message_deleted
// (https://api.slack.com/events/message/message_deleted).
func (s *Server) deleteLocked(conv *conversation, ts string) {
	i := slices.IndexFunc(conv.messages, func(m *Message) bool { return m.TS == ts })
	if i < 0 {
		return
	}
	prev := conv.messages[i].clone()
	prev.Channel = ""
	conv.messages = slices.Delete(conv.messages, i, i+1)
	evTS := s.newTS()
	s.broadcastLocked(conv.ID, "", map[string]any{
		"type": "message", "subtype": "message_deleted", "hidden": true,
		"channel": conv.ID, "ts": evTS, "event_ts": evTS, "deleted_ts": ts,
		"previous_message": prev,
	})
}

// addReactionLocked adds a reaction and announces reaction_added
// (https://api.slack.com/events/reaction_added). It returns an error code
// of https://api.slack.com/methods/reactions.add or "".
func (s *Server) addReactionLocked(conv *conversation, m *Message, user, name string) string {
	i := slices.IndexFunc(m.Reactions, func(r Reaction) bool { return r.Name == name })
	if i >= 0 && slices.Contains(m.Reactions[i].Users, user) {
		return "already_reacted"
	}
	if i < 0 {
		m.Reactions = append(m.Reactions, Reaction{Name: name})
		i = len(m.Reactions) - 1
	}
	m.Reactions[i].Users = append(m.Reactions[i].Users, user)
	m.Reactions[i].Count++
	s.broadcastLocked(conv.ID, "", reactionEvent("reaction_added", conv.ID, m, user, name, s.newTS()))
	return ""
}

// removeReactionLocked removes a reaction and announces reaction_removed
// (https://api.slack.com/events/reaction_removed). It returns an error
// code of https://api.slack.com/methods/reactions.remove or "".
func (s *Server) removeReactionLocked(conv *conversation, m *Message, user, name string) string {
	i := slices.IndexFunc(m.Reactions, func(r Reaction) bool { return r.Name == name })
	if i < 0 || !slices.Contains(m.Reactions[i].Users, user) {
		return "no_reaction"
	}
	r := &m.Reactions[i]
	r.Users = slices.DeleteFunc(r.Users, func(u string) bool { return u == user })
	r.Count--
	if r.Count == 0 {
		m.Reactions = slices.Delete(m.Reactions, i, i+1)
	}
	s.broadcastLocked(conv.ID, "", reactionEvent("reaction_removed", conv.ID, m, user, name, s.newTS()))
	return ""
}

func reactionEvent(kind, channel string, m *Message, user, name, ts string) map[string]any {
	return map[string]any{
		"type": kind, "user": user, "reaction": name, "item_user": m.User,
		"item":     map[string]any{"type": "message", "channel": channel, "ts": m.TS},
		"event_ts": ts,
	}
}

// joinLocked adds a member, posts the channel_join message
// (https://api.slack.com/events/message/channel_join) and announces
// member_joined_channel (https://api.slack.com/events/member_joined_channel).
func (s *Server) joinLocked(channel, user, inviter string) {
	conv := s.convs[channel]
	u := s.users[user]
	if conv == nil || u == nil || slices.Contains(conv.Members, user) {
		return
	}
	conv.Members = append(conv.Members, user)
	ev := map[string]any{
		"type": "member_joined_channel", "user": user, "channel": channel,
		"channel_type": channelType(conv.Kind), "team": s.team.ID,
	}
	if inviter != "" {
		ev["inviter"] = inviter
	}
	s.broadcastLocked(channel, "", ev)
	s.storeLocked(channel, &Message{Type: "message", Subtype: "channel_join", User: user,
		Text: "<@" + user + "|" + u.Name + "> has joined the channel"})
}

// leaveLocked removes a member and announces it
// (https://api.slack.com/events/member_left_channel), with the
// channel_leave message (https://api.slack.com/events/message/channel_leave)
// posted while they are still a member, so they see it too.
func (s *Server) leaveLocked(channel, user string) {
	conv := s.convs[channel]
	u := s.users[user]
	if conv == nil || u == nil || !slices.Contains(conv.Members, user) {
		return
	}
	s.broadcastLocked(channel, "", map[string]any{
		"type": "member_left_channel", "user": user, "channel": channel,
		"channel_type": channelType(conv.Kind), "team": s.team.ID,
	})
	s.storeLocked(channel, &Message{Type: "message", Subtype: "channel_leave", Channel: channel, User: user,
		Text: "<@" + user + "|" + u.Name + "> has left the channel"})
	conv.Members = slices.DeleteFunc(conv.Members, func(m string) bool { return m == user })
}

// markLocked moves a user's read marker and tells that user's own
// connections with channel_marked, group_marked or im_marked by kind
// (https://api.slack.com/events/channel_marked,
// https://api.slack.com/events/group_marked,
// https://api.slack.com/events/im_marked).
func (s *Server) markLocked(conv *conversation, user, ts string) {
	if conv.marks == nil {
		conv.marks = map[string]string{}
	}
	conv.marks[user] = ts
	kind := map[ConversationKind]string{PublicChannel: "channel_marked", PrivateChannel: "group_marked", MPIM: "group_marked", IM: "im_marked"}[conv.Kind]
	ev := map[string]any{"type": kind, "channel": conv.ID, "ts": ts, "unread_count": 0, "unread_count_display": 0}
	for c := range s.conns {
		if c.user == user {
			c.sendLocked(ev)
		}
	}
}

// archiveLocked archives or unarchives a channel: the channel_archive or
// group_archive event (https://api.slack.com/events/channel_archive,
// https://api.slack.com/events/group_archive; the unarchive pages alike)
// and the channel_archive message in the channel
// (https://api.slack.com/events/message/channel_archive), whose text names
// who did it.
func (s *Server) archiveLocked(conv *conversation, user string, archive bool) {
	if conv.Archived == archive || conv.Kind == IM {
		return
	}
	kind := "channel_"
	if conv.Kind != PublicChannel {
		kind = "group_"
	}
	verb := "archive"
	if !archive {
		verb = "unarchive"
	}
	name := user
	if u := s.users[user]; u != nil {
		name = u.Name
	}
	if archive {
		// The message comes first, while the channel still takes it.
		s.storeLocked(conv.ID, &Message{Type: "message", Subtype: kind + verb, User: user,
			Text: "<@" + user + "|" + name + "> " + verb + "d the channel"})
	}
	conv.Archived = archive
	s.broadcastLocked(conv.ID, "", map[string]any{"type": kind + verb, "channel": conv.ID, "user": user})
	if !archive {
		s.storeLocked(conv.ID, &Message{Type: "message", Subtype: kind + verb, User: user,
			Text: "<@" + user + "|" + name + "> " + verb + "d the channel"})
	}
}

// presenceLocked is what users.getPresence reports: "away" when the user
// set themselves away or has no client connected, else "active"
// (https://api.slack.com/docs/presence-and-status).
func (s *Server) presenceLocked(user string) string {
	p := s.presence[user]
	if p == nil || p.manualAway || !p.online {
		return "away"
	}
	return "active"
}

// announcePresenceLocked sends presence_change to the connections
// subscribed to the user (https://api.slack.com/events/presence_change;
// batched as "users" for connections opened with batch_presence_aware)
// when the user's presence differs from before.
func (s *Server) announcePresenceLocked(user, before string) {
	now := s.presenceLocked(user)
	if now == before {
		return
	}
	for c := range s.conns {
		if !c.presenceSubs[user] {
			continue
		}
		ev := map[string]any{"type": "presence_change", "presence": now}
		if c.batchPresence {
			ev["users"] = []string{user}
		} else {
			ev["user"] = user
		}
		c.sendLocked(ev)
	}
}

// broadcastLocked sends an event to the RTM connections of a
// conversation's members (every connection when channel is ""), except
// those of the user named in except, and to the Socket Mode connections of
// apps whose bot user is a member.
func (s *Server) broadcastLocked(channel, except string, ev any) {
	data, err := json.Marshal(ev)
	if err != nil {
		panic(err) // events are built here from plain values
	}
	var members []string
	if channel != "" {
		conv := s.convs[channel]
		if conv == nil {
			return
		}
		members = conv.Members
	}
	for c := range s.conns {
		if c.user == except || (channel != "" && !slices.Contains(members, c.user)) {
			continue
		}
		c.enqueueLocked(data)
	}
	s.deliverLocked(data, members)
}

// conversationJSONLocked renders a conversation object for a viewer
// (https://api.slack.com/types/conversation).
func (s *Server) conversationJSONLocked(conv *conversation, viewer string) conversationJSON {
	j := conversationJSON{
		ID:         conv.ID,
		Created:    conv.Created,
		Creator:    conv.Creator,
		IsArchived: conv.Archived,
		IsGeneral:  conv.General,
		IsMember:   slices.Contains(conv.Members, viewer),
	}
	switch conv.Kind {
	case PublicChannel:
		j.IsChannel = true
	case PrivateChannel:
		j.IsChannel, j.IsGroup, j.IsPrivate = true, true, true
	case IM:
		j.IsIM, j.IsPrivate = true, true
		for _, m := range conv.Members {
			if m != viewer {
				j.User = m
			}
		}
		if j.User == "" && len(conv.Members) > 0 {
			j.User = conv.Members[0] // a DM with oneself
		}
		return j
	case MPIM:
		j.IsMpIM, j.IsGroup, j.IsPrivate = true, true, true
	}
	j.Name = conv.Name
	j.Topic = &Topic{Value: conv.Topic, Creator: conv.Creator, LastSet: conv.Created}
	j.Purpose = &Topic{Value: conv.Purpose, Creator: conv.Creator, LastSet: conv.Created}
	j.NumMembers = len(conv.Members)
	return j
}

// visibleLocked says whether a user may see a conversation: public
// channels to everyone, the rest to members only (Slack answers
// channel_not_found otherwise).
func (s *Server) visibleLocked(conv *conversation, user string) bool {
	return conv.Kind == PublicChannel || slices.Contains(conv.Members, user)
}
