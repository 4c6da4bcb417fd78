package bridge

import (
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// RemoteEventKind says what happened on the remote side.
type RemoteEventKind string

const (
	RemoteMessage        RemoteEventKind = "message"
	RemoteEdit           RemoteEventKind = "edit"
	RemoteDelete         RemoteEventKind = "delete"
	RemoteReaction       RemoteEventKind = "reaction"
	RemoteReactionRemove RemoteEventKind = "reaction_remove"
	RemoteJoin           RemoteEventKind = "join"
	RemoteLeave          RemoteEventKind = "leave"
	RemoteKick           RemoteEventKind = "kick"
	RemoteBan            RemoteEventKind = "ban"
	RemoteProfile        RemoteEventKind = "profile" // name/avatar change of Sender
	RemotePresence       RemoteEventKind = "presence"
	RemoteTyping         RemoteEventKind = "typing"
	RemoteChatInfo       RemoteEventKind = "chat_info" // name, topic, avatar, member list
	RemoteReadMarker     RemoteEventKind = "read_marker"
	// RemoteChatMove says a chat is now known by another ID (NewChat), and
	// its portal room goes on standing for it: an IRC DM whose partner
	// changed nick, where the person and the conversation stay the same.
	// Portal is the key it had. Sender, when set, is who is in the chat now
	// (their ghost joins, with their profile); Member, when set, is who was
	// (their ghost leaves, with Member.Reason). ChatInfo, when set, is then
	// applied (the new name of a DM named after the person).
	//
	// Events for the new key queued after the move are handled after it,
	// and GetPortal answers for the new key from the moment it is queued,
	// so the adapter can treat the chat as existing at once. When the new
	// key already has a room, nothing is merged: both rooms stay, and the
	// old one gets a notice saying who the person is now known as. A move
	// of a chat without a portal does nothing.
	RemoteChatMove RemoteEventKind = "chat_move"
)

// ephemeral kinds are not journaled: losing one in a crash is harmless and
// they are too frequent to pay a database write for.
func (k RemoteEventKind) ephemeral() bool {
	return k == RemotePresence || k == RemoteTyping
}

// Sender is who did something on the remote side.
type Sender struct {
	ID RemoteUserID `json:"id"`
	// Matrix is set when the remote user is a logged-in Matrix user's own
	// account: the core then acts through their double puppet if they have
	// one, and through their ghost otherwise.
	Matrix id.UserID `json:"matrix,omitempty"`
	// Profile, when set, is synced to the ghost before the event is sent.
	Profile *Profile `json:"profile,omitempty"`
}

// Profile is a remote user's public profile.
type Profile struct {
	Name string `json:"name"`
	// AvatarID is a stable ID of the avatar image ("" = no avatar); the core
	// re-uploads only when it changes.
	AvatarID string `json:"avatar_id,omitempty"`
	// AvatarURL is fetched with a plain GET unless the network implements
	// AvatarFetcher.
	AvatarURL string `json:"avatar_url,omitempty"`
}

// Content is a message's content, already converted to Matrix formats by the
// adapter.
type Content struct {
	MsgType event.MessageType `json:"msgtype"`
	Body    string            `json:"body"`
	HTML    string            `json:"html,omitempty"`
	// ReplyTo and ThreadRoot are remote IDs the core maps to Matrix events.
	ReplyTo    MessageID `json:"reply_to,omitempty"`
	ThreadRoot MessageID `json:"thread_root,omitempty"`
	// Mentions are Matrix users the message mentions (m.mentions).
	Mentions []id.UserID `json:"mentions,omitempty"`
	// MentionsRoom is set for @room-style mentions (@here, @channel, @/all).
	MentionsRoom bool   `json:"mentions_room,omitempty"`
	Media        *Media `json:"media,omitempty"`
}

// Media is an attachment the core downloads and uploads to the media repo.
type Media struct {
	URL      string `json:"url"`
	Name     string `json:"name"`
	MimeType string `json:"mime_type,omitempty"`
	Size     int64  `json:"size,omitempty"`
}

// Member is the target of a membership event.
type Member struct {
	ID     RemoteUserID `json:"id"`
	Matrix id.UserID    `json:"matrix,omitempty"` // a logged-in user's own account
	Reason string       `json:"reason,omitempty"`
}

// Presence is a remote user's presence.
type Presence struct {
	State  event.Presence `json:"state"`
	Status string         `json:"status,omitempty"`
}

// ChatInfo describes a remote chat. Nil pointer fields mean "unchanged".
type ChatInfo struct {
	Name  *string `json:"name,omitempty"`
	Topic *string `json:"topic,omitempty"`
	// AvatarID names the chat's avatar ("" = unchanged); the image is
	// fetched from AvatarURL, or through AvatarFetcher, only when it changes.
	AvatarID  string `json:"avatar_id,omitempty"`
	AvatarURL string `json:"avatar_url,omitempty"`
	IsDM      bool   `json:"is_dm,omitempty"`
	// Members, when not nil, is the whole member list: ghosts not in it leave.
	Members []Sender `json:"members,omitempty"`
	// Invite lists Matrix users with a session in this chat, invited when
	// the portal is created.
	Invite []id.UserID `json:"invite,omitempty"`
	// PowerLevels maps remote users to Matrix power levels (ops → 50/100).
	PowerLevels map[RemoteUserID]int `json:"power_levels,omitempty"`
	// MatrixPowerLevels gives Matrix users the level of their remote
	// rank (a user whose IRC puppet is a channel op → 50). Room admins
	// (level 100, like the bot) are left as they are.
	MatrixPowerLevels map[id.UserID]int `json:"matrix_power_levels,omitempty"`
	// JoinRule, when set, is the room's join rule ("invite" for IRC +i/+k,
	// "public" otherwise).
	JoinRule event.JoinRule `json:"join_rule,omitempty"`
	// Listed, when set, says whether the room is in the room directory
	// (IRC -s).
	Listed *bool `json:"listed,omitempty"`
	// EventsDefault, when set, is the level needed to talk (IRC +m: voice).
	EventsDefault *int `json:"events_default,omitempty"`
}

// RemoteEvent is something that happened on the remote side, handed to the
// core by an adapter with Bridge.QueueRemoteEvent. Fields that do not apply
// to the Kind are left zero.
type RemoteEvent struct {
	Kind      RemoteEventKind `json:"kind"`
	Portal    PortalKey       `json:"portal"`
	Sender    Sender          `json:"sender"`
	ID        MessageID       `json:"id,omitempty"`     // the message (message, edit: the new revision's ID if any)
	Target    MessageID       `json:"target,omitempty"` // edit/delete/reaction: the message acted on
	Timestamp time.Time       `json:"ts"`
	Content   *Content        `json:"content,omitempty"`
	Reaction  string          `json:"reaction,omitempty"` // the key (an emoji or a name)
	Member    *Member         `json:"member,omitempty"`
	Presence  *Presence       `json:"presence,omitempty"`
	Typing    bool            `json:"typing,omitempty"`
	// TypingTimeout is how long typing lasts without a new event (networks
	// with no "stopped typing", like Slack); zero means 30 s.
	TypingTimeout time.Duration `json:"typing_timeout,omitempty"`
	ChatInfo      *ChatInfo     `json:"chat_info,omitempty"`
	// NewChat is the chat's new ID (chat_move); the network and the
	// receiver stay those of Portal.
	NewChat ChatID `json:"new_chat,omitempty"`
	// CreatePortal allows this event to create the portal room when it does
	// not exist yet (messages and invites usually do; leaves never).
	CreatePortal bool `json:"create_portal,omitempty"`
}
