package slack_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// This file holds the parts of TestEndToEnd about conversations coming
// and going: channels and group DMs created in the Slack app, and people
// joining and leaving on either side.

// memberEvent matches a membership change of user in the room.
func memberEvent(user id.UserID, m event.Membership) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		return evt.Type == event.StateMember && evt.GetStateKey() == user.String() && evt.Content.AsMember().Membership == m
	}
}

// e2eConversations: a channel Alice creates in the Slack app, people
// joining and leaving it, Alice leaving it from Matrix, and a group DM.
func e2eConversations(t *testing.T, w *world) {
	ctx := context.Background()
	bob, carol := w.ghost("U002"), w.ghost("U003")
	var side string
	var room id.RoomID

	t.Run("a channel the user creates in the Slack app is a portal they are invited to", func(t *testing.T) {
		w := w.in(t)
		side = w.emu.CreateChannel("U001", "side-project")
		w.waitSlack("the invite", func() bool {
			for r := range w.aliceUser().Invites() {
				room = r
				return true
			}
			return false
		})
		assert.Equal(t, room, w.joinPortal(side), "the invite is to the channel's portal")
	})

	t.Run("people joining and leaving on Slack join and leave the room", func(t *testing.T) {
		w := w.in(t)
		require.NotEmpty(t, room)
		w.emu.Join(side, "U002")
		w.waitFor(room, "bob's ghost joining", memberEvent(bob, event.MembershipJoin))
		w.emu.Post(side, "U002", "hi from the side", "")
		w.waitFor(room, "bob's message", from(bob, "hi from the side"))
		w.emu.Leave(side, "U002")
		w.waitFor(room, "bob's ghost leaving", memberEvent(bob, event.MembershipLeave))
	})

	t.Run("leaving the room on Matrix leaves the channel on Slack", func(t *testing.T) {
		w := w.in(t)
		require.NotEmpty(t, room)
		_, err := w.alice.LeaveRoom(ctx, room)
		require.NoError(t, err)
		w.waitSlack("alice out of the channel", func() bool { return !slices.Contains(w.emu.Members(side), "U001") })
	})

	t.Run("a group DM opened on Slack is a direct chat for the user, both ways", func(t *testing.T) {
		w := w.in(t)
		mpim := w.emu.OpenMPIM("U002", "U001", "U003")
		dm := w.directInvite()
		_, err := w.alice.JoinRoomByID(ctx, dm)
		require.NoError(t, err)
		w.waitFor(dm, "carol's ghost in the group DM", memberEvent(carol, event.MembershipJoin))
		w.emu.Post(mpim, "U002", "lunch, you two?", "")
		w.waitFor(dm, "bob's question", from(bob, "lunch, you two?"))
		_, err = w.alice.SendText(ctx, dm, "sure")
		require.NoError(t, err)
		w.slackMessage(mpim, "alice's answer", func(m slackemu.Message) bool { return m.User == "U001" && m.Text == "sure" })
	})
}
