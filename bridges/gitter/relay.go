package gitter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gittermd"
)

var _ bridge.RelayHandler = (*Network)(nil)

// relayBot is the network's relay account: a Gitter user whose token is in
// the config. It only posts; what it posts comes back through the streams
// of logged-in users and is recognised by its author, so it gets no ghost
// and is never bridged back.
type relayBot struct {
	client *gitterapi.Client
	cancel context.CancelFunc // stops identify

	mu sync.Mutex
	me gitterapi.User // zero until Gitter said who the token belongs to
	// rooms are the rooms the bot is in, as last listed.
	rooms map[string]bool
}

// startRelay makes the bot's client and learns who it is in the
// background, so its messages are recognised from the start without
// holding the bridge's start up when Gitter is unreachable.
func (n *Network) startRelay(ctx context.Context) error {
	if n.cfg.Relay == nil {
		return nil
	}
	client, err := n.newClient(string(n.cfg.Relay.Token))
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.relay = &relayBot{client: client, cancel: cancel}
	go n.identifyRelay(rctx)
	return nil
}

func (n *Network) stopRelay() {
	if n.relay != nil {
		n.relay.cancel()
	}
}

// identifyRelay asks Gitter who the bot is until it knows, with backoff; a
// refused token is logged (without the token) and left for
// HandleRelayMessage to report to senders.
func (n *Network) identifyRelay(ctx context.Context) {
	backoff := n.minBackoff
	for ctx.Err() == nil {
		_, err := n.relayIdentity(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		if errors.Is(err, gitterapi.ErrUnauthorized) {
			zerolog.Ctx(ctx).Error().Str("network", string(n.info.ID)).Msg("Gitter refused the relay bot's token: relaying is off until it is replaced")
			return
		}
		zerolog.Ctx(ctx).Warn().Err(err).Dur("backoff", backoff).Msg("Cannot reach Gitter to identify the relay bot, retrying")
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, n.maxBackoff)
	}
}

// relayIdentity is the bot's Gitter user, asked once and then remembered.
func (n *Network) relayIdentity(ctx context.Context) (gitterapi.User, error) {
	r := n.relay
	r.mu.Lock()
	me := r.me
	r.mu.Unlock()
	if me.ID != "" {
		return me, nil
	}
	u, err := r.client.CurrentUser(ctx)
	if err != nil {
		return gitterapi.User{}, err
	}
	r.mu.Lock()
	r.me = *u
	r.mu.Unlock()
	n.rememberUser(*u)
	return *u, nil
}

// isRelayBot says whether a Gitter user is this network's relay bot. It
// does no I/O: before the bot is identified nothing was relayed yet.
func (n *Network) isRelayBot(gitterID string) bool {
	if n.relay == nil || gitterID == "" {
		return false
	}
	n.relay.mu.Lock()
	defer n.relay.mu.Unlock()
	return n.relay.me.ID == gitterID
}

// withoutRelayBot drops the bot from a member list: it gets no ghost.
func (n *Network) withoutRelayBot(members []gitterapi.User) []gitterapi.User {
	if n.relay == nil || members == nil {
		return members
	}
	out := make([]gitterapi.User, 0, len(members))
	for _, m := range members {
		if !n.isRelayBot(m.ID) {
			out = append(out, m)
		}
	}
	return out
}

// relayIn says whether the bot is in a room: from the last list of its
// rooms, listed again when the room is not in it (the bot may have been
// added since).
func (n *Network) relayIn(ctx context.Context, botID, roomID string) (bool, error) {
	r := n.relay
	r.mu.Lock()
	in := r.rooms[roomID]
	r.mu.Unlock()
	if in {
		return true, nil
	}
	rooms, err := r.client.UserRooms(ctx, botID)
	if err != nil {
		return false, err
	}
	set := make(map[string]bool, len(rooms))
	for _, room := range rooms {
		set[room.ID] = true
	}
	r.mu.Lock()
	r.rooms = set
	r.mu.Unlock()
	return set[roomID], nil
}

func (n *Network) relayLeft(roomID string) {
	n.relay.mu.Lock()
	delete(n.relay.rooms, roomID)
	n.relay.mu.Unlock()
}

// HandleRelayMessage posts for a Matrix user without a login through the
// relay bot, under their name: "**Alice**: text", or for an emote a
// status message "**Alice** waves". Only group rooms the bot is in can be
// relayed to; DMs belong to their receiver.
func (n *Network) HandleRelayMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	if n.relay == nil {
		return nil, fmt.Errorf("%w: %s has no relay bot", bridge.ErrPermanent, n.info.DisplayName)
	}
	if msg.Portal.Key.Receiver != "" || msg.Portal.IsDM {
		return nil, fmt.Errorf("%w: messages in a Gitter one-to-one room are not relayed", bridge.ErrPermanent)
	}
	room := string(msg.Portal.Key.Chat)
	me, err := n.relayIdentity(ctx)
	if err != nil {
		return nil, relayErr("identify the relay bot", err)
	}
	in, err := n.relayIn(ctx, me.ID, room)
	if err != nil {
		return nil, relayErr("list the relay bot's rooms", err)
	} else if !in {
		return nil, fmt.Errorf("%w: the relay bot @%s is not in this Gitter room; add it there to relay messages", bridge.ErrPermanent, me.Username)
	}
	name := gittermd.Escape(firstNonEmpty(msg.SenderName, msg.Sender.MXID.Localpart(), "Matrix user"))
	nm := gitterapi.NewMessage{}
	body := n.markdown(msg.Content)
	switch msg.Content.MsgType {
	case event.MsgText, event.MsgNotice:
		nm.Text = "**" + name + "**: " + body
	case event.MsgEmote:
		nm.Status = true
		nm.Text = "**" + name + "** " + body
	default:
		return nil, fmt.Errorf("%w: sending %s: %w", bridge.ErrPermanent, msg.Content.MsgType, bridge.ErrNotSupported)
	}
	if msg.ThreadRoot != nil {
		nm.ParentID = string(msg.ThreadRoot.RemoteID)
	}
	m, err := n.relay.client.SendMessage(ctx, room, nm)
	if errors.Is(err, gitterapi.ErrForbidden) || errors.Is(err, gitterapi.ErrNotFound) {
		n.relayLeft(room)
	}
	if err != nil {
		return nil, relayErr("relay message", err)
	}
	return &bridge.MessageResult{ID: bridge.MessageID(m.ID), Timestamp: m.Sent.Time}, nil
}

// relayErr sorts a relay failure like Session.apiErr, except that a refused
// token is the bridge admin's to fix, so senders are told so.
func relayErr(what string, err error) error {
	if errors.Is(err, gitterapi.ErrUnauthorized) {
		return fmt.Errorf("%w: Gitter refused the relay bot's token; ask the bridge admin to replace it", bridge.ErrPermanent)
	}
	var apiErr *gitterapi.APIError
	if errors.As(err, &apiErr) && !apiErr.Temporary() {
		return fmt.Errorf("%w: %s: %w", bridge.ErrPermanent, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
