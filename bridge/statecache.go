package bridge

import (
	"context"
	"slices"
	"sync"

	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// membershipCache keeps memberships in memory in front of the database
// state store. Intents ask "is this ghost in the room?" before every send,
// which would otherwise be a query per message. Writes go to the database
// first; reads that miss fall through to it.
type membershipCache struct {
	mauas.StateStore

	mu    sync.RWMutex
	rooms map[id.RoomID]map[id.UserID]event.Membership
}

func newMembershipCache(inner mauas.StateStore) *membershipCache {
	return &membershipCache{StateStore: inner, rooms: map[id.RoomID]map[id.UserID]event.Membership{}}
}

func (c *membershipCache) remember(room id.RoomID, user id.UserID, m event.Membership) {
	c.mu.Lock()
	defer c.mu.Unlock()
	members := c.rooms[room]
	if members == nil {
		members = map[id.UserID]event.Membership{}
		c.rooms[room] = members
	}
	members[user] = m
}

func (c *membershipCache) forgetRoom(room id.RoomID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rooms, room)
}

func (c *membershipCache) membership(ctx context.Context, room id.RoomID, user id.UserID) event.Membership {
	c.mu.RLock()
	m, ok := c.rooms[room][user]
	c.mu.RUnlock()
	if ok {
		return m
	}
	m, err := c.StateStore.(interface {
		GetMembership(context.Context, id.RoomID, id.UserID) (event.Membership, error)
	}).GetMembership(ctx, room, user)
	if err != nil {
		return event.MembershipLeave
	}
	c.remember(room, user, m)
	return m
}

func (c *membershipCache) IsInRoom(ctx context.Context, room id.RoomID, user id.UserID) bool {
	return c.membership(ctx, room, user) == event.MembershipJoin
}

func (c *membershipCache) IsInvited(ctx context.Context, room id.RoomID, user id.UserID) bool {
	m := c.membership(ctx, room, user)
	return m == event.MembershipJoin || m == event.MembershipInvite
}

func (c *membershipCache) IsMembership(ctx context.Context, room id.RoomID, user id.UserID, allowed ...event.Membership) bool {
	return slices.Contains(allowed, c.membership(ctx, room, user))
}

func (c *membershipCache) SetMembership(ctx context.Context, room id.RoomID, user id.UserID, m event.Membership) error {
	if err := c.StateStore.SetMembership(ctx, room, user, m); err != nil {
		c.forgetRoom(room)
		return err
	}
	c.remember(room, user, m)
	return nil
}

func (c *membershipCache) SetMember(ctx context.Context, room id.RoomID, user id.UserID, member *event.MemberEventContent) error {
	if err := c.StateStore.SetMember(ctx, room, user, member); err != nil {
		c.forgetRoom(room)
		return err
	}
	c.remember(room, user, member.Membership)
	return nil
}

func (c *membershipCache) ClearCachedMembers(ctx context.Context, room id.RoomID, memberships ...event.Membership) error {
	c.forgetRoom(room)
	return c.StateStore.ClearCachedMembers(ctx, room, memberships...)
}

func (c *membershipCache) ReplaceCachedMembers(ctx context.Context, room id.RoomID, evts []*event.Event, only ...event.Membership) error {
	c.forgetRoom(room)
	return c.StateStore.ReplaceCachedMembers(ctx, room, evts, only...)
}
