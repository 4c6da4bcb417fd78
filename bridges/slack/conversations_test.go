package slack

import (
	"context"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// chatInfoOf matches the chat info event of a conversation.
func chatInfoOf(channel string) func(*bridge.RemoteEvent) bool {
	return func(ev *bridge.RemoteEvent) bool {
		return ev.Kind == bridge.RemoteChatInfo && ev.Portal.Chat == chatKey(team, channel)
	}
}

// TestNewConversations covers conversations that appear while the session
// runs: a channel the user creates in the Slack app, and a group DM someone
// opens with them. Each gets its portal at once, before anyone writes in it.
func TestNewConversations(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	env.core.take(t, chatInfoOf(env.general))

	t.Run("a channel the user creates gets its portal, with them invited", func(t *testing.T) {
		ch := env.emu.CreateChannel("U001", "plans")
		info := env.core.take(t, chatInfoOf(ch))
		assert.True(t, info.CreatePortal)
		require.NotNil(t, info.ChatInfo)
		assert.Equal(t, "plans", *info.ChatInfo.Name)
		assert.Contains(t, info.ChatInfo.Invite, alice)
		assert.False(t, info.ChatInfo.IsDM)
	})

	t.Run("a channel someone else creates is not the user's", func(t *testing.T) {
		ch := env.emu.CreateChannel("U002", "bobs")
		env.emu.Post(env.general, "U002", "after bobs", "")
		env.core.take(t, messageWith("after bobs"))
		env.core.none(t, 0, chatInfoOf(ch))
	})

	t.Run("a group DM someone opens with the user is their portal at once", func(t *testing.T) {
		mpim := env.emu.OpenMPIM("U002", "U001", "U003")
		info := env.core.take(t, chatInfoOf(mpim))
		assert.Equal(t, string(alice), info.Portal.Receiver, "a group DM portal belongs to its receiver")
		assert.True(t, info.CreatePortal)
		assert.True(t, info.ChatInfo.IsDM)
		var members []bridge.RemoteUserID
		for _, m := range info.ChatInfo.Members {
			members = append(members, m.ID)
		}
		assert.ElementsMatch(t, []bridge.RemoteUserID{"T0001-U001", "T0001-U002", "T0001-U003"}, members)

		env.emu.Post(mpim, "U002", "hello both", "")
		msg := env.core.take(t, messageWith("hello both"))
		assert.Equal(t, info.Portal, msg.Portal)
	})

	t.Run("a DM someone opens with the user is their portal at once", func(t *testing.T) {
		// Dave opens the DM from his Slack app: conversations.open, which
		// announces it to both with im_created.
		env.emu.AddToken(slackemu.Token{Value: "xoxp-dave-secret-1", User: "U004"})
		dave := slack.New("xoxp-dave-secret-1", slack.OptionAPIURL(env.emu.APIURL()))
		ch, _, _, err := dave.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U001"}})
		require.NoError(t, err)
		info := env.core.take(t, chatInfoOf(ch.ID))
		assert.Equal(t, string(alice), info.Portal.Receiver, "a DM portal belongs to its receiver")
		assert.True(t, info.CreatePortal)
		require.NotNil(t, info.ChatInfo)
		assert.True(t, info.ChatInfo.IsDM)
		require.NotNil(t, info.ChatInfo.Name)
		assert.Equal(t, "dave", *info.ChatInfo.Name)

		env.emu.Post(ch.ID, "U004", "hi alice", "")
		msg := env.core.take(t, messageWith("hi alice"))
		assert.Equal(t, info.Portal, msg.Portal)
		env.core.none(t, 0, chatInfoOf(ch.ID))
	})

	t.Run("a DM the user opens from Matrix keeps the room they made", func(t *testing.T) {
		chat, err := sess.StartDM(env.ctx, "T0001-U002")
		require.NoError(t, err)
		_, dm, _ := splitKey(string(chat))
		require.NotEmpty(t, env.emu.Members(dm), "the DM is open on Slack")
		// Events reach the session in order: past the fence, its
		// im_created was handled.
		env.emu.Post(env.general, "U002", "fence after the DM", "")
		env.core.take(t, messageWith("fence after the DM"))
		env.core.none(t, 0, chatInfoOf(dm))
	})
}

// TestMatrixMembership: what the user does to their own and others'
// membership in Matrix happens on Slack.
func TestMatrixMembership(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	side := env.emu.AddConversation(slackemu.Conversation{ID: "C0SIDE", Name: "side", Members: []string{"U002"}})
	portal := func(ch string) *bridge.Portal {
		return &bridge.Portal{Key: bridge.PortalKey{Network: networkID, Chat: chatKey(team, ch)}}
	}
	membership := func(p *bridge.Portal, target bridge.RemoteUserID, m event.Membership) error {
		return sess.HandleMatrixMembership(env.ctx, &bridge.MatrixMembership{Portal: p, Sender: &bridge.User{MXID: alice}, Event: &event.Event{Sender: alice}, Target: target, Membership: m})
	}

	t.Run("joining a public channel's portal joins the channel", func(t *testing.T) {
		require.NoError(t, membership(portal(side), "", event.MembershipJoin))
		assert.Contains(t, env.emu.Members(side), "U001")
		require.NoError(t, membership(portal(side), "", event.MembershipJoin), "joining again is harmless")
	})

	t.Run("removing someone's ghost removes them from the channel", func(t *testing.T) {
		require.NoError(t, membership(portal(side), "T0001-U002", event.MembershipLeave))
		assert.NotContains(t, env.emu.Members(side), "U002")
		require.NoError(t, membership(portal(side), "T0001-U002", event.MembershipBan), "gone already")
		assert.ErrorIs(t, membership(portal(side), "T0009-U002", event.MembershipLeave), bridge.ErrPermanent)
	})

	t.Run("a kick Slack refuses is a refusal the core can undo, not an error to retry", func(t *testing.T) {
		general := env.emu.AddConversation(slackemu.Conversation{ID: "C0GEN", Name: "general", General: true, Members: []string{"U001", "U002"}})
		err := membership(portal(general), "T0001-U002", event.MembershipLeave)
		require.ErrorIs(t, err, bridge.ErrRefused)
		assert.NotErrorIs(t, err, bridge.ErrPermanent)
		assert.Contains(t, err.Error(), "removed from #general")
		assert.Contains(t, env.emu.Members(general), "U002")
	})

	t.Run("declining the portal's invite, or being kicked by someone else, keeps the user in the channel", func(t *testing.T) {
		env.emu.Join(side, "U001")
		declined := &bridge.MatrixMembership{Portal: portal(side), Sender: &bridge.User{MXID: alice},
			Event: &event.Event{Sender: alice}, Membership: event.MembershipLeave, Previous: event.MembershipInvite}
		require.NoError(t, sess.HandleMatrixMembership(env.ctx, declined))
		assert.Contains(t, env.emu.Members(side), "U001")
		for _, ms := range []event.Membership{event.MembershipLeave, event.MembershipBan} {
			kicked := &bridge.MatrixMembership{Portal: portal(side), Sender: &bridge.User{MXID: alice},
				Event: &event.Event{Sender: "@mod:example.org"}, Membership: ms, Previous: event.MembershipJoin}
			require.NoError(t, sess.HandleMatrixMembership(env.ctx, kicked))
			assert.Contains(t, env.emu.Members(side), "U001", ms)
		}
	})

	t.Run("leaving the portal leaves the channel", func(t *testing.T) {
		env.emu.Join(side, "U002") // so that Alice is not the last one
		require.NoError(t, membership(portal(side), "", event.MembershipLeave))
		assert.NotContains(t, env.emu.Members(side), "U001")
		leave := env.core.take(t, func(ev *bridge.RemoteEvent) bool {
			return ev.Kind == bridge.RemoteLeave && ev.Member != nil && ev.Member.Matrix == alice
		})
		assert.Equal(t, chatKey(team, side), leave.Portal.Chat)
	})

	t.Run("the general channel cannot be left, and the user is told", func(t *testing.T) {
		env.emu.AddConversation(slackemu.Conversation{ID: "C0ALL", Name: "all", General: true, Members: []string{"U001", "U002"}})
		err := membership(portal("C0ALL"), "", event.MembershipLeave)
		assert.ErrorIs(t, err, bridge.ErrPermanent)
		assert.Contains(t, err.Error(), "still in it")
	})

	t.Run("direct messages are left alone", func(t *testing.T) {
		dm := env.emu.AddConversation(slackemu.Conversation{ID: "D0BOB", Kind: slackemu.IM, Members: []string{"U001", "U002"}})
		p := portal(dm)
		p.Key.Receiver = string(alice)
		require.NoError(t, membership(p, "", event.MembershipLeave))
		assert.ErrorIs(t, membership(p, "T0001-U002", event.MembershipLeave), bridge.ErrNotSupported)
		assert.Contains(t, env.emu.Members(dm), "U001")
	})
}

// TestStartDMSlowOpen: a DM opened from Matrix whose conversations.open is
// slow to answer holds up none of the login's other Slack events, and the
// im_created Slack sends before the answer makes no second portal for it.
func TestStartDMSlowOpen(t *testing.T) {
	env := newEnv(t)
	env.emu.AddToken(slackemu.Token{Value: "xoxp-bob-secret-1", User: "U002"})
	sess := env.login(t, alice, aliceToken)
	env.core.take(t, chatInfoOf(env.general))

	release := env.emu.Hold("conversations.open", "U001")
	t.Cleanup(release)
	type answer struct {
		chat bridge.ChatID
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		chat, err := sess.StartDM(env.ctx, "T0001-U004")
		answered <- answer{chat, err}
	}()
	var dm string
	require.Eventually(t, func() bool { dm = env.emu.IMWith("U001", "U004"); return dm != "" }, 15*time.Second, 10*time.Millisecond,
		"the DM is open on Slack and its im_created sent; the answer is held")

	// The im_created came first on the socket: past it, Slack events flow.
	env.emu.Post(env.general, "U002", "said while the DM opens", "")
	env.core.take(t, messageWith("said while the DM opens"))
	bob := slack.New("xoxp-bob-secret-1", slack.OptionAPIURL(env.emu.APIURL()))
	bobs, _, _, err := bob.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U001"}})
	require.NoError(t, err)
	env.emu.Post(env.general, "U002", "after bob opened his DM", "")
	env.core.take(t, messageWith("after bob opened his DM"))
	select {
	case a := <-answered:
		t.Fatalf("StartDM returned %v, %v while its call was held", a.chat, a.err)
	default:
	}

	release()
	var a answer
	select {
	case a = <-answered:
	case <-time.After(15 * time.Second):
		t.Fatal("StartDM did not return once answered")
	}
	require.NoError(t, a.err)
	assert.Equal(t, chatKey(team, dm), a.chat)

	t.Run("a DM someone else opened meanwhile gets its portal once the call is answered", func(t *testing.T) {
		info := env.core.take(t, chatInfoOf(bobs.ID))
		assert.True(t, info.CreatePortal)
		assert.True(t, info.ChatInfo.IsDM)
	})
	t.Run("the DM opened from Matrix keeps the room the user made", func(t *testing.T) {
		env.emu.Post(env.general, "U002", "fence after the answer", "")
		env.core.take(t, messageWith("fence after the answer"))
		env.core.none(t, 300*time.Millisecond, chatInfoOf(dm))
	})
}

// TestDisconnectDuringSlowOpen: a login disconnected while a DM's
// conversations.open is slow to answer stops at once, and once the answer
// comes nothing of the session runs or logs any more.
func TestDisconnectDuringSlowOpen(t *testing.T) {
	env := newEnv(t)
	sess := env.login(t, alice, aliceToken)
	release := env.emu.Hold("conversations.open", "U001")
	t.Cleanup(release)
	answered := make(chan error, 1)
	go func() {
		_, err := sess.StartDM(env.ctx, "T0001-U004")
		answered <- err
	}()
	require.Eventually(t, func() bool { return env.emu.IMWith("U001", "U004") != "" }, 15*time.Second, 10*time.Millisecond)
	env.emu.Post(env.general, "U002", "fence after the im_created", "")
	env.core.take(t, messageWith("fence after the im_created"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, sess.Disconnect(ctx))
	logged := env.logs.String()
	events := env.core.count()
	release()
	select {
	case err := <-answered:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("StartDM did not return once answered")
	}
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, logged, env.logs.String(), "the session logged after Disconnect")
	assert.Equal(t, events, env.core.count(), "the session queued events after Disconnect")
}
