package irc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/internal/testground/dendrite"
	"github.com/isthmus-bridge/isthmus/puppet"
)

// world is one end-to-end test: a real IRC server, a real Dendrite, and
// the bridge running in this process with the IRC adapter, on the shared
// harness in internal/testground/bridgeworld.
type world struct {
	*bridgeworld.World
	t   *testing.T
	irc *irctest.Server
	hs  *dendrite.Server
}

// newWorld starts the IRC server of kind, Dendrite with the bridge's
// registration, and the bridge. extra sets keys of the network's config.
func newWorld(t *testing.T, kind irctest.Kind, extra ...map[string]any) *world {
	t.Helper()
	w := &world{t: t, irc: irctest.Start(t, kind)}
	opts := worldOptions(w.irc.Addr)
	network := opts.Networks["irc"].([]any)[0].(map[string]any)
	for _, e := range extra {
		for k, v := range e {
			network[k] = v
		}
	}
	w.World = bridgeworld.Start(t, opts)
	w.hs = w.HS
	return w
}

// worldOptions is the bridge of an end-to-end test, with one IRC network
// "test" on the server at addr.
func worldOptions(addr string) bridgeworld.Options {
	return bridgeworld.Options{
		Permissions: map[string]string{"*": "relay", bridgeworld.Domain: "user"},
		Networks: map[string]any{"irc": []any{map[string]any{
			"name": "test", "address": addr, "dynamic_channels": true,
			"limits":     map[string]any{"connects_per_second": 50, "connects_in_flight": 20, "lines_per_second": 20, "line_burst": 20},
			"membership": map[string]any{"join_rate": 100, "netsplit_delay": "1s", "away_poll": "300ms"},
		}}},
	}
}

func (w *world) startBridge() { w.StartBridge() }
func (w *world) stopBridge()  { w.StopBridge() }

// pushRaw delivers a transaction as the homeserver would, for what
// Dendrite never sends (ephemeral events).
func (w *world) pushRaw(body map[string]any) {
	w.t.Helper()
	w.PushRaw(body)
}

// admin is a Matrix client with the bridge bot's token. It stands in for
// a room admin: in a portal the bot is the only user at level 100, so only
// it can make a Matrix user a moderator.
func (w *world) admin() *mautrix.Client {
	w.t.Helper()
	client, err := mautrix.NewClient(w.hs.URL, botMXID(), w.Config.Appservice.ASToken)
	require.NoError(w.t, err)
	return client
}

// mxUser is a Matrix user of the test homeserver.
type mxUser struct {
	t      *testing.T
	id     id.UserID
	client *mautrix.Client
}

func (w *world) newUser(localpart string) *mxUser {
	uid, tok := w.hs.CreateUser(w.t, localpart, "password-"+localpart)
	client, err := mautrix.NewClient(w.hs.URL, id.UserID(uid), tok)
	require.NoError(w.t, err)
	return &mxUser{t: w.t, id: id.UserID(uid), client: client}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ghostMXID(nick string) id.UserID {
	n, _ := puppet.NewNamer("irc_{network}_{id}", "test", bridgeworld.Domain)
	return n.MXID(ircFold(nick))
}

// ircFold folds like both test servers do for the nicks tests use.
func ircFold(s string) string { return strings.ToLower(s) }

func channelAlias(channel string) id.RoomAlias {
	n, _ := puppet.NewAliasNamer("irc_{network}_{chat}", "test", bridgeworld.Domain)
	return n.Alias(channel)
}

func botMXID() id.UserID { return bridgeworld.BotMXID() }

// joinChannel joins a channel's portal by its alias.
func (u *mxUser) joinChannel(channel string) id.RoomID {
	resp, err := u.client.JoinRoom(ctxT(u.t), channelAlias(channel).String(), nil)
	require.NoError(u.t, err)
	return resp.RoomID
}

// bw is this user seen through the shared harness, failing u.t.
func (u *mxUser) bw() *bridgeworld.User {
	return &bridgeworld.User{T: u.t, ID: u.id, Client: u.client}
}

// timeline returns the room's events, oldest first.
func (u *mxUser) timeline(room id.RoomID) []*event.Event { return u.bw().Timeline(room) }

// waitFor polls the room until an event matches, failing after 20 s.
func (u *mxUser) waitFor(room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	u.t.Helper()
	return u.bw().WaitFor(room, what, match)
}

// in returns the user for use in subtest t, so failures end that test.
func (u *mxUser) in(t *testing.T) *mxUser {
	c := *u
	c.t = t
	return &c
}

// eventually polls cond until it holds, failing after 20 s.
func (u *mxUser) eventually(what string, cond func() bool) {
	u.t.Helper()
	require.Eventually(u.t, cond, 20*time.Second, 100*time.Millisecond, what)
}

// powerLevels reads the room's power levels.
func (u *mxUser) powerLevels(room id.RoomID) *event.PowerLevelsEventContent {
	var pl event.PowerLevelsEventContent
	require.NoError(u.t, u.client.StateEvent(ctxT(u.t), room, event.StatePowerLevels, "", &pl))
	return &pl
}

// setLevel changes one user's power level as client.
func setLevel(t *testing.T, client *mautrix.Client, room id.RoomID, user id.UserID, level int) {
	var pl event.PowerLevelsEventContent
	require.NoError(t, client.StateEvent(ctxT(t), room, event.StatePowerLevels, "", &pl))
	pl.SetUserLevel(user, level)
	_, err := client.SendStateEvent(ctxT(t), room, event.StatePowerLevels, "", &pl)
	require.NoError(t, err)
}

// levelIs reports whether user has level in the room now.
func (u *mxUser) levelIs(room id.RoomID, user id.UserID, level int) func() bool {
	return func() bool {
		var pl event.PowerLevelsEventContent
		return u.client.StateEvent(ctxT(u.t), room, event.StatePowerLevels, "", &pl) == nil && pl.GetUserLevel(user) == level
	}
}

// joinRuleIs reports whether the room's join rule is rule now.
func (u *mxUser) joinRuleIs(room id.RoomID, rule event.JoinRule) func() bool {
	return func() bool {
		var jr event.JoinRulesEventContent
		return u.client.StateEvent(ctxT(u.t), room, event.StateJoinRules, "", &jr) == nil && jr.JoinRule == rule
	}
}

// topicIs reports whether the room's topic is topic now.
func (u *mxUser) topicIs(room id.RoomID, topic string) func() bool {
	return func() bool {
		var tc event.TopicEventContent
		return u.client.StateEvent(ctxT(u.t), room, event.StateTopic, "", &tc) == nil && tc.Topic == topic
	}
}

// listed reports whether the room is in the public room directory.
func (u *mxUser) listed(room id.RoomID) bool {
	resp, err := u.client.PublicRooms(ctxT(u.t), &mautrix.ReqPublicRooms{Limit: 100})
	require.NoError(u.t, err)
	for _, r := range resp.Chunk {
		if r.RoomID == room {
			return true
		}
	}
	return false
}

// noticeFromBot matches a notice of the bridge bot holding every part.
func noticeFromBot(parts ...string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		if evt.Sender != botMXID() || evt.Type != event.EventMessage || evt.Content.AsMessage().MsgType != event.MsgNotice {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(bodyOf(evt), p) {
				return false
			}
		}
		return true
	}
}

func bodyOf(evt *event.Event) string {
	if m := evt.Content.AsMessage(); m != nil && evt.Type == event.EventMessage {
		return m.Body
	}
	return ""
}

func isBody(body string) func(*event.Event) bool {
	return func(evt *event.Event) bool { return bodyOf(evt) == body }
}

// isMember matches a membership event of user.
func isMember(user id.UserID, ms event.Membership) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		if evt.Type != event.StateMember || evt.GetStateKey() != user.String() {
			return false
		}
		m := evt.Content.AsMember()
		return m != nil && m.Membership == ms
	}
}

func (u *mxUser) joined(room id.RoomID) map[id.UserID]bool {
	resp, err := u.client.JoinedMembers(ctxT(u.t), room)
	require.NoError(u.t, err)
	out := map[id.UserID]bool{}
	for user := range resp.Joined {
		out[user] = true
	}
	return out
}

// managementRoom opens a DM with the bot and waits for its greeting.
func (u *mxUser) managementRoom() id.RoomID {
	resp, err := u.client.CreateRoom(ctxT(u.t), &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{botMXID()}})
	require.NoError(u.t, err)
	u.waitFor(resp.RoomID, "bot greeting", func(evt *event.Event) bool {
		return evt.Sender == botMXID() && strings.Contains(bodyOf(evt), "management room")
	})
	return resp.RoomID
}

// command sends a management command and returns the bot's reply.
func (u *mxUser) command(room id.RoomID, text string) string {
	before := len(u.timeline(room))
	_, err := u.client.SendText(ctxT(u.t), room, text)
	require.NoError(u.t, err)
	var reply string
	u.eventually("a reply to "+strings.Fields(text)[0], func() bool {
		evs := u.timeline(room)
		for _, evt := range evs[min(before+1, len(evs)):] {
			if evt.Sender == botMXID() && evt.Type == event.EventMessage {
				reply = bodyOf(evt)
				return true
			}
		}
		return false
	})
	return reply
}
