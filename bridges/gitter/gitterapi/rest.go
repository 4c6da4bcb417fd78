package gitterapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// CurrentUser returns the token's user. It asks GET /v1/user/me, which
// Gitter servers answer with one user, and falls back to the documented
// GET /v1/user (05.User-resource.md), which answers with a one-element
// array, for servers without the /me form.
func (c *Client) CurrentUser(ctx context.Context) (*User, error) {
	var me User
	err := c.call(ctx, http.MethodGet, pathOf("v1", "user", "me"), nil, nil, &me)
	if err == nil {
		return &me, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var users []User
	if err := c.call(ctx, http.MethodGet, pathOf("v1", "user"), nil, nil, &users); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("GET /v1/user: %w", ErrNotFound)
	}
	return &users[0], nil
}

// Rooms lists the rooms the token's user is in (GET /v1/rooms,
// 03.Rooms-resource.md "List rooms").
func (c *Client) Rooms(ctx context.Context) ([]Room, error) {
	var rooms []Room
	return rooms, c.call(ctx, http.MethodGet, pathOf("v1", "rooms"), nil, nil, &rooms)
}

// UserRooms lists the rooms of a user (GET /v1/user/:userId/rooms,
// 05.User-resource.md "Rooms").
func (c *Client) UserRooms(ctx context.Context, userID string) ([]Room, error) {
	var rooms []Room
	return rooms, c.call(ctx, http.MethodGet, pathOf("v1", "user", userID, "rooms"), nil, nil, &rooms)
}

// Room returns one room by ID (GET /v1/rooms/:roomId, the resource whose
// sub-resources 03.Rooms-resource.md documents).
func (c *Client) Room(ctx context.Context, roomID string) (*Room, error) {
	var room Room
	if err := c.call(ctx, http.MethodGet, pathOf("v1", "rooms", roomID), nil, nil, &room); err != nil {
		return nil, err
	}
	return &room, nil
}

// RoomUsers returns one page of a room's members (GET
// /v1/rooms/:roomId/users with skip and limit, 04.Rooms-resource.md; the
// server's default page is 30).
func (c *Client) RoomUsers(ctx context.Context, roomID string, skip, limit int) ([]User, error) {
	q := url.Values{}
	if skip > 0 {
		q.Set("skip", strconv.Itoa(skip))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var users []User
	return users, c.call(ctx, http.MethodGet, pathOf("v1", "rooms", roomID, "users"), q, nil, &users)
}

// memberPage is how many members AllRoomUsers asks for at once, and
// maxMemberPages bounds it so a misbehaving server cannot loop us forever.
const (
	memberPage     = 100
	maxMemberPages = 1000
)

// AllRoomUsers pages through a room's members until a short page.
func (c *Client) AllRoomUsers(ctx context.Context, roomID string) ([]User, error) {
	var all []User
	for page := 0; page < maxMemberPages; page++ {
		users, err := c.RoomUsers(ctx, roomID, len(all), memberPage)
		if err != nil {
			return nil, err
		}
		all = append(all, users...)
		if len(users) < memberPage {
			return all, nil
		}
	}
	return all, nil
}

// MessageQuery selects chat messages (04.Messages-resource.md, "List
// Messages"). Zero fields are left out.
type MessageQuery struct {
	BeforeID string
	AfterID  string
	AroundID string
	Skip     int
	// Limit is at most 100 (05.Messages-resource.md).
	Limit int
	Q     string
}

// MaxMessageLimit is the most messages one list call returns.
const MaxMessageLimit = 100

func (q MessageQuery) values() url.Values {
	v := url.Values{}
	if q.BeforeID != "" {
		v.Set("beforeId", q.BeforeID)
	}
	if q.AfterID != "" {
		v.Set("afterId", q.AfterID)
	}
	if q.AroundID != "" {
		v.Set("aroundId", q.AroundID)
	}
	if q.Skip > 0 {
		v.Set("skip", strconv.Itoa(q.Skip))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(min(q.Limit, MaxMessageLimit)))
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	return v
}

// Messages lists a room's messages, oldest first (GET
// /v1/rooms/:roomId/chatMessages).
func (c *Client) Messages(ctx context.Context, roomID string, q MessageQuery) ([]Message, error) {
	var msgs []Message
	return msgs, c.call(ctx, http.MethodGet, pathOf("v1", "rooms", roomID, "chatMessages"), q.values(), nil, &msgs)
}

// Message returns one message (GET /v1/rooms/:roomId/chatMessages/:id).
func (c *Client) Message(ctx context.Context, roomID, messageID string) (*Message, error) {
	var m Message
	if err := c.call(ctx, http.MethodGet, pathOf("v1", "rooms", roomID, "chatMessages", messageID), nil, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// NewMessage is what SendMessage posts (05.Messages-resource.md, "Send a
// Message").
type NewMessage struct {
	Text string `json:"text"`
	// Status sends a status update, what /me uses.
	Status bool `json:"status,omitempty"`
	// ParentID posts into a thread, on servers with threads.
	ParentID string `json:"parentId,omitempty"`
}

// SendMessage posts a message (POST /v1/rooms/:roomId/chatMessages).
func (c *Client) SendMessage(ctx context.Context, roomID string, m NewMessage) (*Message, error) {
	var out Message
	if err := c.call(ctx, http.MethodPost, pathOf("v1", "rooms", roomID, "chatMessages"), nil, m, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateMessage replaces a message's text (PUT
// /v1/rooms/:roomId/chatMessages/:chatMessageId, "Update a Message").
func (c *Client) UpdateMessage(ctx context.Context, roomID, messageID, text string) (*Message, error) {
	var out Message
	body := map[string]string{"text": text}
	if err := c.call(ctx, http.MethodPut, pathOf("v1", "rooms", roomID, "chatMessages", messageID), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteMessage deletes a message the way the v1 API represents deletion:
// its text is updated to nothing (the docs have no DELETE for messages).
func (c *Client) DeleteMessage(ctx context.Context, roomID, messageID string) error {
	_, err := c.UpdateMessage(ctx, roomID, messageID, "")
	return err
}

// JoinRoom joins (and so resolves) a room by its URI, e.g. "gitterhq/sandbox"
// (POST /v1/rooms with uri, 03.Rooms-resource.md "Join a room").
func (c *Client) JoinRoom(ctx context.Context, uri string) (*Room, error) {
	var room Room
	if err := c.call(ctx, http.MethodPost, pathOf("v1", "rooms"), nil, map[string]string{"uri": uri}, &room); err != nil {
		return nil, err
	}
	return &room, nil
}

// JoinRoomByID adds the user to a room known by ID (POST
// /v1/user/:userId/rooms with id), the join step the issue names after a
// room was resolved.
func (c *Client) JoinRoomByID(ctx context.Context, userID, roomID string) (*Room, error) {
	var room Room
	if err := c.call(ctx, http.MethodPost, pathOf("v1", "user", userID, "rooms"), nil, map[string]string{"id": roomID}, &room); err != nil {
		return nil, err
	}
	return &room, nil
}

// LeaveRoom removes a user from a room; with the token's own user it is
// leaving (DELETE /v1/rooms/:roomId/users/:userId, 04.Rooms-resource.md).
func (c *Client) LeaveRoom(ctx context.Context, roomID, userID string) error {
	return c.call(ctx, http.MethodDelete, pathOf("v1", "rooms", roomID, "users", userID), nil, nil, nil)
}

// RoomUpdate is what UpdateRoom changes (04.Rooms-resource.md, "Update
// room"); nil fields are left alone.
type RoomUpdate struct {
	Topic   *string `json:"topic,omitempty"`
	NoIndex *bool   `json:"noindex,omitempty"`
	Tags    *string `json:"tags,omitempty"`
}

// UpdateRoom changes a room's topic, indexing or tags (PUT /v1/rooms/:roomId).
func (c *Client) UpdateRoom(ctx context.Context, roomID string, u RoomUpdate) (*Room, error) {
	var room Room
	if err := c.call(ctx, http.MethodPut, pathOf("v1", "rooms", roomID), nil, u, &room); err != nil {
		return nil, err
	}
	return &room, nil
}

// UnreadItems lists a user's unread messages in a room (GET
// /v1/user/:userId/rooms/:roomId/unreadItems, 05.User-resource.md).
func (c *Client) UnreadItems(ctx context.Context, userID, roomID string) (*UnreadItems, error) {
	var items UnreadItems
	if err := c.call(ctx, http.MethodGet, pathOf("v1", "user", userID, "rooms", roomID, "unreadItems"), nil, nil, &items); err != nil {
		return nil, err
	}
	return &items, nil
}

// MarkRead marks messages read (POST
// /v1/user/:userId/rooms/:roomId/unreadItems with chat, "Mark Unread Items").
func (c *Client) MarkRead(ctx context.Context, userID, roomID string, messageIDs []string) error {
	if len(messageIDs) == 0 {
		return nil
	}
	body := map[string][]string{"chat": messageIDs}
	return c.call(ctx, http.MethodPost, pathOf("v1", "user", userID, "rooms", roomID, "unreadItems"), nil, body, nil)
}

// Eyeballs signals whether the user is looking at Gitter through the Faye
// client socketID (08.Presence.md, "Sending Notification Signals": a form
// POST with socketId and on=1|0). The docs' example passes the token in
// the query string; we send it in the header like every other call.
func (c *Client) Eyeballs(ctx context.Context, socketID string, on bool) error {
	v := url.Values{"socketId": {socketID}, "on": {"0"}}
	if on {
		v.Set("on", "1")
	}
	return c.send(ctx, http.MethodPost, pathOf("v1", "eyeballs"), nil, []byte(v.Encode()), "application/x-www-form-urlencoded", nil)
}
