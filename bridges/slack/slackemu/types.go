package slackemu

import (
	"encoding/json"
	"time"
)

// User is a workspace member, shaped like Slack's user object
// (https://api.slack.com/types/user). Only the fields the bridge reads are
// kept; JSON names are Slack's.
type User struct {
	ID       string      `json:"id"`
	TeamID   string      `json:"team_id"`
	Name     string      `json:"name"`
	Deleted  bool        `json:"deleted"`
	RealName string      `json:"real_name"`
	TZ       string      `json:"tz,omitempty"`
	IsBot    bool        `json:"is_bot"`
	IsAdmin  bool        `json:"is_admin"`
	Updated  int64       `json:"updated"`
	Profile  UserProfile `json:"profile"`
}

// UserProfile is the profile part of a user object
// (https://api.slack.com/types/user, "profile").
type UserProfile struct {
	DisplayName   string `json:"display_name"`
	RealName      string `json:"real_name"`
	Email         string `json:"email,omitempty"`
	StatusText    string `json:"status_text"`
	StatusEmoji   string `json:"status_emoji"`
	AvatarHash    string `json:"avatar_hash,omitempty"`
	Image72       string `json:"image_72,omitempty"`
	Image192      string `json:"image_192,omitempty"`
	ImageOriginal string `json:"image_original,omitempty"`
	Team          string `json:"team,omitempty"`
}

// ConversationKind is what Slack's is_channel/is_group/is_im/is_mpim flags
// say about a conversation.
type ConversationKind int

// The kinds of conversation (https://api.slack.com/types/conversation).
const (
	PublicChannel ConversationKind = iota
	PrivateChannel
	IM
	MPIM
)

// Conversation is a channel, private channel, DM or group DM. It is what a
// test sets up; the emulator renders it as Slack's conversation object.
type Conversation struct {
	ID       string
	Name     string
	Kind     ConversationKind
	Creator  string
	Created  int64
	Topic    string
	Purpose  string
	Archived bool
	General  bool
	// Members are user IDs. For an IM, the two people in it.
	Members []string
}

// Topic is the topic or purpose of a conversation object.
type Topic struct {
	Value   string `json:"value"`
	Creator string `json:"creator"`
	LastSet int64  `json:"last_set"`
}

// conversationJSON is Slack's conversation object
// (https://api.slack.com/types/conversation).
type conversationJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	IsChannel  bool   `json:"is_channel"`
	IsGroup    bool   `json:"is_group"`
	IsIM       bool   `json:"is_im"`
	IsMpIM     bool   `json:"is_mpim"`
	IsPrivate  bool   `json:"is_private"`
	Created    int64  `json:"created"`
	Creator    string `json:"creator,omitempty"`
	IsArchived bool   `json:"is_archived"`
	IsGeneral  bool   `json:"is_general"`
	IsMember   bool   `json:"is_member"`
	// User is the other person of an IM.
	User       string `json:"user,omitempty"`
	Topic      *Topic `json:"topic,omitempty"`
	Purpose    *Topic `json:"purpose,omitempty"`
	NumMembers int    `json:"num_members,omitempty"`
}

// Message is a stored message, shaped like Slack's message event
// (https://api.slack.com/events/message).
type Message struct {
	Type            string     `json:"type"`
	Subtype         string     `json:"subtype,omitempty"`
	Channel         string     `json:"channel,omitempty"`
	User            string     `json:"user,omitempty"`
	BotID           string     `json:"bot_id,omitempty"`
	Username        string     `json:"username,omitempty"`
	Icons           *Icons     `json:"icons,omitempty"`
	Text            string     `json:"text"`
	TS              string     `json:"ts"`
	ThreadTS        string     `json:"thread_ts,omitempty"`
	ReplyCount      int        `json:"reply_count,omitempty"`
	ReplyUsersCount int        `json:"reply_users_count,omitempty"`
	ReplyUsers      []string   `json:"reply_users,omitempty"`
	LatestReply     string     `json:"latest_reply,omitempty"`
	Team            string     `json:"team,omitempty"`
	Edited          *Edited    `json:"edited,omitempty"`
	Reactions       []Reaction `json:"reactions,omitempty"`
	Files           []File     `json:"files,omitempty"`
	Upload          bool       `json:"upload,omitempty"`
	Hidden          bool       `json:"hidden,omitempty"`
	ClientMsgID     string     `json:"client_msg_id,omitempty"`
	// Topic and Purpose are what a channel_topic or channel_purpose
	// message (and their group_ forms) set
	// (https://api.slack.com/events/message/channel_topic).
	Topic           string   `json:"topic,omitempty"`
	Purpose         string   `json:"purpose,omitempty"`
	PreviousMessage *Message `json:"previous_message,omitempty"`
	// Root is the thread's parent as it is now, on the event of a
	// thread_broadcast (https://api.slack.com/events/message/thread_broadcast).
	Root *Message `json:"root,omitempty"`
	// Blocks and Attachments are kept as given; the emulator never
	// interprets them (https://api.slack.com/reference/block-kit/blocks,
	// https://api.slack.com/reference/messaging/attachments).
	Blocks      json.RawMessage `json:"blocks,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
}

// broadcast says whether a thread reply is also in the channel: its
// subtype is thread_broadcast (the event carries no other flag for it).
func (m *Message) broadcast() bool { return m.Subtype == "thread_broadcast" }

// Icons are a bot message's custom icons (chat.postMessage icon_url).
type Icons struct {
	ImageURL string `json:"image_48,omitempty"`
	Emoji    string `json:"emoji,omitempty"`
}

// Edited marks an edited message (https://api.slack.com/events/message,
// "edited").
type Edited struct {
	User string `json:"user"`
	TS   string `json:"ts"`
}

// Reaction is one emoji on a message with who added it
// (https://api.slack.com/methods/reactions.get, "reactions").
type Reaction struct {
	Name  string   `json:"name"`
	Users []string `json:"users"`
	Count int      `json:"count"`
}

// File is Slack's file object (https://api.slack.com/types/file), trimmed
// to what the bridge reads.
type File struct {
	ID                 string `json:"id"`
	Created            int64  `json:"created"`
	Name               string `json:"name"`
	Title              string `json:"title"`
	Mimetype           string `json:"mimetype"`
	Filetype           string `json:"filetype"`
	User               string `json:"user"`
	Size               int    `json:"size"`
	URLPrivate         string `json:"url_private"`
	URLPrivateDownload string `json:"url_private_download"`
	Permalink          string `json:"permalink,omitempty"`
}

// Call is one Web API call as the emulator saw it, for tests to inspect.
// Params never include the token.
type Call struct {
	Method string
	User   string // whose token made the call; "" if auth failed or not checked
	Params map[string]string
	// Limited marks a call answered with HTTP 429 (see RateLimit), before
	// its token was looked at.
	Limited bool
	At      time.Time
}
