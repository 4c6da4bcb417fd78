package irc

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// matrixView reads the Matrix state the core has no call for: who is in a
// portal, and what a replied-to message said. It only reads.
type matrixView interface {
	// RoomMembers returns the joined people of a room (no ghosts, no bot)
	// with their display names, from the bridge's state cache.
	RoomMembers(ctx context.Context, room id.RoomID) (map[id.UserID]string, error)
	// JoinedGhosts returns which of the namer's ghosts are in a room.
	JoinedGhosts(ctx context.Context, room id.RoomID, ghosts *puppet.Namer) (map[id.UserID]bool, error)
	// EventText returns an event's plain text, for reply quotes.
	EventText(ctx context.Context, room id.RoomID, evt id.EventID) (string, error)
}

// asView implements matrixView over the bridge's appservice: members from
// mautrix's state store (fed by every event the homeserver sends), texts
// through the bot.
type asView struct {
	br      *bridge.Bridge
	bridged []*regexp.Regexp // the registration's user namespaces
	bot     id.UserID
}

// memberLister is the part of mautrix's SQL state store we read.
type memberLister interface {
	GetRoomMembers(ctx context.Context, roomID id.RoomID, memberships ...event.Membership) (map[id.UserID]*event.MemberEventContent, error)
}

func newASView(br *bridge.Bridge) (*asView, error) {
	v := &asView{br: br, bot: br.AS.BotMXID()}
	for _, ns := range br.Registration().Namespaces.UserIDs {
		re, err := regexp.Compile(ns.Regex)
		if err != nil {
			return nil, fmt.Errorf("user namespace %q: %w", ns.Regex, err)
		}
		v.bridged = append(v.bridged, re)
	}
	if _, ok := br.AS.StateStore.(memberLister); !ok {
		return nil, fmt.Errorf("irc: the state store cannot list room members")
	}
	return v, nil
}

func (v *asView) RoomMembers(ctx context.Context, room id.RoomID) (map[id.UserID]string, error) {
	members, err := v.br.AS.StateStore.(memberLister).GetRoomMembers(ctx, room, event.MembershipJoin)
	if err != nil {
		return nil, fmt.Errorf("read members of %s: %w", room, err)
	}
	out := make(map[id.UserID]string, len(members))
	for user, m := range members {
		if user == v.bot || v.isBridged(user) {
			continue
		}
		name := ""
		if m != nil {
			name = m.Displayname
		}
		out[user] = name
	}
	return out, nil
}

func (v *asView) JoinedGhosts(ctx context.Context, room id.RoomID, ghosts *puppet.Namer) (map[id.UserID]bool, error) {
	members, err := v.br.AS.StateStore.(memberLister).GetRoomMembers(ctx, room, event.MembershipJoin)
	if err != nil {
		return nil, fmt.Errorf("read members of %s: %w", room, err)
	}
	out := map[id.UserID]bool{}
	for user := range members {
		if _, ok := ghosts.RemoteID(user); ok {
			out[user] = true
		}
	}
	return out, nil
}

func (v *asView) isBridged(user id.UserID) bool {
	for _, re := range v.bridged {
		if re.MatchString(string(user)) {
			return true
		}
	}
	return false
}

func (v *asView) EventText(ctx context.Context, room id.RoomID, evtID id.EventID) (string, error) {
	evt, err := v.br.AS.BotIntent().GetEvent(ctx, room, evtID)
	if err != nil {
		return "", err
	}
	_ = evt.Content.ParseRaw(evt.Type)
	if m := evt.Content.AsMessage(); m != nil {
		m.RemoveReplyFallback()
		return m.Body, nil
	}
	return "", nil
}

// watchMatrix follows who is in each portal, joining and parting puppets
// as Matrix users come and go, and renaming them with their display name.
//
// The core tells sessions about membership, but only users who logged in
// have a session; everyone else's puppet is the adapter's own, so the
// adapter reads membership from the bridge's state cache instead.
func (n *Network) watchMatrix(ctx context.Context) {
	defer n.wg.Done()
	prev := map[id.RoomID]map[id.UserID]string{}
	t := time.NewTicker(n.cfg.Membership.MatrixPoll.D())
	defer t.Stop()
	for {
		n.syncMatrixMembers(ctx, prev)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (n *Network) syncMatrixMembers(ctx context.Context, prev map[id.RoomID]map[id.UserID]string) {
	portals, err := n.core.Portals(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn().Err(err).Msg("Failed to list portals")
		}
		return
	}
	seen := map[id.RoomID]bool{}
	for _, p := range portals {
		if p.Key.Network != n.id || p.Key.Receiver != "" || p.MXID == "" {
			continue
		}
		seen[p.MXID] = true
		now, err := n.mx.RoomMembers(ctx, p.MXID)
		if err != nil {
			n.log.Warn().Err(err).Str("room_id", p.MXID.String()).Msg("Failed to read portal members")
			continue
		}
		old := prev[p.MXID]
		channel := string(p.Key.Chat)
		// Sorted, so that puppets connect in a stable order.
		users := make([]id.UserID, 0, len(now))
		for u := range now {
			users = append(users, u)
		}
		sort.Slice(users, func(i, j int) bool { return users[i] < users[j] })
		for _, u := range users {
			name := now[u]
			was, known := old[u]
			switch {
			case !known:
				n.matrixJoined(ctx, u, name, channel)
			case was != name:
				if pp := n.existingPuppet(u); pp != nil {
					pp.setDisplayName(name)
				}
			}
		}
		for u := range old {
			if _, still := now[u]; !still {
				if pp := n.existingPuppet(u); pp != nil {
					pp.leaveChannel(channel, "left the Matrix room")
				}
			}
		}
		prev[p.MXID] = now
	}
	for room := range prev {
		if !seen[room] {
			delete(prev, room)
		}
	}
}

// matrixJoined gives a Matrix user who is in a portal a puppet in the
// channel: connected now when connect_on_join is set, else on their first
// message.
func (n *Network) matrixJoined(ctx context.Context, user id.UserID, name, channel string) {
	p, err := n.puppetFor(ctx, user)
	if err != nil {
		n.log.Debug().Err(err).Str("user_id", user.String()).Msg("No puppet for Matrix member")
		return
	}
	p.setDisplayName(name)
	p.enterChannel(channel, n.cfg.Puppets.ConnectOnJoin)
}
