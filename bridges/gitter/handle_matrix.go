package gitter

import (
	"context"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gittermd"
)

var (
	_ bridge.EditHandler        = (*Session)(nil)
	_ bridge.RedactionHandler   = (*Session)(nil)
	_ bridge.MembershipHandler  = (*Session)(nil)
	_ bridge.TopicHandler       = (*Session)(nil)
	_ bridge.PresenceHandler    = (*Session)(nil)
	_ bridge.ChatMember         = (*Session)(nil)
	_ bridge.DMStarter          = (*Session)(nil)
	_ bridge.ReadReceiptHandler = (*Session)(nil)
	_ bridge.LogoutHandler      = (*Session)(nil)
)

// apiErr sorts a Gitter error for the core: a refused token stops the
// session and, like refusals and missing rooms, is permanent (retrying
// cannot help); rate limits, 5xx and network errors are retried by the
// core with backoff.
func (s *Session) apiErr(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gitterapi.ErrUnauthorized) {
		s.revoke(ctx)
	}
	var apiErr *gitterapi.APIError
	if errors.As(err, &apiErr) && !apiErr.Temporary() {
		return fmt.Errorf("%w: %s: %w", bridge.ErrPermanent, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// text is a Matrix message as Gitter markdown: its HTML converted (pills to
// @username), else its body; reply fallbacks go, since Gitter has no
// replies to quote them for.
func (s *Session) text(content *event.MessageEventContent) string {
	return s.net.markdown(content)
}

func (n *Network) markdown(content *event.MessageEventContent) string {
	c := *content
	c.RemoveReplyFallback()
	formatted := ""
	if c.Format == event.FormatHTML {
		formatted = c.FormattedBody
	}
	return gittermd.ToGitter(c.Body, formatted, n.gitterName)
}

// HandleMatrixMessage posts a text, notice or emote (emotes as Gitter
// status messages). Gitter's v1 API has no uploads, so files are refused.
func (s *Session) HandleMatrixMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	nm := gitterapi.NewMessage{}
	switch msg.Content.MsgType {
	case event.MsgText, event.MsgNotice:
	case event.MsgEmote:
		nm.Status = true
	default:
		return nil, fmt.Errorf("%w: sending %s: %w", bridge.ErrPermanent, msg.Content.MsgType, bridge.ErrNotSupported)
	}
	nm.Text = s.text(msg.Content)
	if msg.ThreadRoot != nil {
		nm.ParentID = string(msg.ThreadRoot.RemoteID)
	}
	m, err := s.client.SendMessage(ctx, string(msg.Portal.Key.Chat), nm)
	if err != nil {
		return nil, s.apiErr(ctx, "send message", err)
	}
	return &bridge.MessageResult{ID: bridge.MessageID(m.ID), Timestamp: m.Sent.Time}, nil
}

// HandleMatrixEdit replaces the Gitter message's text (PUT chatMessages).
func (s *Session) HandleMatrixEdit(ctx context.Context, edit *bridge.MatrixEdit) error {
	content := edit.Content
	if content.NewContent != nil {
		content = content.NewContent
	}
	_, err := s.client.UpdateMessage(ctx, string(edit.Portal.Key.Chat), string(edit.Target.RemoteID), s.text(content))
	return s.apiErr(ctx, "edit message", err)
}

// HandleMatrixRedaction deletes the message the v1 way: its text emptied.
// Reactions do not exist on Gitter, so there is nothing else to delete.
func (s *Session) HandleMatrixRedaction(ctx context.Context, r *bridge.MatrixRedaction) error {
	if r.Target == nil || r.Target.Kind != "message" {
		return fmt.Errorf("%w: %w", bridge.ErrPermanent, bridge.ErrNotSupported)
	}
	return s.apiErr(ctx, "delete message", s.client.DeleteMessage(ctx, string(r.Portal.Key.Chat), string(r.Target.RemoteID)))
}

// HandleMatrixMembership mirrors the user's own joins and leaves of group
// portals; kicking Gitter users is not in the v1 API for us.
func (s *Session) HandleMatrixMembership(ctx context.Context, m *bridge.MatrixMembership) error {
	if m.Target != "" {
		return fmt.Errorf("%w: removing Gitter users: %w", bridge.ErrPermanent, bridge.ErrNotSupported)
	}
	if m.Portal.IsDM {
		return nil // one-to-one rooms cannot be joined or left
	}
	room := string(m.Portal.Key.Chat)
	switch m.Membership {
	case event.MembershipJoin:
		if s.InChat(m.Portal.Key.Chat) {
			return nil
		}
		r, err := s.client.JoinRoomByID(ctx, s.me.ID, room)
		if err != nil {
			return s.apiErr(ctx, "join room", err)
		}
		return s.addRoom(ctx, *r)
	case event.MembershipLeave:
		if !s.InChat(m.Portal.Key.Chat) {
			return nil
		}
		if err := s.client.LeaveRoom(ctx, room, s.me.ID); err != nil && !errors.Is(err, gitterapi.ErrNotFound) {
			return s.apiErr(ctx, "leave room", err)
		}
		s.dropRoom(room)
	}
	return nil
}

// HandleMatrixTopic sets the room topic (PUT /v1/rooms/:roomId); Gitter
// room names are their URIs and cannot change.
func (s *Session) HandleMatrixTopic(ctx context.Context, portal *bridge.Portal, _ *bridge.User, topic string) error {
	_, err := s.client.UpdateRoom(ctx, string(portal.Key.Chat), gitterapi.RoomUpdate{Topic: &topic})
	return s.apiErr(ctx, "set topic", err)
}

// HandleMatrixPresence tells Gitter whether the user is looking (the
// "eyeballs" signal of 08.Presence.md), through the session's Faye client.
func (s *Session) HandleMatrixPresence(ctx context.Context, presence event.Presence, _ string) error {
	s.mu.Lock()
	faye := s.faye
	s.mu.Unlock()
	if faye == nil {
		return nil // not connected: Gitter shows the user away anyway
	}
	return s.apiErr(ctx, "set presence", s.client.Eyeballs(ctx, faye.ClientID(), presence == event.PresenceOnline))
}

// GetChatInfo describes a room the session is in.
func (s *Session) GetChatInfo(ctx context.Context, chat bridge.ChatID) (*bridge.ChatInfo, error) {
	r, err := s.client.Room(ctx, string(chat))
	if err != nil {
		return nil, s.apiErr(ctx, "get room", err)
	}
	var members []gitterapi.User
	if r.UserCount <= s.net.cfg.MaxMemberSync {
		if members, err = s.client.AllRoomUsers(ctx, r.ID); err != nil {
			return nil, s.apiErr(ctx, "get members", err)
		}
	}
	return s.chatInfo(*r, members), nil
}

// StartDM finds or opens the one-to-one room with a Gitter user, for a
// Matrix user who invited their ghost to a new room. Joining a room by URI
// (POST /v1/rooms, 03.Rooms-resource.md "Join a room") opens the one-to-one
// room when the URI is a username: the stored docs leave that out, but
// gitterHQ/docs pull request 34 describes it and Gitteroid/GitterJavaSDK
// issue 41 relies on it. The v1 API cannot look a user up by ID, so the
// user must be one the bridge has seen (in a shared room or a message).
// The room is followed without a portal of its own: the core binds it to
// the room the user made as soon as this returns.
//
// A refusal is also told in the management room: the core puts it in the
// reason of the ghost's invite rejection, which some homeservers drop
// (Dendrite v0.13.8 does).
func (s *Session) StartDM(ctx context.Context, with bridge.RemoteUserID) (bridge.ChatID, error) {
	chat, err := s.startDM(ctx, with)
	if err != nil {
		who := string(with)
		if name, ok := s.net.username(who); ok {
			who = "@" + name
		}
		s.net.core.Notify(ctx, s.user.MXID, fmt.Sprintf("Could not open a Gitter chat with %s: %v", who, err))
	}
	return chat, err
}

func (s *Session) startDM(ctx context.Context, with bridge.RemoteUserID) (bridge.ChatID, error) {
	if chat, ok := s.oneToOneWith(string(with)); ok {
		return chat, nil
	}
	if string(with) == s.me.ID {
		return "", fmt.Errorf("%w: that is your own Gitter account", bridge.ErrNotSupported)
	}
	name, ok := s.net.username(string(with))
	if !ok {
		return "", fmt.Errorf("%w: the bridge has not seen that Gitter user's username, and Gitter cannot look users up by ID; "+
			"share a room with them, or start the chat on Gitter", bridge.ErrNotSupported)
	}
	s.mu.Lock()
	s.opening[string(with)]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.opening[string(with)]--; s.opening[string(with)] <= 0 {
			delete(s.opening, string(with))
		}
		s.mu.Unlock()
	}()
	r, err := s.client.JoinRoom(ctx, name)
	if errors.Is(err, gitterapi.ErrNotFound) {
		return "", fmt.Errorf("Gitter has no user @%s", name)
	} else if err != nil {
		return "", s.apiErr(ctx, "open a one-to-one room with @"+name, err)
	}
	if !r.OneToOne || r.User == nil || r.User.ID != string(with) {
		return "", fmt.Errorf("Gitter answered @%s with a room that is not a one-to-one room with them", name)
	}
	if err := s.followRoom(ctx, *r, false); err != nil {
		return "", err
	}
	return bridge.ChatID(r.ID), nil
}

func (s *Session) oneToOneWith(userID string) (bridge.ChatID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range s.rooms {
		if rs.room.OneToOne && rs.room.User != nil && rs.room.User.ID == userID {
			return bridge.ChatID(rs.room.ID), true
		}
	}
	return "", false
}

// HandleMatrixReadReceipt marks the room read on Gitter up to the message
// the user read in Matrix. Gitter marks messages one by one (POST
// unreadItems with their IDs, 05.User-resource.md "Mark Unread Items"),
// so the unread list is read first and the IDs up to that message sent.
func (s *Session) HandleMatrixReadReceipt(ctx context.Context, portal *bridge.Portal, upTo *bridge.Message) error {
	room := string(portal.Key.Chat)
	msgID, news := s.readUpTo(room, string(upTo.RemoteID), false)
	if !news {
		return nil
	}
	items, err := s.client.UnreadItems(ctx, s.me.ID, room)
	if err != nil {
		return s.apiErr(ctx, "list unread items", err)
	}
	var ids []string
	for _, id := range items.Chat {
		if id <= msgID {
			ids = append(ids, id)
		}
	}
	return s.apiErr(ctx, "mark read", s.client.MarkRead(ctx, s.me.ID, room, ids))
}

// LogoutRemote stops the session and forgets the login's stream positions.
// Gitter has no call to revoke a token (02.Authentication.md only hands
// them out), so the token is simply never used again.
func (s *Session) LogoutRemote(ctx context.Context) error {
	if err := s.Disconnect(ctx); err != nil {
		return err
	}
	return s.net.store.forget(ctx, s.user.MXID)
}
