package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/puppet"
)

// ghostOf returns the network and remote user a Matrix user ID stands for,
// when it is one of our ghosts.
func (br *Bridge) ghostOf(user id.UserID) (NetworkID, RemoteUserID, bool) {
	for _, nid := range br.netOrder {
		if remote, ok := br.networks[nid].ghosts.RemoteID(user); ok {
			return nid, RemoteUserID(remote), true
		}
	}
	return "", "", false
}

// isOurs says whether an event was sent by the bridge itself: the bot, a
// ghost, or a double puppet (marked in its content).
func (br *Bridge) isOurs(evt *event.Event) bool {
	if evt.Sender == br.AS.BotMXID() {
		return true
	}
	if _, _, ok := br.ghostOf(evt.Sender); ok {
		return true
	}
	return puppet.IsDoublePuppetEcho(evt, br.Config.Appservice.ID)
}

// HandleEvent is the appservice handler for one journaled Matrix event.
func (br *Bridge) HandleEvent(ctx context.Context, evt *event.Event) error {
	if evt.Type == event.StatePowerLevels {
		// Homeservers do not always send prev_content; keep what the cache
		// knew, to tell what changed and to revert a refused change.
		if old, err := br.AS.StateStore.GetPowerLevels(ctx, evt.RoomID); err == nil && old != nil {
			ctx = context.WithValue(ctx, prevPowerLevelsKey{}, old)
		}
	}
	if evt.Type == event.StateMember && evt.StateKey != nil {
		// Likewise the membership before a member event: an unban is a
		// leave after a ban, a kick a leave after a join.
		if old, err := br.AS.StateStore.TryGetMember(ctx, evt.RoomID, id.UserID(*evt.StateKey)); err == nil && old != nil {
			ctx = context.WithValue(ctx, prevMembershipKey{}, old.Membership)
		}
	}
	// The intents' state cache learns room state only from here.
	mautrix.UpdateStateStore(ctx, br.AS.StateStore, evt)
	zerolog.Ctx(ctx).Debug().Str("sender", evt.Sender.String()).Msg("Handling Matrix event")
	err := br.handleMatrixEvent(ctx, evt)
	var userErr *userError
	switch {
	case err == nil:
		metricMatrixEvents.WithLabelValues("handled").Inc()
		return nil
	case errors.As(err, &userErr):
		// Not a failure of the bridge: tell the sender and move on.
		metricMatrixEvents.WithLabelValues("refused").Inc()
		br.noticeIn(ctx, evt.RoomID, userErr.Error())
		return nil
	default:
		return err
	}
}

// EventFailed is called when a Matrix event failed every attempt. The
// sender is told in the room, so nothing is lost silently.
func (br *Bridge) EventFailed(ctx context.Context, evt *event.Event, err error) {
	metricMatrixEvents.WithLabelValues("failed").Inc()
	if evt.Type != event.EventMessage && evt.Type != event.EventSticker && evt.Type != event.EventReaction {
		return
	}
	content := formatNotice("⚠️ Your message was not delivered: " + deliveryText(err))
	// A reply to the message, so the sender sees which one did not arrive.
	content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(evt.ID)
	if _, serr := br.AS.BotIntent().SendMessageEvent(ctx, evt.RoomID, event.EventMessage, content); serr != nil {
		zerolog.Ctx(ctx).Err(serr).Msg("Failed to send notice")
	}
}

// sendError is an adapter's failure to deliver a message. Logs get the
// network; the sender, in the portal, only the reason.
type sendError struct {
	network NetworkID
	err     error
}

func (e *sendError) Error() string { return fmt.Sprintf("send to %s: %v", e.network, e.err) }
func (e *sendError) Unwrap() error { return e.err }

// deliveryText is what the sender is told of a failed delivery.
func deliveryText(err error) string {
	var se *sendError
	if errors.As(err, &se) {
		err = se.err
	}
	return strings.TrimPrefix(err.Error(), ErrPermanent.Error()+": ")
}

func (br *Bridge) noticeIn(ctx context.Context, room id.RoomID, text string) {
	if room == "" {
		return
	}
	if _, err := br.AS.BotIntent().SendNotice(ctx, room, text); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to send notice")
	}
}

// userError is an error the sender caused or can fix; it is shown to them
// and not retried.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &userError{msg: fmt.Sprintf(format, args...)} }

func (br *Bridge) handleMatrixEvent(ctx context.Context, evt *event.Event) error {
	if evt.Type == event.StateMember {
		return br.handleMatrixMember(ctx, evt)
	}
	if br.isOurs(evt) {
		return nil
	}
	if user, err := br.store.isManagementRoom(ctx, evt.RoomID); err != nil {
		return err
	} else if user != "" {
		if evt.Type == event.EventMessage && evt.Sender == user {
			return br.handleCommand(ctx, evt)
		}
		return nil
	}
	portal, err := br.store.portalByRoom(ctx, evt.RoomID)
	if err != nil {
		return err
	}
	if portal == nil {
		return nil
	}
	ctx = zerolog.Ctx(ctx).With().Str("portal", portal.Key.String()).Logger().WithContext(ctx)
	sender, err := br.userFor(ctx, evt.Sender)
	if err != nil {
		return err
	}
	if sender.Permission < PermRelay {
		return nil
	}
	if portal.Key.Receiver != "" && evt.Sender != id.UserID(portal.Key.Receiver) {
		// A DM portal speaks for its receiver only; others invited into it
		// must not send into the receiver's private chat.
		return nil
	}
	switch evt.Type {
	case event.EventMessage, event.EventSticker, event.EventReaction:
		// A chat move may have given the room another key while this
		// waited for the lock; the new key's lock is the one that keeps
		// this in order with the events that come under it.
		unlock := br.portalIO.lock(portal.Key)
		for {
			now, err := br.store.portalByRoom(ctx, evt.RoomID)
			if err != nil || now == nil {
				break
			}
			moved := now.Key != portal.Key
			portal = now
			if !moved {
				break
			}
			unlock()
			unlock = br.portalIO.lock(portal.Key)
		}
		defer func() { unlock() }()
	}
	switch evt.Type {
	case event.EventMessage, event.EventSticker:
		return br.matrixMessage(ctx, portal, sender, evt)
	case event.EventReaction:
		return br.matrixReaction(ctx, portal, sender, evt)
	case event.EventRedaction:
		return br.matrixRedaction(ctx, portal, sender, evt)
	case event.StateTopic, event.StateRoomName:
		return br.revertIfRefused(ctx, portal, evt, br.matrixTopic(ctx, portal, sender, evt))
	case event.StatePowerLevels:
		return br.revertIfRefused(ctx, portal, evt, br.matrixPowerLevels(ctx, portal, sender, evt))
	}
	return nil
}

// sameRoom keeps a looked-up message only when it is in the given room, so
// a reply to an event of another portal is not handed to the adapter.
func sameRoom(m *Message, err error) func(id.RoomID) *Message {
	return func(room id.RoomID) *Message {
		if err != nil || m == nil || m.RoomID != room {
			return nil
		}
		return m
	}
}

// sessionOrAuto returns the user's session for a portal, creating one
// through the network's AutoSessioner when it has one and the user none.
func (br *Bridge) sessionOrAuto(ctx context.Context, key PortalKey, user *User) (*sessionEntry, error) {
	if e := br.sessionFor(user.MXID, key); e != nil {
		return e, nil
	}
	as, ok := br.networks[key.Network].net.(AutoSessioner)
	if !ok || user.Permission < PermRelay {
		return nil, nil
	}
	// Two portals' queues may ask for the same user at once; one login.
	unlock := br.portalLocks.lock(PortalKey{Network: key.Network, Receiver: "auto:" + string(user.MXID)})
	defer unlock()
	if e := br.sessionFor(user.MXID, key); e != nil {
		return e, nil
	}
	login, sess, err := as.AutoSession(ctx, user)
	if err != nil {
		return nil, refuse("Could not connect you to %s: %v", key.Network, err)
	} else if sess == nil || login == nil {
		return nil, nil
	}
	if login.User != user.MXID || login.Network != key.Network {
		login.User, login.Network = user.MXID, key.Network
	}
	if err := br.store.saveLogin(ctx, login); err != nil {
		return nil, err
	}
	br.addSession(login, sess)
	sess.Connect(br.sessionCtx(login))
	for _, e := range br.userSessions(user.MXID, key.Network) {
		if e.login.ID == login.ID {
			return e, nil
		}
	}
	return nil, nil
}

// sessionOrRelay finds who sends for a Matrix user in a portal: their own
// session, else the network's relay when their permission allows it.
func (br *Bridge) sessionOrRelay(ctx context.Context, portal *Portal, sender *User) (Session, RelayHandler, error) {
	if e, err := br.sessionOrAuto(ctx, portal.Key, sender); err != nil {
		return nil, nil, err
	} else if e != nil {
		return e.sess, nil, nil
	}
	ne := br.networks[portal.Key.Network]
	if rh, ok := ne.net.(RelayHandler); ok && ne.info.Relay && sender.Permission >= PermRelay {
		return nil, rh, nil
	}
	return nil, nil, refuse("You are not logged in to %s, so your message was not sent. Log in with `login %s ...` in a chat with %s.",
		ne.info.DisplayName, portal.Key.Network, br.AS.BotMXID())
}

func (br *Bridge) matrixMessage(ctx context.Context, portal *Portal, sender *User, evt *event.Event) error {
	content := evt.Content.AsMessage()
	if content == nil {
		return nil
	}
	if existing, err := br.store.messageByEventID(ctx, evt.ID); err != nil {
		return err
	} else if existing != nil {
		return nil // already sent in an earlier attempt
	}
	sess, relay, err := br.sessionOrRelay(ctx, portal, sender)
	if err != nil {
		return err
	}
	msg := &MatrixMessage{Portal: portal, Sender: sender, Event: evt, Content: content}
	if content.RelatesTo != nil {
		if replyTo := content.RelatesTo.GetReplyTo(); replyTo != "" {
			msg.ReplyTo = sameRoom(br.store.messageByEventID(ctx, replyTo))(evt.RoomID)
		}
		if root := content.RelatesTo.GetThreadParent(); root != "" {
			msg.ThreadRoot = sameRoom(br.store.messageByEventID(ctx, root))(evt.RoomID)
		}
		if target := content.RelatesTo.GetReplaceID(); target != "" {
			return br.matrixEdit(ctx, sess, msg, target)
		}
	}
	var res *MessageResult
	if sess != nil {
		res, err = sess.HandleMatrixMessage(ctx, msg)
	} else {
		msg.SenderName = br.displayName(ctx, portal.MXID, sender.MXID)
		res, err = relay.HandleRelayMessage(ctx, msg)
	}
	if err != nil {
		return &sendError{network: portal.Key.Network, err: err}
	}
	if res == nil || res.ID == "" {
		return nil
	}
	_, err = br.store.insertMessage(ctx, &Message{
		Portal: portal.Key, RemoteID: res.ID, RoomID: portal.MXID, EventID: evt.ID, SenderMXID: sender.MXID,
		Kind: kindMessage, Timestamp: timeOr(res.Timestamp, evt.Timestamp),
	})
	return err
}

func (br *Bridge) displayName(ctx context.Context, room id.RoomID, user id.UserID) string {
	if m, err := br.AS.StateStore.TryGetMember(ctx, room, user); err == nil && m != nil && m.Displayname != "" {
		return m.Displayname
	}
	return user.Localpart()
}

func (br *Bridge) matrixEdit(ctx context.Context, sess Session, msg *MatrixMessage, target id.EventID) error {
	if sess == nil {
		return refuse("Edits are not relayed; log in to edit your messages on %s.", msg.Portal.Key.Network)
	}
	eh, ok := sess.(EditHandler)
	if !ok {
		return refuse("Edits are %v.", ErrNotSupported)
	}
	orig, err := br.store.messageByEventID(ctx, target)
	if err != nil {
		return err
	}
	if orig == nil || orig.RoomID != msg.Portal.MXID {
		return refuse("That message was never bridged, so the edit was not sent.")
	}
	if orig.SenderMXID != msg.Sender.MXID {
		return nil // only the author's edits count; clients do not offer others'
	}
	edit := &MatrixEdit{MatrixMessage: *msg, Target: orig}
	if msg.Content.NewContent != nil {
		edit.Content = msg.Content.NewContent
	}
	return eh.HandleMatrixEdit(ctx, edit)
}

func (br *Bridge) matrixReaction(ctx context.Context, portal *Portal, sender *User, evt *event.Event) error {
	content := evt.Content.AsReaction()
	if content == nil || content.RelatesTo.EventID == "" {
		return nil
	}
	e := br.sessionFor(sender.MXID, portal.Key)
	if e == nil {
		return nil // reactions are not relayed
	}
	rh, ok := e.sess.(ReactionHandler)
	if !ok {
		return refuse("Reactions are %v.", ErrNotSupported)
	}
	target, err := br.store.messageByEventID(ctx, content.RelatesTo.EventID)
	if err != nil || target == nil || target.RoomID != evt.RoomID {
		return err
	}
	r := &MatrixReaction{Portal: portal, Sender: sender, Event: evt, Target: target, Key: content.RelatesTo.Key}
	if err := rh.HandleMatrixReaction(ctx, r); err != nil {
		return err
	}
	_, err = br.store.insertMessage(ctx, &Message{
		Portal: portal.Key, RemoteID: reactionRemoteID(target.RemoteID, e.login.RemoteID, r.Key), RoomID: portal.MXID,
		EventID: evt.ID, SenderMXID: sender.MXID, RemoteSender: e.login.RemoteID, Kind: kindReaction,
		TargetID: target.RemoteID, Timestamp: timeOr(time.Time{}, evt.Timestamp),
	})
	return err
}

func (br *Bridge) matrixRedaction(ctx context.Context, portal *Portal, sender *User, evt *event.Event) error {
	redacts := evt.Redacts
	if redacts == "" {
		if c := evt.Content.AsRedaction(); c != nil {
			redacts = c.Redacts
		}
	}
	target, err := br.store.messageByEventID(ctx, redacts)
	if err != nil || target == nil || target.RoomID != evt.RoomID {
		return err
	}
	if target.SenderMXID != sender.MXID {
		// Homeservers deliver redactions they will not apply; only the
		// author's own deletions go to the remote side.
		return nil
	}
	e := br.sessionFor(sender.MXID, portal.Key)
	if e == nil {
		return nil
	}
	if target.Kind == kindReaction {
		rh, ok := e.sess.(ReactionHandler)
		if !ok {
			return nil
		}
		msg, err := br.store.messageByRemoteID(ctx, portal.Key, target.TargetID)
		if err != nil || msg == nil {
			return err
		}
		_, key := splitReactionID(target.RemoteID)
		if err := rh.HandleMatrixReactionRemove(ctx, &MatrixReaction{Portal: portal, Sender: sender, Event: evt, Target: msg, Key: key}); err != nil {
			return err
		}
		return br.store.deleteMessage(ctx, target.EventID)
	}
	rh, ok := e.sess.(RedactionHandler)
	if !ok {
		return refuse("Deleting messages is %v.", ErrNotSupported)
	}
	if err := rh.HandleMatrixRedaction(ctx, &MatrixRedaction{Portal: portal, Sender: sender, Event: evt, Target: target}); err != nil {
		return err
	}
	return br.store.deleteMessage(ctx, target.EventID)
}

func (br *Bridge) matrixTopic(ctx context.Context, portal *Portal, sender *User, evt *event.Event) error {
	e := br.sessionFor(sender.MXID, portal.Key)
	if e == nil {
		return nil
	}
	th, ok := e.sess.(TopicHandler)
	if !ok {
		return nil
	}
	topic := ""
	if evt.Type == event.StateTopic {
		if c := evt.Content.AsTopic(); c != nil {
			topic = c.Topic
		}
		return th.HandleMatrixTopic(ctx, portal, sender, topic)
	}
	return nil
}

// matrixPowerLevels sends level changes of ghosts and of Matrix users with
// a session there to the sender's session.
func (br *Bridge) matrixPowerLevels(ctx context.Context, portal *Portal, sender *User, evt *event.Event) error {
	newPL := evt.Content.AsPowerLevels()
	if newPL == nil {
		return nil
	}
	oldPL := previousPowerLevels(ctx, evt)
	if oldPL == nil {
		return nil // nothing to compare with
	}
	// Moderators may change levels (so remote ops can op and voice), but
	// what each level allows is the room admins' to set.
	if oldPL.GetUserLevel(sender.MXID) < adminLevel && !samePermissions(oldPL, newPL) {
		return fmt.Errorf("%w: only room admins may change what each power level allows", ErrRefused)
	}
	changes := map[RemoteUserID]int{}
	ghostChanged := false
	seen := map[id.UserID]bool{}
	for user := range newPL.Users {
		seen[user] = true
	}
	for user := range oldPL.Users {
		seen[user] = true
	}
	for user := range seen {
		if newPL.GetUserLevel(user) == oldPL.GetUserLevel(user) || user == br.AS.BotMXID() {
			continue
		}
		if remote, ok := br.remoteIdentity(portal, user); ok {
			changes[remote] = newPL.GetUserLevel(user)
			_, _, isGhost := br.ghostOf(user)
			ghostChanged = ghostChanged || isGhost
		}
	}
	if len(changes) == 0 {
		return nil
	}
	e := br.sessionFor(sender.MXID, portal.Key)
	if e == nil && ghostChanged {
		return fmt.Errorf("%w: you have no %s session to change ops with", ErrRefused, portal.Key.Network)
	} else if e == nil {
		// Only Matrix users' levels, set by someone who is not on the
		// remote side: a Matrix matter.
		return nil
	}
	ph, ok := e.sess.(PowerLevelHandler)
	if !ok {
		return nil
	}
	return ph.HandleMatrixPowerLevels(ctx, portal, sender, changes)
}

// adminLevel is the level of room admins (and the bot).
const adminLevel = 100

// samePermissions says whether two power levels contents differ at most in
// users' own levels.
func samePermissions(a, b *event.PowerLevelsEventContent) bool {
	return a.UsersDefault == b.UsersDefault && a.EventsDefault == b.EventsDefault &&
		a.StateDefault() == b.StateDefault() && a.Invite() == b.Invite() && a.Kick() == b.Kick() &&
		a.Ban() == b.Ban() && a.Redact() == b.Redact() && a.Notifications.Room() == b.Notifications.Room() && maps.Equal(a.Events, b.Events)
}

// remoteIdentity is who a room member is on the portal's network: a
// ghost's remote user, or a Matrix user's own remote identity when they
// have a session that reaches the chat.
func (br *Bridge) remoteIdentity(portal *Portal, user id.UserID) (RemoteUserID, bool) {
	if nid, remote, ok := br.ghostOf(user); ok {
		return remote, nid == portal.Key.Network
	}
	e := br.sessionFor(user, portal.Key)
	if e == nil {
		return "", false
	}
	if ci, ok := e.sess.(CurrentIdentity); ok {
		return ci.CurrentRemoteID(), true
	}
	return e.login.RemoteID, e.login.RemoteID != ""
}

// revertIfRefused puts a state event back as it was when the adapter
// refused the change (the user lacks the remote rights), so Matrix does not
// show what the remote side does not have, and tells the user why.
func (br *Bridge) revertIfRefused(ctx context.Context, portal *Portal, evt *event.Event, err error) error {
	if !errors.Is(err, ErrRefused) {
		return err
	}
	var prev any
	switch evt.Type {
	case event.StatePowerLevels:
		if pl := previousPowerLevels(ctx, evt); pl != nil {
			prev = pl
		}
	case event.StateTopic:
		prev = &event.TopicEventContent{Topic: portal.Topic}
	}
	if prev == nil {
		// Without the previous state, a revert could only wipe it.
		return refuse("%s (the change could not be undone automatically)", refusedText(err))
	}
	if _, serr := br.AS.BotIntent().SendStateEvent(ctx, portal.MXID, evt.Type, evt.GetStateKey(), prev); serr != nil {
		zerolog.Ctx(ctx).Warn().Err(serr).Msg("Failed to revert a refused state change")
	}
	return refuse("%s was changed back: %s", evt.Type.Type, refusedText(err))
}

type prevPowerLevelsKey struct{}

// previousPowerLevels is the room's power levels before evt: prev_content
// when the homeserver sent it, else what the state cache knew.
func previousPowerLevels(ctx context.Context, evt *event.Event) *event.PowerLevelsEventContent {
	if evt.Unsigned.PrevContent != nil {
		_ = evt.Unsigned.PrevContent.ParseRaw(event.StatePowerLevels)
		if p := evt.Unsigned.PrevContent.AsPowerLevels(); p != nil && len(evt.Unsigned.PrevContent.VeryRaw) > 2 {
			return p
		}
	}
	if p, ok := ctx.Value(prevPowerLevelsKey{}).(*event.PowerLevelsEventContent); ok {
		return p
	}
	return nil
}

// handleMatrixMember handles invites to the bot (management rooms), invites
// to ghosts (DMs), and membership of users and ghosts in portals.
func (br *Bridge) handleMatrixMember(ctx context.Context, evt *event.Event) error {
	content := evt.Content.AsMember()
	if content == nil || evt.StateKey == nil {
		return nil
	}
	target := id.UserID(*evt.StateKey)
	if content.Membership != event.MembershipInvite {
		if err := br.store.removePendingInvite(ctx, evt.RoomID, target); err != nil {
			return err
		}
	}
	if evt.Sender == br.AS.BotMXID() || puppet.IsDoublePuppetEcho(evt, br.Config.Appservice.ID) {
		return nil
	}
	if _, _, senderIsGhost := br.ghostOf(evt.Sender); senderIsGhost {
		return nil
	}
	if content.Membership == event.MembershipInvite {
		if target == br.AS.BotMXID() {
			return br.botInvited(ctx, evt, content)
		}
		if nid, remote, ok := br.ghostOf(target); ok {
			return br.ghostInvited(ctx, evt, nid, remote)
		}
	}
	portal, err := br.store.portalByRoom(ctx, evt.RoomID)
	if err != nil || portal == nil {
		return err
	}
	prev, _ := ctx.Value(prevMembershipKey{}).(event.Membership)
	if evt.Unsigned.PrevContent != nil {
		_ = evt.Unsigned.PrevContent.ParseRaw(event.StateMember)
		if pc := evt.Unsigned.PrevContent.AsMember(); pc != nil && pc.Membership != "" {
			prev = pc.Membership
		}
	}
	actor := evt.Sender
	m := &MatrixMembership{Portal: portal, Event: evt, Membership: content.Membership, Previous: prev, Reason: content.Reason}
	if nid, remote, ok := br.ghostOf(target); ok {
		if nid != portal.Key.Network || actor == target {
			return nil
		}
		m.Target = remote
	} else if actor != target {
		// Someone else changed a Matrix user's membership (a kick or a
		// ban): the affected user's session acts on it, as if they had
		// left; the contract's empty Target means "the session's own user".
		actor = target
	}
	var e *sessionEntry
	if actor == target && content.Membership == event.MembershipJoin {
		sender, err := br.userFor(ctx, actor)
		if err != nil {
			return err
		}
		if e, err = br.sessionOrAuto(ctx, portal.Key, sender); err != nil {
			return err
		}
		if e != nil && !portal.IsDM {
			br.addToSpace(ctx, actor, portal)
		}
	} else {
		e = br.sessionFor(actor, portal.Key)
	}
	if e == nil {
		if m.Target != "" && (content.Membership == event.MembershipLeave || content.Membership == event.MembershipBan) {
			return refuse("You have no %s session, so %s was only removed on Matrix.", portal.Key.Network, m.Target)
		}
		return nil
	}
	mh, ok := e.sess.(MembershipHandler)
	if !ok {
		return nil
	}
	sender, err := br.userFor(ctx, actor)
	if err != nil {
		return err
	}
	m.Sender = sender
	err = mh.HandleMatrixMembership(ctx, m)
	removed := m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan
	if errors.Is(err, ErrRefused) && m.Target != "" && removed && m.Previous == event.MembershipJoin {
		return br.revertGhostRemoval(ctx, portal, id.UserID(*evt.StateKey), string(m.Target), m.Membership, err)
	} else if errors.Is(err, ErrRefused) {
		// Nothing to bring back (an unban, a ban of someone not in the
		// room): the change stays on Matrix only, and the user is told.
		return refuse("%s: it was done on Matrix only", refusedText(err))
	}
	return err
}

type prevMembershipKey struct{}

// refusedText is an adapter's refusal as the user reads it: its own
// explanation, without the sentinel's words in front.
func refusedText(err error) string {
	return strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
}

// revertGhostRemoval brings back a ghost that a Matrix user kicked or
// banned without the remote rights to: the person is still in the remote
// chat, so the room must show them.
func (br *Bridge) revertGhostRemoval(ctx context.Context, portal *Portal, ghost id.UserID, name string, ms event.Membership, why error) error {
	bot := br.AS.BotIntent()
	if ms == event.MembershipBan {
		if _, err := bot.UnbanUser(ctx, portal.MXID, &mautrix.ReqUnbanUser{UserID: ghost, Reason: "not allowed on the remote side"}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to lift a refused ban")
		}
	}
	// An invite first, in case the room is invite-only; a ghost may join
	// a public room without one, so its failure is not fatal.
	_, _ = bot.InviteUser(ctx, portal.MXID, &mautrix.ReqInviteUser{UserID: ghost})
	if err := br.AS.Intent(ghost).EnsureJoined(ctx, portal.MXID, mauas.EnsureJoinedParams{IgnoreCache: true}); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to bring back a ghost after a refused kick")
		return refuse("%s (and %s could not be brought back)", refusedText(why), name)
	}
	return refuse("%s was brought back: %s", name, refusedText(why))
}

// botInvited joins the bot to a room a permitted user invited it to; a
// direct chat becomes the user's management room.
func (br *Bridge) botInvited(ctx context.Context, evt *event.Event, content *event.MemberEventContent) error {
	bot := br.AS.BotIntent()
	if err := br.ensureBot(ctx); err != nil {
		return err
	}
	user, err := br.userFor(ctx, evt.Sender)
	if err != nil {
		return err
	}
	if user.Permission < PermRelay {
		_, err := bot.LeaveRoom(ctx, evt.RoomID, &mautrix.ReqLeave{Reason: "You are not allowed to use this bridge."})
		if err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to reject invite")
		}
		return nil
	}
	if err := bot.EnsureJoined(ctx, evt.RoomID); err != nil {
		return fmt.Errorf("join management room: %w", err)
	}
	if !content.IsDirect && user.ManagementRoom != "" {
		return nil
	}
	if err := br.store.setManagementRoom(ctx, user.MXID, evt.RoomID); err != nil {
		return err
	}
	_, err = bot.SendNotice(ctx, evt.RoomID, "Hello! This is your management room for Isthmus. Send `help` to see the commands.")
	if err != nil {
		return fmt.Errorf("greet user: %w", err)
	}
	return nil
}

// ghostInvited turns a Matrix user's new room with a ghost into a DM portal
// when the user has a session that can start DMs.
func (br *Bridge) ghostInvited(ctx context.Context, evt *event.Event, nid NetworkID, remote RemoteUserID) error {
	// The ghost must be registered to answer the invite at all, even to
	// refuse it (homeservers refuse actions of unregistered appservice users).
	ghost, err := br.ghost(ctx, nid, remote, nil)
	if err != nil {
		return err
	}
	reject := func(reason string) error {
		if _, err := ghost.LeaveRoom(ctx, evt.RoomID, &mautrix.ReqLeave{Reason: reason}); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to reject ghost invite")
		}
		// Some homeservers drop the reason of a rejected invite: say it
		// where the user will read it too.
		br.Notify(ctx, evt.Sender, fmt.Sprintf("%s could not join %s: %s", ghost.UserID, evt.RoomID, reason))
		return nil
	}
	inviter, err := br.userFor(ctx, evt.Sender)
	if err != nil {
		return err
	}
	if p, err := br.store.portalByRoom(ctx, evt.RoomID); err != nil {
		return err
	} else if p != nil {
		if p.Key.Network != nid || inviter.Permission < PermRelay {
			return reject("Only people of this chat's network can be invited here.")
		}
		return ghost.EnsureJoined(ctx, evt.RoomID)
	}
	if inviter.Permission < PermUser {
		return reject("You are not allowed to start chats on " + string(nid) + ".")
	}
	// Any of the user's logins on the network that can open DMs; a chat
	// filter (ChatMember) does not apply, the chat does not exist yet.
	var ds DMStarter
	var loggedIn bool
	for _, e := range br.userSessions(evt.Sender, nid) {
		loggedIn = true
		if d, ok := e.sess.(DMStarter); ok {
			ds = d
			break
		}
	}
	if !loggedIn {
		return reject("You are not logged in to " + string(nid) + ".")
	}
	if ds == nil {
		return reject("Direct chats are not supported on " + string(nid) + ".")
	}
	chat, err := ds.StartDM(ctx, remote)
	if err != nil {
		return reject(fmt.Sprintf("Could not start a chat: %v", err))
	}
	key := PortalKey{Network: nid, Chat: chat, Receiver: string(evt.Sender)}
	unlock := br.portalLocks.lock(key)
	defer unlock()
	existing, err := br.store.portalByKey(ctx, key)
	if err != nil {
		return err
	}
	if existing != nil && existing.MXID != "" && existing.MXID != evt.RoomID {
		_ = reject("You already have a chat with them: " + existing.MXID.String())
		return nil
	}
	if _, err := ghost.JoinRoomByID(ctx, evt.RoomID); err != nil {
		return fmt.Errorf("accept DM invite: %w", err)
	}
	_ = br.AS.StateStore.SetMembership(ctx, evt.RoomID, ghost.UserID, event.MembershipJoin)
	// The bot joins too, so it can report errors and keep the room bridged.
	if _, err := ghost.InviteUser(ctx, evt.RoomID, &mautrix.ReqInviteUser{UserID: br.AS.BotMXID()}); err == nil {
		_ = br.AS.BotIntent().EnsureJoined(ctx, evt.RoomID)
	}
	p := &Portal{Key: key, MXID: evt.RoomID, IsDM: true}
	return br.store.upsertPortal(ctx, p)
}

// QueryUser answers the homeserver's question "does this user exist?" for
// our namespace: a ghost ID that decodes is registered on the spot.
func (br *Bridge) QueryUser(ctx context.Context, user id.UserID) (bool, error) {
	nid, remote, ok := br.ghostOf(user)
	if !ok {
		return false, nil
	}
	if _, err := br.ghost(ctx, nid, remote, nil); err != nil {
		return false, err
	}
	return true, nil
}

// QueryAlias creates a portal for an alias in a network's namespace when
// the network can resolve the chat.
func (br *Bridge) QueryAlias(ctx context.Context, alias id.RoomAlias) (bool, error) {
	for _, nid := range br.netOrder {
		ne := br.networks[nid]
		if ne.aliases == nil {
			continue
		}
		chatName, ok := ne.aliases.RemoteID(alias)
		if !ok {
			continue
		}
		cr, ok := ne.net.(ChatResolver)
		if !ok {
			return false, nil
		}
		chat, info, err := cr.ResolveChat(ctx, chatName)
		if errors.Is(err, ErrPortalNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		key := PortalKey{Network: nid, Chat: chat}
		if existing, err := br.store.portalByKey(ctx, key); err != nil {
			return false, err
		} else if existing != nil && existing.MXID != "" {
			// The portal exists under another alias: point this one at it.
			if _, err := br.AS.BotIntent().CreateAlias(ctx, alias, existing.MXID); err != nil {
				return false, fmt.Errorf("add alias: %w", err)
			}
			return true, nil
		}
		_, err = br.ensurePortalRoomWithAlias(ctx, key, info, alias)
		return err == nil, err
	}
	return false, nil
}

func (br *Bridge) ensurePortalRoomWithAlias(ctx context.Context, key PortalKey, info *ChatInfo, alias id.RoomAlias) (*Portal, error) {
	p, err := br.ensurePortalRoom(ctx, key, info)
	if err != nil {
		return nil, err
	}
	// The room was created with the template alias; the homeserver asked
	// for this exact alias, which may differ in case or escaping.
	if _, err := br.AS.BotIntent().ResolveAlias(ctx, alias); err != nil {
		if _, err := br.AS.BotIntent().CreateAlias(ctx, alias, p.MXID); err != nil {
			return nil, fmt.Errorf("add alias: %w", err)
		}
	}
	return p, nil
}
