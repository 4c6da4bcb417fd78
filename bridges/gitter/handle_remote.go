package gitter

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gittermd"
)

// catchUp runs when a room's stream is open: it hands the core what was
// missed since the last position (afterId, a page at a time), or, for a
// room never seen, its recent history. Messages the stream delivers
// meanwhile wait in the connection and are dropped as repeats.
func (s *Session) catchUp(ctx context.Context, roomID string) error {
	last := s.lastSeen(roomID)
	if last == "" {
		if s.net.cfg.Backfill < 0 {
			return nil
		}
		msgs, err := s.client.Messages(ctx, roomID, gitterapi.MessageQuery{Limit: s.net.cfg.Backfill})
		if err != nil {
			return err
		}
		return s.handOver(ctx, roomID, msgs)
	}
	for {
		msgs, err := s.client.Messages(ctx, roomID, gitterapi.MessageQuery{AfterID: last, Limit: gitterapi.MaxMessageLimit})
		if err != nil {
			return err
		}
		if err := s.handOver(ctx, roomID, msgs); err != nil {
			return err
		}
		if len(msgs) < gitterapi.MaxMessageLimit {
			return nil
		}
		last = msgs[len(msgs)-1].ID
	}
}

func (s *Session) handOver(ctx context.Context, roomID string, msgs []gitterapi.Message) error {
	for i := range msgs {
		if err := s.onMessage(ctx, roomID, &msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// onMessage turns a message from the stream or from catching up into a
// remote event. A message newer than the position is new (in its current
// text: an edit before we saw it is no edit for Matrix); an older one with
// editedAt is an edit, or a deletion when its text is empty; anything
// else is a repeat.
func (s *Session) onMessage(ctx context.Context, roomID string, m *gitterapi.Message) error {
	r, ok := s.room(roomID)
	if !ok {
		return nil
	}
	if s.net.isRelayBot(m.FromUser.ID) {
		// What the relay bot posts is Matrix users' messages: the core
		// knows them already, and their edits come from Matrix too.
		if m.ID > s.lastSeen(roomID) {
			s.advance(roomID, m.ID)
		}
		return nil
	}
	s.net.rememberUser(m.FromUser)
	ev := &bridge.RemoteEvent{
		Portal:    s.portalKey(r),
		Sender:    s.sender(m.FromUser),
		Timestamp: m.Sent.Time,
	}
	last := s.lastSeen(roomID)
	switch {
	case m.ID > last:
		if m.Deleted() {
			s.advance(roomID, m.ID)
			return nil
		}
		ev.Kind = bridge.RemoteMessage
		ev.ID = bridge.MessageID(m.ID)
		ev.Content = s.content(m)
		ev.CreatePortal = true
	case !m.EditedAt.IsZero() && m.Deleted():
		ev.Kind = bridge.RemoteDelete
		ev.Target = bridge.MessageID(m.ID)
		ev.Timestamp = m.EditedAt.Time
	case !m.EditedAt.IsZero():
		ev.Kind = bridge.RemoteEdit
		ev.Target = bridge.MessageID(m.ID)
		// The edit's identity is the message and its edit time, so the
		// same revision seen twice (two streams, a replay) is one edit.
		ev.ID = bridge.MessageID(m.ID + "@" + m.EditedAt.UTC().Format("20060102T150405.000"))
		ev.Content = s.content(m)
		ev.Timestamp = m.EditedAt.Time
	default:
		return nil
	}
	if err := s.queue(ctx, ev); err != nil {
		return err
	}
	if ev.Kind == bridge.RemoteMessage {
		s.advance(roomID, m.ID)
	}
	return nil
}

// content converts a message's markdown, resolving mentions through the
// message's own mention list (screen name → Gitter user ID).
func (s *Session) content(m *gitterapi.Message) *bridge.Content {
	byName := map[string]string{}
	for _, mn := range m.Mentions {
		if mn.UserID != "" {
			byName[strings.ToLower(mn.ScreenName)] = mn.UserID
		}
	}
	conv := gittermd.ToMatrix(m.Text, func(name string) (gittermd.Pill, bool) {
		uid, ok := byName[strings.ToLower(name)]
		if !ok {
			return gittermd.Pill{}, false
		}
		return gittermd.Pill{MXID: s.net.ghostOrUser(uid), Name: name}, true
	})
	c := &bridge.Content{
		MsgType: event.MsgText, Body: conv.Body, HTML: conv.HTML,
		Mentions: conv.Mentions, MentionsRoom: mentionsAll(m),
	}
	if m.Status {
		c.MsgType = event.MsgEmote
	}
	if m.ParentID != "" {
		c.ThreadRoot = bridge.MessageID(m.ParentID)
	}
	return c
}

// allMention is Gitter's mention of everyone in a room, "@/all" (room
// admins may use it). The stored docs do not describe it; servers list it
// in mentions with userIds instead of a userId (see gitterapi.Mention), so
// both the text and the mention list are looked at.
var allMention = regexp.MustCompile(`(^|[^\w@/])@/all\b`)

func mentionsAll(m *gitterapi.Message) bool {
	for _, mn := range m.Mentions {
		if strings.EqualFold(strings.TrimPrefix(mn.ScreenName, "/"), "all") && mn.UserID == "" {
			return true
		}
	}
	return allMention.MatchString(m.Text)
}

func (s *Session) portalKey(r gitterapi.Room) bridge.PortalKey {
	k := bridge.PortalKey{Network: s.net.info.ID, Chat: bridge.ChatID(r.ID)}
	if r.OneToOne {
		k.Receiver = string(s.user.MXID)
	}
	return k
}

func profileOf(u gitterapi.User) *bridge.Profile {
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	avatar := u.AvatarURLMedium
	if avatar == "" {
		avatar = u.AvatarURLSmall
	}
	// The URL changes with the picture (Gitter versions it), so it is a
	// fine stable ID.
	return &bridge.Profile{Name: name, AvatarID: avatar, AvatarURL: avatar}
}

func (s *Session) sender(u gitterapi.User) bridge.Sender {
	return bridge.Sender{ID: bridge.RemoteUserID(u.ID), Matrix: s.net.matrixUserOf(u.ID), Profile: profileOf(u)}
}

func (s *Session) chatInfo(r gitterapi.Room, members []gitterapi.User) *bridge.ChatInfo {
	members = s.net.withoutRelayBot(members)
	info := chatInfo(r, members)
	info.Invite = []id.UserID{s.user.MXID}
	for i, m := range members {
		s.net.rememberUser(m)
		info.Members[i].Matrix = s.net.matrixUserOf(m.ID)
	}
	return info
}

// chatInfo describes a room; members nil means "not known" (big rooms),
// which the core takes as "leave the member list alone".
func chatInfo(r gitterapi.Room, members []gitterapi.User) *bridge.ChatInfo {
	name, topic := r.Name, r.Topic
	info := &bridge.ChatInfo{Topic: &topic, IsDM: r.OneToOne}
	if !r.OneToOne {
		// A DM portal is named by its ghost; group rooms by their URI.
		info.Name = &name
	}
	if members != nil {
		info.Members = make([]bridge.Sender, 0, len(members))
		info.PowerLevels = map[bridge.RemoteUserID]int{}
		for _, m := range members {
			info.Members = append(info.Members, bridge.Sender{ID: bridge.RemoteUserID(m.ID), Profile: profileOf(m)})
			if m.Role == "admin" {
				info.PowerLevels[bridge.RemoteUserID(m.ID)] = 50
			}
		}
	}
	return info
}

// runFaye keeps one Faye connection: the user's room list, and presence
// and members of each room.
func (s *Session) runFaye(ctx context.Context) error {
	faye, err := s.client.DialFaye(ctx)
	if err != nil {
		return err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- faye.Run(ctx, func(ch string, data json.RawMessage) { s.onFaye(ctx, ch, data) }) }()
	if err := faye.Subscribe(ctx, gitterapi.UserRoomsChannel(s.me.ID)); err != nil {
		faye.Close()
		<-runErr
		return err
	}
	s.mu.Lock()
	s.faye = faye
	ids := make([]string, 0, len(s.rooms))
	for id := range s.rooms {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, roomID := range ids {
		s.subscribeRoom(ctx, faye, roomID)
	}
	err = <-runErr
	s.mu.Lock()
	if s.faye == faye {
		s.faye = nil
	}
	s.mu.Unlock()
	return err
}

func (s *Session) subscribeRoom(ctx context.Context, faye *gitterapi.FayeConn, roomID string) {
	for _, ch := range []string{gitterapi.RoomChannel(roomID), gitterapi.RoomUsersChannel(roomID)} {
		if err := faye.Subscribe(ctx, ch); err != nil && ctx.Err() == nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("channel", ch).Msg("Faye subscription failed")
		}
	}
}

// onFaye dispatches one realtime event. It runs on the Faye reader and may
// block on the core's backlog, which slows Faye down instead of dropping.
func (s *Session) onFaye(ctx context.Context, channel string, data json.RawMessage) {
	var ev gitterapi.FayeEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("channel", channel).Msg("Undecodable Faye event")
		return
	}
	var err error
	switch {
	case channel == gitterapi.UserRoomsChannel(s.me.ID):
		err = s.onRoomListChange(ctx, ev)
	case strings.HasSuffix(channel, "/users"):
		roomID := strings.TrimSuffix(strings.TrimPrefix(channel, "/api/v1/rooms/"), "/users")
		err = s.onMemberChange(ctx, roomID, ev)
	case ev.Notification == "presence":
		roomID := strings.TrimPrefix(channel, "/api/v1/rooms/")
		err = s.onPresence(ctx, roomID, ev)
	}
	if err != nil && ctx.Err() == nil {
		zerolog.Ctx(ctx).Err(err).Str("channel", channel).Str("operation", ev.Operation).Msg("Failed to handle Faye event")
	}
}

// onRoomListChange follows the user's rooms: joined on Gitter → new
// portal; left → the user leaves the portal; changed → name and topic.
func (s *Session) onRoomListChange(ctx context.Context, ev gitterapi.FayeEvent) error {
	var r gitterapi.Room
	if err := json.Unmarshal(ev.Model, &r); err != nil || r.ID == "" {
		return err
	}
	switch ev.Operation {
	case gitterapi.OpCreate:
		return s.addRoom(ctx, r)
	case gitterapi.OpRemove:
		old, ok := s.dropRoom(r.ID)
		if !ok {
			return nil
		}
		return s.queue(ctx, &bridge.RemoteEvent{
			Kind:   bridge.RemoteLeave,
			Portal: s.portalKey(old),
			Sender: s.sender(s.me),
			Member: &bridge.Member{ID: bridge.RemoteUserID(s.me.ID), Matrix: s.user.MXID},
		})
	case gitterapi.OpUpdate, gitterapi.OpPatch:
		return s.onRoomChange(ctx, r, ev.Model)
	}
	return nil
}

// onRoomChange applies an update (the whole room) or a patch (only the
// fields that changed, as gitterHQ/realtime-client's live collections
// apply them) of one of the user's rooms: a new name or topic updates the
// portal, and no unread items left means the user read the room on Gitter,
// which becomes their read marker in Matrix.
func (s *Session) onRoomChange(ctx context.Context, r gitterapi.Room, model json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(model, &fields); err != nil {
		return err
	}
	s.mu.Lock()
	rs, ok := s.rooms[r.ID]
	if !ok {
		s.mu.Unlock()
		return nil
	}
	old := rs.room
	changed := false
	if _, ok := fields["name"]; ok && r.Name != "" && r.Name != old.Name {
		rs.room.Name, changed = r.Name, true
	}
	if _, ok := fields["topic"]; ok && r.Topic != old.Topic {
		rs.room.Topic, changed = r.Topic, true
	}
	now := rs.room
	s.mu.Unlock()
	if changed {
		if err := s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: s.portalKey(now), ChatInfo: chatInfo(now, nil)}); err != nil {
			return err
		}
	}
	if _, ok := fields["unreadItems"]; !ok || r.UnreadItems != 0 {
		return nil
	}
	upTo, ok := s.readUpTo(r.ID, "", true)
	if !ok {
		return nil
	}
	return s.queue(ctx, &bridge.RemoteEvent{
		Kind:      bridge.RemoteReadMarker,
		Portal:    s.portalKey(now),
		Sender:    bridge.Sender{ID: bridge.RemoteUserID(s.me.ID), Matrix: s.user.MXID},
		Target:    bridge.MessageID(upTo),
		Timestamp: time.Now(),
	})
}

func (s *Session) onMemberChange(ctx context.Context, roomID string, ev gitterapi.FayeEvent) error {
	r, ok := s.room(roomID)
	if !ok {
		return nil
	}
	var u gitterapi.User
	if err := json.Unmarshal(ev.Model, &u); err != nil || u.ID == "" || u.ID == s.me.ID || s.net.isRelayBot(u.ID) {
		// Our own joins and leaves come through the room list; the
		// relay bot has no ghost.
		return err
	}
	s.net.rememberUser(u)
	out := &bridge.RemoteEvent{Portal: s.portalKey(r), Sender: s.sender(u)}
	switch ev.Operation {
	case gitterapi.OpCreate:
		out.Kind = bridge.RemoteJoin
	case gitterapi.OpRemove:
		out.Kind = bridge.RemoteLeave
		out.Member = &bridge.Member{ID: out.Sender.ID, Matrix: out.Sender.Matrix}
	default:
		return nil
	}
	return s.queue(ctx, out)
}

// onPresence maps the docs' "in"/"out" to online/offline (08.Presence.md).
func (s *Session) onPresence(ctx context.Context, roomID string, ev gitterapi.FayeEvent) error {
	r, ok := s.room(roomID)
	if !ok || ev.UserID == "" || ev.UserID == s.me.ID || s.net.isRelayBot(ev.UserID) {
		return nil
	}
	state := event.PresenceOffline
	if ev.Status == "in" {
		state = event.PresenceOnline
	}
	return s.queue(ctx, &bridge.RemoteEvent{
		Kind:     bridge.RemotePresence,
		Portal:   s.portalKey(r),
		Sender:   bridge.Sender{ID: bridge.RemoteUserID(ev.UserID)},
		Presence: &bridge.Presence{State: state},
	})
}
