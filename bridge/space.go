package bridge

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Spaces (bridge.spaces): every login gets a Matrix space of its own (a
// Slack workspace, a Gitter account, an IRC network), holding the portals
// its user is in. The space is per user, not shared, because DM portals
// are per receiver and a shared space would list everyone's.

// SpaceDescriber (on a Session) names and pictures its login's space: a
// Slack workspace's name and icon. Without it the space is named after the
// network and the login. Only Name, Topic, AvatarID and AvatarURL are read.
type SpaceDescriber interface {
	Session
	DescribeSpace(ctx context.Context) (*ChatInfo, error)
}

// addToSpace puts a portal into the space of the user's login that reaches
// it, creating the space on first use. It is best effort: a failure is
// logged and costs neither the portal nor the event that brought it.
func (br *Bridge) addToSpace(ctx context.Context, user id.UserID, p *Portal) {
	if !br.Config.Bridge.Spaces || p.MXID == "" {
		return
	}
	e := br.sessionFor(user, p.Key)
	if e == nil {
		return
	}
	if err := br.addToLoginSpace(ctx, e, p.MXID); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("user_id", user.String()).Str("room_id", p.MXID.String()).Msg("Failed to add portal to the user's space")
	}
}

func (br *Bridge) addToLoginSpace(ctx context.Context, e *sessionEntry, room id.RoomID) error {
	unlock := br.spaceLocks.lock(PortalKey{Network: e.login.Network, Chat: ChatID(e.login.ID), Receiver: string(e.login.User)})
	defer unlock()
	space, err := br.loginSpace(ctx, e)
	if err != nil {
		return err
	}
	done, err := br.store.hasSpaceChild(ctx, space, room)
	if err != nil || done {
		return err
	}
	via := []string{br.Config.Homeserver.Domain}
	if _, err := br.AS.BotIntent().SendStateEvent(ctx, space, event.StateSpaceChild, room.String(), &event.SpaceChildEventContent{Via: via}); err != nil {
		return fmt.Errorf("add %s to space %s: %w", room, space, err)
	}
	return br.store.addSpaceChild(ctx, space, room)
}

// loginSpace returns the login's space room, creating it and inviting the
// user (joining them with their double puppet when they have one).
func (br *Bridge) loginSpace(ctx context.Context, e *sessionEntry) (id.RoomID, error) {
	l := e.login
	room, err := br.store.spaceRoom(ctx, l)
	if err != nil || room != "" {
		return room, err
	}
	if err := br.ensureBot(ctx); err != nil {
		return "", err
	}
	info := br.describeSpace(ctx, e)
	bot := br.AS.BotIntent()
	// The avatar goes into the room's initial state, so the space the user
	// is invited to already has its picture.
	var initial []*event.Event
	if info.AvatarID != "" {
		if uri, err := br.uploadAvatar(ctx, l.Network, info); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to fetch the space's avatar")
		} else {
			initial = append(initial, &event.Event{Type: event.StateRoomAvatar, StateKey: ptr(""),
				Content: event.Content{Parsed: &event.RoomAvatarEventContent{URL: uri.CUString()}}})
		}
	}
	resp, err := bot.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		InitialState:    initial,
		Name:            *info.Name,
		Topic:           *info.Topic,
		Preset:          "private_chat",
		Invite:          []id.UserID{l.User},
		CreationContent: map[string]any{"type": event.RoomTypeSpace, "m.federate": br.Config.Bridge.Portal.Federate},
		PowerLevelOverride: &event.PowerLevelsEventContent{
			Users: map[id.UserID]int{bot.UserID: 100},
			// Only the bot adds and removes the portals.
			Events:          map[string]int{event.StateSpaceChild.Type: 100},
			StateDefaultPtr: ptr(50),
		},
	})
	if err != nil {
		return "", fmt.Errorf("create space for %s on %s: %w", l.User, l.Network, err)
	}
	if err := br.store.setSpaceRoom(ctx, l, resp.RoomID); err != nil {
		return "", err
	}
	if dp, err := br.doublePuppets.Intent(ctx, l.User); err == nil && dp != nil {
		if _, err := dp.JoinRoomByID(ctx, resp.RoomID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Double puppet could not join the space; the invite stands")
		}
	}
	zerolog.Ctx(ctx).Info().Str("room_id", resp.RoomID.String()).Str("user_id", l.User.String()).Msg("Created space for login")
	return resp.RoomID, nil
}

func (br *Bridge) describeSpace(ctx context.Context, e *sessionEntry) *ChatInfo {
	name := br.networks[e.login.Network].info.DisplayName
	if e.login.RemoteName != "" {
		name += " (" + e.login.RemoteName + ")"
	}
	topic := fmt.Sprintf("Your %s rooms, bridged by %s", name, br.AS.BotMXID())
	info := &ChatInfo{Name: &name, Topic: &topic}
	if d, ok := e.sess.(SpaceDescriber); ok {
		got, err := d.DescribeSpace(ctx)
		if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to describe the login's space; using the network's name")
			return info
		}
		if got.Name != nil && *got.Name != "" {
			info.Name = got.Name
		}
		if got.Topic != nil {
			info.Topic = got.Topic
		}
		info.AvatarID, info.AvatarURL = got.AvatarID, got.AvatarURL
	}
	return info
}

// removeFromSpaces takes an unbridged room out of every space that lists
// it; an empty m.space.child removes the child.
func (br *Bridge) removeFromSpaces(ctx context.Context, room id.RoomID) {
	spaces, err := br.store.spacesWithChild(ctx, room)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to list spaces of an unbridged room")
		return
	}
	for _, space := range spaces {
		if _, err := br.AS.BotIntent().SendStateEvent(ctx, space, event.StateSpaceChild, room.String(), map[string]any{}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("space", space.String()).Msg("Failed to remove room from space")
			continue
		}
		if err := br.store.removeSpaceChild(ctx, space, room); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to forget space child")
		}
	}
}

func (s *store) spaceRoom(ctx context.Context, l *Login) (id.RoomID, error) {
	var room id.RoomID
	err := s.db.QueryRow(ctx, `SELECT room_id FROM space WHERE user_mxid=$1 AND network=$2 AND login_id=$3`, l.User, l.Network, l.ID).Scan(&room)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("get space of %s on %s: %w", l.User, l.Network, err)
	}
	return room, nil
}

func (s *store) setSpaceRoom(ctx context.Context, l *Login, room id.RoomID) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO space (user_mxid, network, login_id, room_id) VALUES ($1,$2,$3,$4)`,
		l.User, l.Network, l.ID, room); err != nil {
		return fmt.Errorf("save space of %s on %s: %w", l.User, l.Network, err)
	}
	return nil
}

func (s *store) hasSpaceChild(ctx context.Context, space, child id.RoomID) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM space_child WHERE space_room=$1 AND child_room=$2`, space, child).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up space child: %w", err)
	}
	return n > 0, nil
}

func (s *store) addSpaceChild(ctx context.Context, space, child id.RoomID) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO space_child (space_room, child_room) VALUES ($1,$2) ON CONFLICT DO NOTHING`, space, child); err != nil {
		return fmt.Errorf("save space child: %w", err)
	}
	return nil
}

func (s *store) removeSpaceChild(ctx context.Context, space, child id.RoomID) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM space_child WHERE space_room=$1 AND child_room=$2`, space, child); err != nil {
		return fmt.Errorf("forget space child: %w", err)
	}
	return nil
}

func (s *store) spacesWithChild(ctx context.Context, child id.RoomID) ([]id.RoomID, error) {
	rows, err := s.db.Query(ctx, `SELECT space_room FROM space_child WHERE child_room=$1`, child)
	if err != nil {
		return nil, fmt.Errorf("list spaces of %s: %w", child, err)
	}
	defer rows.Close()
	var out []id.RoomID
	for rows.Next() {
		var r id.RoomID
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
