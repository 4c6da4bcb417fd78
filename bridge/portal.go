package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Portal is a Matrix room that stands for one remote chat. Portals are
// rows in the database; this struct is a snapshot of one.
type Portal struct {
	Key      PortalKey
	MXID     id.RoomID // "" until the room is created
	Name     string
	Topic    string
	AvatarID string
	IsDM     bool
}

// portalLocks serialises creation of one portal's room, so two events for a
// new chat arriving together create one room, not two.
type portalLocks struct {
	mu    sync.Mutex
	locks map[PortalKey]*sync.Mutex
}

func (pl *portalLocks) lock(key PortalKey) func() {
	pl.mu.Lock()
	if pl.locks == nil {
		pl.locks = map[PortalKey]*sync.Mutex{}
	}
	l, ok := pl.locks[key]
	if !ok {
		l = &sync.Mutex{}
		pl.locks[key] = l
	}
	pl.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// GetPortal returns the portal of a remote chat, or nil when there is none.
// A portal a queued chat move is bringing to key is returned under key.
func (br *Bridge) GetPortal(ctx context.Context, key PortalKey) (*Portal, error) {
	p, err := br.store.portalByKey(ctx, key)
	if err != nil || (p != nil && p.MXID != "") {
		return p, err
	}
	if moving, err := br.movingPortal(ctx, key); err != nil || moving != nil {
		return moving, err
	}
	return p, nil
}

// PortalByRoom returns the portal of a Matrix room, or nil.
func (br *Bridge) PortalByRoom(ctx context.Context, room id.RoomID) (*Portal, error) {
	return br.store.portalByRoom(ctx, room)
}

// Portals lists every portal that has a room.
func (br *Bridge) Portals(ctx context.Context) ([]*Portal, error) {
	return br.store.portals(ctx)
}

// ensurePortalRoom returns the portal with its room, creating both when
// they do not exist. info may be nil; a ChatInfoGetter session of the
// receiver (or of any user) is asked then.
func (br *Bridge) ensurePortalRoom(ctx context.Context, key PortalKey, info *ChatInfo) (*Portal, error) {
	unlock := br.portalLocks.lock(key)
	defer unlock()
	p, err := br.store.portalByKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if p != nil && p.MXID != "" {
		return p, nil
	}
	if p == nil {
		p = &Portal{Key: key, IsDM: key.Receiver != ""}
	}
	if info == nil {
		info = br.fetchChatInfo(ctx, key)
	}
	if info != nil {
		if info.Name != nil {
			p.Name = *info.Name
		}
		if info.Topic != nil {
			p.Topic = *info.Topic
		}
		p.IsDM = p.IsDM || info.IsDM
	}
	room, err := br.createPortalRoom(ctx, p, info)
	if err != nil {
		return nil, err
	}
	p.MXID = room
	if err := br.store.upsertPortal(ctx, p); err != nil {
		return nil, err
	}
	if info != nil && info.AvatarID != "" {
		// A missing picture must not cost the portal.
		if err := br.setPortalAvatar(ctx, p, info); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to set portal avatar")
		}
	}
	zerolog.Ctx(ctx).Info().Str("room_id", room.String()).Str("portal", key.String()).Msg("Created portal room")
	if p.IsDM {
		br.addToSpace(ctx, id.UserID(key.Receiver), p)
	} else if info != nil {
		for _, u := range info.Invite {
			br.addToSpace(ctx, u, p)
		}
	}
	return p, nil
}

func (br *Bridge) fetchChatInfo(ctx context.Context, key PortalKey) *ChatInfo {
	for _, s := range br.sessionsForPortal(key, id.UserID(key.Receiver)) {
		if g, ok := s.sess.(ChatInfoGetter); ok {
			info, err := g.GetChatInfo(ctx, key.Chat)
			if err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to get chat info")
				continue
			}
			return info
		}
	}
	return nil
}

// bridgeInfo is the MSC2346 m.bridge / uk.half-shot.bridge content, which
// clients use to show which network a room is bridged to.
func (br *Bridge) bridgeInfo(p *Portal) (string, *event.BridgeEventContent) {
	ne := br.networks[p.Key.Network]
	info := ne.info
	content := &event.BridgeEventContent{
		BridgeBot: br.AS.BotMXID(),
		Protocol:  event.BridgeInfoSection{ID: info.Kind, DisplayName: info.DisplayName},
		Network:   &event.BridgeInfoSection{ID: string(info.ID), DisplayName: info.DisplayName},
		Channel:   event.BridgeInfoSection{ID: string(p.Key.Chat), DisplayName: p.Name},
	}
	stateKey := fmt.Sprintf("net.isthmus://%s/%s", info.ID, p.Key.Chat)
	return stateKey, content
}

func (br *Bridge) createPortalRoom(ctx context.Context, p *Portal, info *ChatInfo) (id.RoomID, error) {
	cfg := br.Config.Bridge.Portal
	bot := br.AS.BotIntent()
	if err := br.ensureBot(ctx); err != nil {
		return "", err
	}
	stateKey, binfo := br.bridgeInfo(p)
	history := event.HistoryVisibility(cfg.HistoryVisibility)
	if p.IsDM && history == event.HistoryVisibilityJoined {
		// The receiver is invited when the room is made and joins after the
		// first message: "invited" lets them read the message that started it.
		history = event.HistoryVisibilityInvited
	}
	joinRule := event.JoinRuleInvite
	if !p.IsDM && cfg.JoinRule == JoinPublic {
		joinRule = event.JoinRulePublic
	}
	pl := &event.PowerLevelsEventContent{
		Users:         map[id.UserID]int{bot.UserID: 100},
		EventsDefault: 0,
		// Moderators (remote ops) may change levels, so an IRC op can op
		// and voice from Matrix; what only admins may do stays at 100.
		Events: map[string]int{
			event.StatePowerLevels.Type:       50,
			event.StateHistoryVisibility.Type: 100,
			event.StateTombstone.Type:         100,
			event.StateServerACL.Type:         100,
			event.StateEncryption.Type:        100,
		},
		StateDefaultPtr: func() *int {
			v := 50
			return &v
		}(),
	}
	if info != nil {
		for remote, level := range info.PowerLevels {
			pl.Users[br.ghostMXID(p.Key.Network, remote)] = min(level, maxGhostLevel)
		}
		for user, level := range info.MatrixPowerLevels {
			pl.Users[user] = min(level, maxGhostLevel)
		}
	}
	req := &mautrix.ReqCreateRoom{
		Name:   p.Name,
		Topic:  p.Topic,
		Preset: "private_chat",
		InitialState: []*event.Event{
			{Type: event.StateBridge, StateKey: &stateKey, Content: event.Content{Parsed: binfo}},
			{Type: event.StateHalfShotBridge, StateKey: &stateKey, Content: event.Content{Parsed: binfo}},
			{Type: event.StateHistoryVisibility, StateKey: ptr(""), Content: event.Content{Parsed: &event.HistoryVisibilityEventContent{HistoryVisibility: history}}},
			{Type: event.StateJoinRules, StateKey: ptr(""), Content: event.Content{Parsed: &event.JoinRulesEventContent{JoinRule: joinRule}}},
		},
		PowerLevelOverride: pl,
		CreationContent:    map[string]any{"m.federate": cfg.Federate},
		IsDirect:           p.IsDM,
	}
	ne := br.networks[p.Key.Network]
	if !p.IsDM && ne.aliases != nil {
		if alias, err := ne.aliases.TryAlias(string(p.Key.Chat)); err == nil {
			req.RoomAliasName = strings.TrimPrefix(strings.TrimSuffix(alias.String(), ":"+br.Config.Homeserver.Domain), "#")
		}
	}
	var invites []id.UserID
	creator := bot
	if p.IsDM {
		invites = append(invites, id.UserID(p.Key.Receiver))
		// A DM is made by the person on the other end, so clients file and
		// name it after them, not after the bridge bot; the bot is invited
		// with equal power to keep the room bridged.
		if peer, ok := ctx.Value(dmPeerKey{}).(Sender); ok && peer.ID != "" {
			ghost, err := br.ghost(ctx, p.Key.Network, peer.ID, peer.Profile)
			if err != nil {
				return "", err
			}
			creator = ghost
			pl.Users[ghost.UserID] = 100
			invites = append(invites, bot.UserID)
		}
	} else if info != nil {
		invites = append(invites, info.Invite...)
	}
	req.Invite = invites
	resp, err := creator.CreateRoom(ctx, req)
	if err != nil && req.RoomAliasName != "" && isAliasInUse(err) {
		alias := id.NewRoomAlias(req.RoomAliasName, br.Config.Homeserver.Domain)
		if room, ok := br.orphanPortalRoom(ctx, alias, stateKey, p.Key.Chat); ok {
			zerolog.Ctx(ctx).Info().Str("room_id", room.String()).Msg("Adopting the room a crash left behind before it was saved as the portal")
			return room, nil
		}
		// A stale alias from an earlier portal: create without it, the
		// alias query path will not be able to reuse it either.
		req.RoomAliasName = ""
		resp, err = creator.CreateRoom(ctx, req)
	}
	if err != nil {
		return "", fmt.Errorf("create portal room for %s: %w", p.Key, err)
	}
	if creator != bot {
		_ = br.AS.StateStore.SetMembership(ctx, resp.RoomID, creator.UserID, event.MembershipJoin)
		if err := bot.EnsureJoined(ctx, resp.RoomID); err != nil {
			return "", fmt.Errorf("bot joins DM %s: %w", resp.RoomID, err)
		}
	}
	for _, u := range invites {
		if u == bot.UserID {
			continue
		}
		// Only "reject-invites" needs these rows: failing here must not
		// orphan the room just created.
		if err := br.store.addPendingInvite(ctx, resp.RoomID, u, creator.UserID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to record a pending invite")
		}
	}
	return resp.RoomID, nil
}

// orphanPortalRoom finds the room a crash left between creating a portal's
// room and saving it: the alias names a room whose bridge info, set by the
// bot at creation, is for this very chat and which no portal claims.
func (br *Bridge) orphanPortalRoom(ctx context.Context, alias id.RoomAlias, stateKey string, chat ChatID) (id.RoomID, bool) {
	bot := br.AS.BotIntent()
	resolved, err := bot.ResolveAlias(ctx, alias)
	if err != nil {
		return "", false
	}
	if other, err := br.store.portalByRoom(ctx, resolved.RoomID); err != nil || other != nil {
		return "", false
	}
	var info event.BridgeEventContent
	if err := bot.StateEvent(ctx, resolved.RoomID, event.StateBridge, stateKey, &info); err != nil {
		return "", false
	}
	return resolved.RoomID, info.BridgeBot == bot.UserID && info.Channel.ID == string(chat)
}

// dmPeerKey carries the remote person a new DM portal is with, so the room
// is created as their ghost.
type dmPeerKey struct{}

func isAliasInUse(err error) bool {
	return errors.Is(err, mautrix.MRoomInUse)
}

func ptr[T any](v T) *T { return &v }

// maxGhostLevel keeps ghosts below the bot (100), which could otherwise
// never demote a ghost made equal to it (an IRC founder, say).
const maxGhostLevel = 99

// setPortalAvatar uploads the chat's avatar and sets it on the room when its
// ID differs from the one last set.
func (br *Bridge) setPortalAvatar(ctx context.Context, p *Portal, info *ChatInfo) error {
	if info.AvatarID == "" || info.AvatarID == p.AvatarID {
		return nil
	}
	uri, err := br.uploadAvatar(ctx, p.Key.Network, info)
	if err != nil {
		return err
	}
	if _, err := br.AS.BotIntent().SetRoomAvatar(ctx, p.MXID, uri); err != nil {
		return fmt.Errorf("set chat avatar: %w", err)
	}
	p.AvatarID = info.AvatarID
	return br.store.upsertPortal(ctx, p)
}

// uploadAvatar fetches a chat's (or space's) avatar and uploads it as the
// bot.
func (br *Bridge) uploadAvatar(ctx context.Context, nid NetworkID, info *ChatInfo) (id.ContentURI, error) {
	fetch := br.avatarFetcher(nid, &Profile{AvatarID: info.AvatarID, AvatarURL: info.AvatarURL})
	data, mime, err := fetch(ctx)
	if err != nil {
		return id.ContentURI{}, fmt.Errorf("fetch chat avatar: %w", err)
	}
	up, err := br.AS.BotIntent().UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: mime, FileName: "avatar"})
	if err != nil {
		return id.ContentURI{}, fmt.Errorf("upload chat avatar: %w", err)
	}
	return up.ContentURI, nil
}

// inviteToPortal brings a Matrix user whose session is in the chat into its
// existing portal, unless they were ever in it: someone who left or was
// kicked is not pulled back by the next sync.
func (br *Bridge) inviteToPortal(ctx context.Context, p *Portal, user id.UserID) {
	m, err := br.AS.StateStore.TryGetMember(ctx, p.MXID, user)
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("user_id", user.String()).Msg("Failed to look up a member")
		return
	}
	if m == nil {
		bot := br.AS.BotIntent()
		if _, err := bot.InviteUser(ctx, p.MXID, &mautrix.ReqInviteUser{UserID: user}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("user_id", user.String()).Msg("Failed to invite a logged-in user to their portal")
			return
		}
		if err := br.store.addPendingInvite(ctx, p.MXID, user, bot.UserID); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to record a pending invite")
		}
	} else if m.Membership != event.MembershipJoin && m.Membership != event.MembershipInvite {
		return
	}
	br.addToSpace(ctx, user, p)
}
