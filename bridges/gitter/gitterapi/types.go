package gitterapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Field names in this file follow gitterHQ/docs: the User schema in
// 05.User-resource.md, the Room schema in 03.Rooms-resource.md and
// 04.Rooms-resource.md, the Message schema in 04.Messages-resource.md and
// 05.Messages-resource.md. Fields the docs show in examples but do not list
// in a schema (role, security, user on one-to-one rooms) are kept too.

// timeLayout is how the docs write dates: ISO 8601 in UTC with
// milliseconds, e.g. "2014-03-24T15:41:18.991Z".
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a Gitter timestamp. The API writes null for "never" (editedAt of
// a message that was not edited), which decodes to the zero Time; the zero
// Time encodes back to null.
type Time struct{ time.Time }

// MarshalJSON writes the documented ISO format, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON accepts null and any RFC 3339 time (with or without a
// fraction), since servers differ in how many digits they write.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("gitter time: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("gitter time %q: %w", s, err)
	}
	t.Time = parsed
	return nil
}

// User is a Gitter user (05.User-resource.md, "User schema").
type User struct {
	ID              string `json:"id"`
	Username        string `json:"username"`
	DisplayName     string `json:"displayName"`
	URL             string `json:"url"`
	AvatarURLSmall  string `json:"avatarUrlSmall,omitempty"`
	AvatarURLMedium string `json:"avatarUrlMedium,omitempty"`
	// Role appears on room member lists ("admin"), not in the schema.
	Role string `json:"role,omitempty"`
	V    int    `json:"v,omitempty"`
	// GV is the "Gravatar version", used for cache busting of the avatar.
	GV string `json:"gv,omitempty"`
}

// Room types, from the list at the top of 03.Rooms-resource.md.
const (
	RoomOrg         = "ORG"
	RoomRepo        = "REPO"
	RoomOneToOne    = "ONETOONE"
	RoomOrgChannel  = "ORG_CHANNEL"
	RoomRepoChannel = "REPO_CHANNEL"
	RoomUserChannel = "USER_CHANNEL"
)

// Room is a Gitter room (03.Rooms-resource.md, "Room schema").
type Room struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Topic string `json:"topic"`
	// URI is absent on one-to-one rooms in the docs' examples.
	URI      string `json:"uri,omitempty"`
	OneToOne bool   `json:"oneToOne"`
	// User is the other person of a one-to-one room.
	User           *User    `json:"user,omitempty"`
	Users          []User   `json:"users,omitempty"`
	UserCount      int      `json:"userCount,omitempty"`
	UnreadItems    int      `json:"unreadItems"`
	Mentions       int      `json:"mentions"`
	LastAccessTime Time     `json:"lastAccessTime"`
	Favourite      int      `json:"favourite,omitempty"`
	Lurk           bool     `json:"lurk"`
	URL            string   `json:"url"`
	GithubType     string   `json:"githubType"`
	Security       string   `json:"security,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	V              int      `json:"v,omitempty"`
}

// Mention is one @mention in a message: the screen name as written and the
// user it resolved to (04.Messages-resource.md example). Group mentions
// such as @/all carry UserIDs instead of UserID.
type Mention struct {
	ScreenName string   `json:"screenName"`
	UserID     string   `json:"userId,omitempty"`
	UserIDs    []string `json:"userIds,omitempty"`
}

// URLRef is one URL found in a message.
type URLRef struct {
	URL string `json:"url"`
}

// IssueRef is one #issue referenced in a message.
type IssueRef struct {
	Number string `json:"number"`
}

// Message is a chat message (04.Messages-resource.md, "Message schema";
// status is from 05.Messages-resource.md).
type Message struct {
	ID       string     `json:"id"`
	Text     string     `json:"text"`
	HTML     string     `json:"html"`
	Sent     Time       `json:"sent"`
	EditedAt Time       `json:"editedAt"`
	FromUser User       `json:"fromUser"`
	Unread   bool       `json:"unread"`
	ReadBy   int        `json:"readBy"`
	URLs     []URLRef   `json:"urls"`
	Mentions []Mention  `json:"mentions"`
	Issues   []IssueRef `json:"issues"`
	Meta     any        `json:"meta"`
	V        int        `json:"v"`
	GV       string     `json:"gv,omitempty"`
	// Status marks a status update, what /me sends (an emote).
	Status bool `json:"status,omitempty"`
	// ParentID is the thread root of a reply in a threaded conversation.
	// The stored docs predate threads; later servers send it, older ones
	// never do, so it is optional both ways.
	ParentID string `json:"parentId,omitempty"`
}

// Deleted reports whether the message stands for a deleted one: the v1 API
// has no deletion marker, a deleted message is one whose text was edited to
// nothing.
func (m *Message) Deleted() bool { return m.Text == "" }

// UnreadItems lists unread message IDs of one room for one user
// (05.User-resource.md, "Unread Items").
type UnreadItems struct {
	Chat    []string `json:"chat"`
	Mention []string `json:"mention"`
}
