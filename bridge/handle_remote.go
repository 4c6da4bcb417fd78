package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/puppet"
)

// handleRemoteEvent bridges one remote event to Matrix. It is idempotent:
// replaying it after a crash sends nothing twice, because message-like
// events are checked against the message map and sent with a transaction ID
// derived from their remote identity (the homeserver dedupes those).
func (br *Bridge) handleRemoteEvent(ctx context.Context, ev *RemoteEvent) error {
	// Profiles and presence belong to a person, not to a chat.
	switch ev.Kind {
	case RemoteProfile:
		if ev.Sender.Profile == nil {
			return fmt.Errorf("%w: profile event without a profile", ErrPermanent)
		}
		_, err := br.ghost(ctx, ev.Portal.Network, ev.Sender.ID, ev.Sender.Profile)
		return err
	case RemotePresence:
		return br.remotePresence(ctx, ev)
	case RemoteChatMove:
		return br.remoteChatMove(ctx, ev)
	}
	portal, err := br.store.portalByKey(ctx, ev.Portal)
	if err != nil {
		return err
	}
	if portal == nil || portal.MXID == "" {
		if !ev.CreatePortal {
			zerolog.Ctx(ctx).Debug().Msg("Dropping remote event for a chat without a portal")
			return nil
		}
		cctx := ctx
		if ev.Portal.Receiver != "" && ev.Sender.Matrix == "" {
			cctx = context.WithValue(ctx, dmPeerKey{}, ev.Sender)
		}
		portal, err = br.ensurePortalRoom(cctx, ev.Portal, ev.ChatInfo)
		if err != nil {
			return err
		}
	}
	ctx = zerolog.Ctx(ctx).With().Str("room_id", portal.MXID.String()).Logger().WithContext(ctx)
	if ev.Kind == RemoteMessage || ev.Kind == RemoteReaction {
		unlock := br.portalIO.lock(portal.Key)
		defer unlock()
	}
	switch ev.Kind {
	case RemoteMessage:
		return br.remoteMessage(ctx, portal, ev)
	case RemoteEdit:
		return br.remoteEdit(ctx, portal, ev)
	case RemoteDelete:
		return br.remoteDelete(ctx, portal, ev)
	case RemoteReaction:
		return br.remoteReaction(ctx, portal, ev)
	case RemoteReactionRemove:
		return br.remoteReactionRemove(ctx, portal, ev)
	case RemoteJoin, RemoteLeave, RemoteKick, RemoteBan:
		return br.remoteMembership(ctx, portal, ev)
	case RemoteTyping:
		intent, err := br.senderIntent(ctx, portal, ev.Sender, true)
		if err != nil {
			return err
		}
		timeout := ev.TypingTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		_, err = intent.UserTyping(ctx, portal.MXID, ev.Typing, timeout)
		return err
	case RemoteChatInfo:
		return br.remoteChatInfo(ctx, portal, ev)
	case RemoteReadMarker:
		return br.remoteReadMarker(ctx, portal, ev)
	default:
		return fmt.Errorf("%w: unknown remote event kind %q", ErrPermanent, ev.Kind)
	}
}

// senderIntent returns who acts for a remote sender: the double puppet of a
// logged-in user's own account when there is one, else the ghost (profile
// synced). join makes sure the intent is in the portal.
func (br *Bridge) senderIntent(ctx context.Context, portal *Portal, s Sender, join bool) (*mauas.IntentAPI, error) {
	var intent *mauas.IntentAPI
	if s.Matrix != "" {
		dp, err := br.doublePuppets.Intent(ctx, s.Matrix)
		if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("user_id", s.Matrix.String()).Msg("Double puppet unusable, using ghost")
		} else if dp != nil {
			intent = dp
		}
	}
	if intent == nil {
		if s.ID == "" {
			intent = br.AS.BotIntent()
		} else {
			ghost, err := br.ghost(ctx, portal.Key.Network, s.ID, s.Profile)
			if err != nil {
				return nil, err
			}
			intent = ghost
		}
	}
	if join {
		if err := intent.EnsureJoined(ctx, portal.MXID); err != nil {
			return nil, fmt.Errorf("join %s to portal: %w", intent.UserID, err)
		}
	}
	return intent, nil
}

// ghost returns a registered ghost's intent, with its profile synced when
// a profile is given.
func (br *Bridge) ghost(ctx context.Context, nid NetworkID, remote RemoteUserID, profile *Profile) (*mauas.IntentAPI, error) {
	g, err := br.ghosts.Get(ctx, string(nid), string(remote))
	if err != nil {
		return nil, err
	}
	if err := g.Ensure(ctx); err != nil {
		return nil, err
	}
	if profile != nil {
		fetch := br.avatarFetcher(nid, profile)
		if err := g.UpdateProfile(ctx, puppet.Profile{Name: profile.Name, AvatarID: profile.AvatarID, FetchAvatar: fetch}); err != nil {
			// A missing avatar must not hold up the message.
			zerolog.Ctx(ctx).Warn().Err(err).Str("ghost", g.MXID.String()).Msg("Failed to sync ghost profile")
		}
	}
	return g.Intent(), nil
}

func (br *Bridge) ghostMXID(nid NetworkID, remote RemoteUserID) id.UserID {
	return br.networks[nid].ghosts.MXID(string(remote))
}

// GhostMXID is the Matrix ID of a remote user's ghost ("" for an ID that
// cannot be named); adapters use it to turn mentions into pills. No I/O.
func (br *Bridge) GhostMXID(nid NetworkID, remote RemoteUserID) id.UserID {
	ne, ok := br.networks[nid]
	if !ok {
		return ""
	}
	return ne.ghosts.MXID(string(remote))
}

// GhostRemoteID is the reverse of GhostMXID: the remote user behind a
// ghost of that network, for turning pills back into mentions. No I/O.
func (br *Bridge) GhostRemoteID(nid NetworkID, user id.UserID) (RemoteUserID, bool) {
	ne, ok := br.networks[nid]
	if !ok {
		return "", false
	}
	remote, ok := ne.ghosts.RemoteID(user)
	return RemoteUserID(remote), ok
}

func (br *Bridge) avatarFetcher(nid NetworkID, p *Profile) func(ctx context.Context) ([]byte, string, error) {
	if p.AvatarID == "" {
		return nil
	}
	if af, ok := br.networks[nid].net.(AvatarFetcher); ok {
		return func(ctx context.Context) ([]byte, string, error) { return af.FetchAvatar(ctx, p.AvatarID) }
	}
	url := p.AvatarURL
	return func(ctx context.Context) ([]byte, string, error) { return httpGet(ctx, url) }
}

const maxDownload = 100 << 20

// downloadClient fetches avatars and attachments from remote hosts: a host
// that never answers must not hold a portal's queue for ever.
var downloadClient = &http.Client{Timeout: 2 * time.Minute}

func httpGet(ctx context.Context, url string) ([]byte, string, error) {
	if url == "" {
		return nil, "", fmt.Errorf("no URL to download")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := downloadClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("download: HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDownload+1))
	if err != nil {
		return nil, "", fmt.Errorf("download: %w", err)
	}
	if len(data) > maxDownload {
		return nil, "", fmt.Errorf("%w: attachment larger than %d MiB", ErrPermanent, maxDownload>>20)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// txnID derives the Matrix transaction ID from the remote identity of an
// action, so a replay after a crash reuses it and the homeserver returns
// the earlier event instead of creating a second one.
func txnID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "isthmus_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// eventTxnID is the Matrix transaction ID of what a remote event sends. The
// journal row's sequence number makes it stable across a replay and unique
// per event (a reaction removed and added again is two events); unjournaled
// events fall back to their remote identity and exact time.
func eventTxnID(ctx context.Context, portal *Portal, kind string, ev *RemoteEvent) string {
	if seq, ok := ctx.Value(seqKey{}).(int64); ok && seq != 0 {
		return txnID(kind, strconv.FormatInt(seq, 10))
	}
	return txnID(portal.Key.String(), kind, string(ev.ID), string(ev.Target), ev.Reaction, strconv.FormatInt(ev.Timestamp.UnixNano(), 10))
}

func (br *Bridge) remoteMessage(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	if ev.ID != "" {
		if existing, err := br.store.messageByRemoteID(ctx, portal.Key, ev.ID); err != nil {
			return err
		} else if existing != nil {
			zerolog.Ctx(ctx).Debug().Msg("Remote message already bridged (echo or replay)")
			return nil
		}
	}
	if ev.Content == nil {
		return fmt.Errorf("%w: message without content", ErrPermanent)
	}
	intent, err := br.senderIntent(ctx, portal, ev.Sender, true)
	if err != nil {
		return err
	}
	if isReplay(ctx) && ev.ID != "" {
		// The send may have reached the homeserver just before the crash,
		// without the transaction ID being remembered there: look first.
		if found, err := br.findBridged(ctx, portal, intent.UserID, ev.ID); err != nil {
			return err
		} else if found != "" {
			br.recordRemote(&Message{
				Portal: portal.Key, RemoteID: ev.ID, RoomID: portal.MXID, EventID: found,
				SenderMXID: intent.UserID, RemoteSender: ev.Sender.ID, Kind: kindMessage, Timestamp: ev.Timestamp,
			})
			return nil
		}
	}
	parsed, err := br.matrixContent(ctx, portal, intent, ev.Content)
	if err != nil {
		return err
	}
	content := &event.Content{Parsed: parsed, Raw: map[string]any{remoteIDKey: string(ev.ID)}}
	resp, err := intent.SendMessageEvent(ctx, portal.MXID, eventTypeFor(parsed), content, mautrix.ReqSendEvent{
		Timestamp:     ev.Timestamp.UnixMilli(),
		TransactionID: eventTxnID(ctx, portal, "msg", ev),
	})
	if err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	if ev.ID == "" {
		return nil
	}
	br.recordRemote(&Message{
		Portal: portal.Key, RemoteID: ev.ID, RoomID: portal.MXID, EventID: resp.EventID,
		SenderMXID: intent.UserID, RemoteSender: ev.Sender.ID, Kind: kindMessage, Timestamp: ev.Timestamp,
	})
	return nil
}

// recordRemote adds a bridged remote event to the message map: in memory
// until its journal row is deleted, in the same transaction as that
// deletion (see journalReaper).
func (br *Bridge) recordRemote(m *Message) {
	br.store.insertMessageLater(m)
}

// remoteIDKey marks bridged messages with their remote ID, so a replay
// after a crash can find what was already sent.
const remoteIDKey = "net.isthmus.remote_id"

// findBridged looks through the portal's recent history for a message that
// sender already sent for a remote ID.
func (br *Bridge) findBridged(ctx context.Context, portal *Portal, sender id.UserID, remote MessageID) (id.EventID, error) {
	resp, err := br.AS.BotIntent().Messages(ctx, portal.MXID, "", "", mautrix.DirectionBackward, nil, 100)
	if err != nil {
		return "", fmt.Errorf("read recent history: %w", err)
	}
	for _, evt := range resp.Chunk {
		if evt.Sender == sender && evt.Content.Raw[remoteIDKey] == string(remote) {
			return evt.ID, nil
		}
	}
	return "", nil
}

func eventTypeFor(content *event.MessageEventContent) event.Type {
	if content.MsgType == "m.sticker" {
		return event.EventSticker
	}
	return event.EventMessage
}

// matrixContent converts remote content, resolving replies and threads
// through the message map and moving media into the media repo.
func (br *Bridge) matrixContent(ctx context.Context, portal *Portal, intent *mauas.IntentAPI, c *Content) (*event.MessageEventContent, error) {
	msgType := c.MsgType
	if msgType == "" {
		msgType = event.MsgText
	}
	content := &event.MessageEventContent{MsgType: msgType, Body: c.Body}
	if c.HTML != "" {
		content.Format = event.FormatHTML
		content.FormattedBody = c.HTML
	}
	content.Mentions = &event.Mentions{UserIDs: c.Mentions, Room: c.MentionsRoom}
	if c.ThreadRoot != "" {
		if root, err := br.store.messageByRemoteID(ctx, portal.Key, c.ThreadRoot); err != nil {
			return nil, err
		} else if root != nil {
			content.RelatesTo = (&event.RelatesTo{}).SetThread(root.EventID, root.EventID)
		}
	}
	if c.ReplyTo != "" {
		if target, err := br.store.messageByRemoteID(ctx, portal.Key, c.ReplyTo); err != nil {
			return nil, err
		} else if target != nil {
			if content.RelatesTo == nil {
				content.RelatesTo = &event.RelatesTo{}
			}
			content.RelatesTo.SetReplyTo(target.EventID)
		}
	}
	if c.Media != nil {
		var (
			data []byte
			mime string
			err  error
		)
		if mf, ok := br.networks[portal.Key.Network].net.(MediaFetcher); ok {
			data, mime, err = mf.FetchMedia(ctx, c.Media)
		} else {
			data, mime, err = httpGet(ctx, c.Media.URL)
		}
		if err != nil {
			return nil, err
		}
		if c.Media.MimeType != "" {
			mime = c.Media.MimeType
		}
		up, err := intent.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: mime, FileName: c.Media.Name})
		if err != nil {
			return nil, fmt.Errorf("upload media: %w", err)
		}
		content.URL = up.ContentURI.CUString()
		content.FileName = c.Media.Name
		if content.Body == "" {
			content.Body = c.Media.Name
		}
		content.Info = &event.FileInfo{MimeType: mime, Size: len(data)}
	}
	return content, nil
}

func (br *Bridge) remoteEdit(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	target, err := br.store.messageByRemoteID(ctx, portal.Key, ev.Target)
	if err != nil {
		return err
	}
	if target == nil {
		zerolog.Ctx(ctx).Debug().Msg("Edit of an unknown message, ignored")
		return nil
	}
	intent, err := br.senderIntent(ctx, portal, ev.Sender, true)
	if err != nil {
		return err
	}
	newContent, err := br.matrixContent(ctx, portal, intent, ev.Content)
	if err != nil {
		return err
	}
	newContent.RelatesTo = nil
	content := &event.MessageEventContent{
		MsgType:    newContent.MsgType,
		Body:       "* " + newContent.Body,
		NewContent: newContent,
		RelatesTo:  (&event.RelatesTo{}).SetReplace(target.EventID),
	}
	if newContent.FormattedBody != "" {
		content.Format = event.FormatHTML
		content.FormattedBody = "* " + newContent.FormattedBody
	}
	_, err = intent.SendMessageEvent(ctx, portal.MXID, event.EventMessage, content, mautrix.ReqSendEvent{
		Timestamp:     ev.Timestamp.UnixMilli(),
		TransactionID: eventTxnID(ctx, portal, "edit", ev),
	})
	if err != nil {
		return fmt.Errorf("send edit: %w", err)
	}
	return nil
}

func (br *Bridge) remoteDelete(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	target, err := br.store.messageByRemoteID(ctx, portal.Key, ev.Target)
	if err != nil || target == nil {
		return err
	}
	intent, err := br.senderIntent(ctx, portal, ev.Sender, true)
	if err != nil {
		return err
	}
	if target.SenderMXID != intent.UserID {
		// Only the bot has the power to redact someone else's event.
		intent = br.AS.BotIntent()
	}
	if _, err := intent.RedactEvent(ctx, portal.MXID, target.EventID, mautrix.ReqRedact{TxnID: txnID("redact", target.EventID.String())}); err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	return br.store.deleteMessage(ctx, target.EventID)
}

func (br *Bridge) remoteReaction(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	rid := reactionRemoteID(ev.Target, ev.Sender.ID, ev.Reaction)
	if existing, err := br.store.messageByRemoteID(ctx, portal.Key, rid); err != nil || existing != nil {
		return err
	}
	target, err := br.store.messageByRemoteID(ctx, portal.Key, ev.Target)
	if err != nil || target == nil {
		return err
	}
	intent, err := br.senderIntent(ctx, portal, ev.Sender, true)
	if err != nil {
		return err
	}
	if isReplay(ctx) {
		if found, err := br.findBridged(ctx, portal, intent.UserID, rid); err != nil {
			return err
		} else if found != "" {
			br.recordRemote(&Message{
				Portal: portal.Key, RemoteID: rid, RoomID: portal.MXID, EventID: found, SenderMXID: intent.UserID,
				RemoteSender: ev.Sender.ID, Kind: kindReaction, TargetID: ev.Target, Timestamp: ev.Timestamp,
			})
			return nil
		}
	}
	content := &event.Content{
		Parsed: &event.ReactionEventContent{RelatesTo: *(&event.RelatesTo{}).SetAnnotation(target.EventID, ev.Reaction)},
		Raw:    map[string]any{remoteIDKey: string(rid)},
	}
	resp, err := intent.SendMessageEvent(ctx, portal.MXID, event.EventReaction, content, mautrix.ReqSendEvent{
		Timestamp:     ev.Timestamp.UnixMilli(),
		TransactionID: eventTxnID(ctx, portal, "reaction", ev),
	})
	if err != nil {
		return fmt.Errorf("send reaction: %w", err)
	}
	br.recordRemote(&Message{
		Portal: portal.Key, RemoteID: rid, RoomID: portal.MXID, EventID: resp.EventID, SenderMXID: intent.UserID,
		RemoteSender: ev.Sender.ID, Kind: kindReaction, TargetID: ev.Target, Timestamp: ev.Timestamp,
	})
	return nil
}

func (br *Bridge) remoteReactionRemove(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	rid := reactionRemoteID(ev.Target, ev.Sender.ID, ev.Reaction)
	existing, err := br.store.messageByRemoteID(ctx, portal.Key, rid)
	if err != nil || existing == nil {
		return err
	}
	intent, err := br.senderIntent(ctx, portal, ev.Sender, false)
	if err != nil {
		return err
	}
	if _, err := intent.RedactEvent(ctx, portal.MXID, existing.EventID, mautrix.ReqRedact{TxnID: txnID("redact", existing.EventID.String())}); err != nil {
		return fmt.Errorf("redact reaction: %w", err)
	}
	return br.store.deleteMessage(ctx, existing.EventID)
}

func (br *Bridge) memberIntentID(ctx context.Context, portal *Portal, m *Member) (*mauas.IntentAPI, id.UserID, error) {
	if m.Matrix != "" {
		dp, err := br.doublePuppets.Intent(ctx, m.Matrix)
		if err == nil && dp != nil {
			return dp, m.Matrix, nil
		}
	}
	intent, err := br.ghost(ctx, portal.Key.Network, m.ID, nil)
	if err != nil {
		return nil, "", err
	}
	return intent, intent.UserID, nil
}

func (br *Bridge) remoteMembership(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	m := ev.Member
	if m == nil {
		m = &Member{ID: ev.Sender.ID, Matrix: ev.Sender.Matrix}
	}
	target, targetID, err := br.memberIntentID(ctx, portal, m)
	if err != nil {
		return err
	}
	switch ev.Kind {
	case RemoteJoin:
		if m.ID == ev.Sender.ID && ev.Sender.Profile != nil {
			if _, err := br.ghost(ctx, portal.Key.Network, m.ID, ev.Sender.Profile); err != nil {
				return err
			}
		}
		return target.EnsureJoined(ctx, portal.MXID)
	case RemoteLeave:
		if !br.AS.StateStore.IsMembership(ctx, portal.MXID, targetID, event.MembershipJoin, event.MembershipInvite) {
			return nil
		}
		_, err := target.LeaveRoom(ctx, portal.MXID, &mautrix.ReqLeave{Reason: m.Reason})
		if err != nil && !isNotInRoom(err) {
			return fmt.Errorf("leave: %w", err)
		}
		return nil
	case RemoteKick, RemoteBan:
		if ev.Kind == RemoteKick && !br.AS.StateStore.IsMembership(ctx, portal.MXID, targetID, event.MembershipJoin, event.MembershipInvite) {
			return nil // gone already (it left, or the kick came from Matrix)
		}
		actor, err := br.senderIntent(ctx, portal, ev.Sender, true)
		if err != nil {
			return err
		}
		if ev.Kind == RemoteKick {
			if _, err = actor.KickUser(ctx, portal.MXID, &mautrix.ReqKickUser{UserID: targetID, Reason: m.Reason}); err != nil {
				_, err = br.AS.BotIntent().KickUser(ctx, portal.MXID, &mautrix.ReqKickUser{UserID: targetID, Reason: kickReason(ev, m)})
			}
		} else {
			if _, err = actor.BanUser(ctx, portal.MXID, &mautrix.ReqBanUser{UserID: targetID, Reason: m.Reason}); err != nil {
				_, err = br.AS.BotIntent().BanUser(ctx, portal.MXID, &mautrix.ReqBanUser{UserID: targetID, Reason: kickReason(ev, m)})
			}
		}
		if err != nil && !isNotInRoom(err) {
			return fmt.Errorf("%s: %w", ev.Kind, err)
		}
		return nil
	}
	return nil
}

// kickReason names the remote actor when the bot has to act in their place.
func kickReason(ev *RemoteEvent, m *Member) string {
	if m.Reason == "" {
		return fmt.Sprintf("by %s", ev.Sender.ID)
	}
	return fmt.Sprintf("%s (by %s)", m.Reason, ev.Sender.ID)
}

func isNotInRoom(err error) bool {
	return errorsIsAny(err, mautrix.MForbidden, mautrix.MNotFound)
}

func (br *Bridge) remotePresence(ctx context.Context, ev *RemoteEvent) error {
	if ev.Presence == nil {
		return fmt.Errorf("%w: presence without state", ErrPermanent)
	}
	intent, err := br.ghost(ctx, ev.Portal.Network, ev.Sender.ID, ev.Sender.Profile)
	if err != nil {
		return err
	}
	return intent.SetPresence(ctx, mautrix.ReqPresence{Presence: ev.Presence.State, StatusMsg: ev.Presence.Status})
}

func (br *Bridge) remoteChatInfo(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	info := ev.ChatInfo
	if info == nil {
		return nil
	}
	intent, err := br.senderIntent(ctx, portal, ev.Sender, true)
	if err != nil {
		return err
	}
	changed := false
	if info.Name != nil && *info.Name != portal.Name {
		if _, err := sendStateOrBot(ctx, br, intent, portal.MXID, event.StateRoomName, &event.RoomNameEventContent{Name: *info.Name}); err != nil {
			return err
		}
		portal.Name, changed = *info.Name, true
	}
	if info.Topic != nil && *info.Topic != portal.Topic {
		if _, err := sendStateOrBot(ctx, br, intent, portal.MXID, event.StateTopic, &event.TopicEventContent{Topic: *info.Topic}); err != nil {
			return err
		}
		portal.Topic, changed = *info.Topic, true
	}
	if info.AvatarID != "" && info.AvatarID != portal.AvatarID {
		if err := br.setPortalAvatar(ctx, portal, info); err != nil {
			return err
		}
	}
	if info.PowerLevels != nil || info.MatrixPowerLevels != nil || info.EventsDefault != nil {
		if err := br.syncPowerLevels(ctx, portal, info); errors.Is(err, mautrix.MForbidden) {
			// A linked room where the bot is not an admin: the levels stay
			// as they are, the rest of the chat info still counts.
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Not allowed to set the room's power levels")
		} else if err != nil {
			return err
		}
	}
	if info.JoinRule != "" {
		if _, err := br.AS.BotIntent().SendStateEvent(ctx, portal.MXID, event.StateJoinRules, "", &event.JoinRulesEventContent{JoinRule: info.JoinRule}); err != nil {
			return fmt.Errorf("set join rule: %w", err)
		}
	}
	if info.Listed != nil {
		vis := "private"
		if *info.Listed {
			vis = "public"
		}
		bot := br.AS.BotIntent()
		url := bot.BuildClientURL("v3", "directory", "list", "room", portal.MXID)
		if _, err := bot.MakeRequest(ctx, http.MethodPut, url, map[string]string{"visibility": vis}, nil); err != nil {
			return fmt.Errorf("set directory visibility: %w", err)
		}
	}
	if info.Members != nil {
		if err := br.reconcileMembers(ctx, portal, info.Members); err != nil {
			return err
		}
	}
	for _, u := range info.Invite {
		// A DM portal is its receiver's alone, whoever else the chat has.
		if portal.Key.Receiver == "" || u == id.UserID(portal.Key.Receiver) {
			br.inviteToPortal(ctx, portal, u)
		}
	}
	if changed {
		return br.store.upsertPortal(ctx, portal)
	}
	return nil
}

// sendStateOrBot sends state as the actor and falls back to the bot when
// the actor lacks the power level for it.
func sendStateOrBot(ctx context.Context, br *Bridge, intent *mauas.IntentAPI, room id.RoomID, t event.Type, content any) (*mautrix.RespSendEvent, error) {
	resp, err := intent.SendStateEvent(ctx, room, t, "", content)
	if err != nil && errorsIsAny(err, mautrix.MForbidden) && intent != br.AS.BotIntent() {
		resp, err = br.AS.BotIntent().SendStateEvent(ctx, room, t, "", content)
	}
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", t.Type, err)
	}
	return resp, nil
}

// syncPowerLevels brings the room's levels to the remote ranks. The levels
// are read from the homeserver, not the state cache: a Matrix change the
// bridge has not handled yet would otherwise be written over.
func (br *Bridge) syncPowerLevels(ctx context.Context, portal *Portal, info *ChatInfo) error {
	bot := br.AS.BotIntent()
	var pl event.PowerLevelsEventContent
	if err := bot.StateEvent(ctx, portal.MXID, event.StatePowerLevels, "", &pl); err != nil {
		return fmt.Errorf("get power levels: %w", err)
	}
	changed := false
	set := func(user id.UserID, level int) {
		if pl.GetUserLevel(user) != level {
			pl.SetUserLevel(user, level)
			changed = true
		}
	}
	if info.EventsDefault != nil && pl.EventsDefault != *info.EventsDefault {
		pl.EventsDefault = *info.EventsDefault
		changed = true
	}
	for remote, level := range info.PowerLevels {
		set(br.ghostMXID(portal.Key.Network, remote), min(level, maxGhostLevel))
	}
	for user, level := range info.MatrixPowerLevels {
		// A room admin's level is Matrix's business; the bot could not
		// lower it anyway.
		if pl.GetUserLevel(user) < pl.GetUserLevel(bot.UserID) {
			set(user, min(level, maxGhostLevel))
		}
	}
	if !changed {
		return nil
	}
	if _, err := bot.SetPowerLevels(ctx, portal.MXID, &pl); err != nil {
		return fmt.Errorf("set power levels: %w", err)
	}
	return nil
}

// reconcileMembers makes the portal's ghosts match the remote member list:
// missing ghosts join, ghosts no longer there leave. Matrix users are left
// alone.
func (br *Bridge) reconcileMembers(ctx context.Context, portal *Portal, members []Sender) error {
	want := map[id.UserID]Sender{}
	keep := map[id.UserID]bool{}
	namer := br.networks[portal.Key.Network].ghosts
	for _, m := range members {
		if m.Matrix != "" {
			// A logged-in user is there as themselves; their ghost (used
			// when they have no double puppet) may stay, but is not added.
			keep[namer.MXID(string(m.ID))] = true
			continue
		}
		want[namer.MXID(string(m.ID))] = m
	}
	joined, err := br.AS.BotIntent().JoinedMembers(ctx, portal.MXID)
	if err != nil {
		return fmt.Errorf("get members: %w", err)
	}
	for mxid := range joined.Joined {
		if _, ok := namer.RemoteID(mxid); !ok {
			continue
		}
		if _, ok := want[mxid]; ok {
			delete(want, mxid)
			continue
		}
		if keep[mxid] {
			continue
		}
		if _, err := br.AS.Intent(mxid).LeaveRoom(ctx, portal.MXID); err != nil && !isNotInRoom(err) {
			return fmt.Errorf("remove stale ghost %s: %w", mxid, err)
		}
	}
	for _, m := range want {
		intent, err := br.ghost(ctx, portal.Key.Network, m.ID, m.Profile)
		if err != nil {
			return err
		}
		if err := intent.EnsureJoined(ctx, portal.MXID, mauas.EnsureJoinedParams{IgnoreCache: true}); err != nil {
			return fmt.Errorf("join ghost %s: %w", intent.UserID, err)
		}
	}
	return nil
}

func (br *Bridge) remoteReadMarker(ctx context.Context, portal *Portal, ev *RemoteEvent) error {
	if ev.Sender.Matrix == "" {
		return nil
	}
	target, err := br.store.messageByRemoteID(ctx, portal.Key, ev.Target)
	if err != nil || target == nil {
		return err
	}
	dp, err := br.doublePuppets.Intent(ctx, ev.Sender.Matrix)
	if err != nil || dp == nil {
		return err
	}
	return dp.MarkRead(ctx, portal.MXID, target.EventID)
}

// DownloadMedia fetches Matrix media (an mxc:// URI) for an adapter to send
// on, so adapters never talk to the homeserver themselves.
func (br *Bridge) DownloadMedia(ctx context.Context, uri id.ContentURIString) ([]byte, error) {
	parsed, err := uri.Parse()
	if err != nil {
		return nil, fmt.Errorf("%w: bad media URI %q", ErrPermanent, uri)
	}
	data, err := br.AS.BotIntent().DownloadBytes(ctx, parsed)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", uri, err)
	}
	return data, nil
}

// RecordRemoteID maps a Matrix message to its remote ID when the adapter
// learns the ID only after HandleMatrixMessage returned (a Slack file
// upload answers with a file; its message arrives later). Edits, redactions
// and reactions of that message then reach the remote side, and its echo is
// recognised. It reports false when the remote ID was already mapped.
func (br *Bridge) RecordRemoteID(ctx context.Context, msg *MatrixMessage, remoteID MessageID, ts time.Time) (bool, error) {
	if remoteID == "" {
		return false, fmt.Errorf("%w: empty remote ID", ErrPermanent)
	}
	return br.store.insertMessage(ctx, &Message{
		Portal: msg.Portal.Key, RemoteID: remoteID, RoomID: msg.Portal.MXID, EventID: msg.Event.ID,
		SenderMXID: msg.Sender.MXID, Kind: kindMessage, Timestamp: timeOr(ts, msg.Event.Timestamp),
	})
}
