package slack_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
)

// TestEndToEndThreadCatchUp: replies posted in a Slack thread while the
// bridge's socket was down show in the Matrix thread once it is back.
func TestEndToEndThreadCatchUp(t *testing.T) {
	w := newWorld(t)
	require.Contains(t, w.command("login slack "+e2eAliceTok), "alice")
	room := w.joinPortal(w.general)
	bob, carol := w.ghost("U002"), w.ghost("U003")

	root := w.emu.Post(w.general, "U002", "a thread before the outage", "")
	rootEvt := w.waitFor(room, "the root", from(bob, "a thread before the outage"))
	w.emu.Post(w.general, "U003", "answered live", root)
	w.waitFor(room, "the live reply", from(carol, "answered live"))

	w.emu.SetRTMDown(true)
	w.waitSlack("the socket closed", func() bool { return w.emu.RTMConnections("U001") == 0 })
	var missed []string
	for i := 1; i <= 3; i++ {
		text := fmt.Sprintf("answered during the outage %d", i)
		w.emu.Post(w.general, []string{"U002", "U003"}[i%2], text, root)
		missed = append(missed, text)
	}
	w.emu.SetRTMDown(false)
	w.waitFor(room, "the last missed reply", withBody(missed[2]))

	var got []string
	live := 0
	for _, evt := range w.timeline(room) {
		switch b := body(evt); {
		case b == "answered live":
			live++
		case slices.Contains(missed, b):
			got = append(got, b)
			rel := evt.Content.AsMessage().RelatesTo
			if assert.NotNil(t, rel, "%q is in a thread", b) {
				assert.Equal(t, event.RelThread, rel.Type, "%q is in a thread", b)
				assert.Equal(t, rootEvt.ID, rel.EventID, "%q is in the thread of its root", b)
			}
		}
	}
	assert.Equal(t, missed, got, "each missed reply once, in order")
	assert.Equal(t, 1, live, "the reply seen live is not bridged again")
	assert.Equal(t, 1, w.countAfterMarker(room, withBody(missed[0])), "nothing more came after the catch-up")
}

// TestEndToEndPresenceOfNewMember: someone who joins a channel after the
// bridge connected has their Slack presence on their ghost, without a
// reconnect.
func TestEndToEndPresenceOfNewMember(t *testing.T) {
	w := newWorld(t)
	w.emu.AddUser(slackemu.User{ID: "U004", Name: "dave", Profile: slackemu.UserProfile{DisplayName: "Dave"}})
	require.Contains(t, w.command("login slack "+e2eAliceTok), "alice")
	room := w.joinPortal(w.general)
	w.waitSlack("the first subscription", func() bool { return slices.Equal(w.emu.Subscriptions("U001"), []string{"U002", "U003"}) })

	w.emu.Join(w.general, "U004")
	dave := w.ghost("U004")
	w.waitFor(room, "dave's ghost joining", func(evt *event.Event) bool {
		return evt.Type == event.StateMember && evt.GetStateKey() == dave.String() && evt.Content.AsMember().Membership == event.MembershipJoin
	})
	w.waitSlack("dave subscribed to", func() bool { return slices.Contains(w.emu.Subscriptions("U001"), "U004") })
	for _, active := range []bool{true, false} {
		w.emu.SetPresence("U004", active)
		want := map[bool]event.Presence{true: event.PresenceOnline, false: event.PresenceUnavailable}[active]
		require.Eventually(t, func() bool {
			p, err := w.alice.GetPresence(context.Background(), dave)
			return err == nil && p.Presence == want
		}, waitLimit, 100*time.Millisecond, "dave's ghost never became %s", want)
	}
}
