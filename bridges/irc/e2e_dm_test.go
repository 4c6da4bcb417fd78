package irc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestDMFollowsNickChange: someone who PMs a Matrix user and then changes
// nick goes on in the same DM room, both ways, as users of
// matrix-appservice-irc expect.
func TestDMFollowsNickChange(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			dmFollowsNickChange(t, kind)
		})
	}
}

func dmFollowsNickChange(t *testing.T, kind irctest.Kind) {
	// One new room per sender: a PM after the nick change that counted as
	// a new conversation would be refused.
	w := newWorld(t, kind, map[string]any{"private_messages": map[string]any{"invites_per_hour": 1}})
	// The puppet hears the NICK through a channel it shares with hank,
	// as IRC servers tell nick changes only to those who share one.
	hank := w.irc.Connect(t, "hank")
	hank.Join("#dmnick")
	alice := w.newUser("alice")
	alice.joinChannel("#dmnick")
	hank.WaitFor("alice's puppet", irctest.IsCommand("JOIN", "alice[m]"))

	hank.Send("PRIVMSG alice[m] :before the nick change")
	var dm id.RoomID
	alice.eventually("an invite to the DM", func() bool {
		for r := range alice.bw().Invites() {
			dm = r
			return true
		}
		return false
	})
	_, err := alice.client.JoinRoom(ctxT(t), dm.String(), nil)
	require.NoError(t, err)
	alice.waitFor(dm, "the first PM", isBody("before the nick change"))

	// No wait between the two: the PM from the new nick must not overtake
	// the move and open a room of its own.
	hank.Send("NICK hank2")
	hank.Send("PRIVMSG alice[m] :after the nick change")
	evt := alice.waitFor(dm, "the PM from the new nick in the same room", isBody("after the nick change"))
	assert.Equal(t, ghostMXID("hank2"), evt.Sender)
	alice.eventually("hank2's ghost in the DM, hank's gone", func() bool {
		j := alice.joined(dm)
		return j[ghostMXID("hank2")] && !j[ghostMXID("hank")]
	})
	var name event.RoomNameEventContent
	require.NoError(t, alice.client.StateEvent(ctxT(t), dm, event.StateRoomName, "", &name))
	assert.Equal(t, "hank2", name.Name, "the DM is named after the new nick")
	// A second invite would come late: the core makes it while handling
	// the move or the PM after it. Another PM from hank2 is queued after
	// both, to the same portal, whose events the core handles in order;
	// once it shows in the DM, any invite before it was sent and shows too.
	hank.Send("PRIVMSG alice[m] :once more from the new nick")
	alice.waitFor(dm, "the next PM from the new nick in the same room", isBody("once more from the new nick"))
	assert.Empty(t, alice.bw().Invites(), "no second DM invite")

	_, err = alice.client.SendText(ctxT(t), dm, "a reply to the new nick")
	require.NoError(t, err)
	m := hank.WaitFor("the reply", irctest.IsText("PRIVMSG", "a reply to the new nick"))
	assert.Equal(t, "alice[m]", m.Nick())
	assert.Equal(t, "hank2", m.Params[0])
}
