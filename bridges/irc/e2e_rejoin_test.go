package irc

import (
	"strings"
	"testing"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// refusedRejoin plays the bot kicked from a channel it cannot get back
// into: the room is told once that IRC no longer reaches it, and told
// again when the bot is back, after which IRC messages flow again. carol
// holds op in #locked, which she creates.
func (w *world) refusedRejoin(t *testing.T, carol *irctest.Client, alice0 *mxUser) {
	carol.Join("#locked")
	room := alice0.joinChannel("#locked")
	alice0.in(t).eventually("carol in #locked", func() bool { return alice0.in(t).joined(room)[ghostMXID("carol")] })

	t.Run("a bridged channel the bot is kicked from and cannot rejoin is told in its room, and its return too", func(t *testing.T) {
		alice := alice0.in(t)
		carol.Send("MODE #locked +i")
		carol.Send("KICK #locked IsthmusBot :out you go")
		alice.waitFor(room, "the notice that IRC does not reach the room", noticeFromBot("cannot get into #locked on IRC"))
		carol.Send("MODE #locked -i")
		carol.WaitFor("the bot back in #locked", func(m *ircproto.Message) bool {
			return m.Command == "JOIN" && strings.EqualFold(m.Nick(), "IsthmusBot") && strings.EqualFold(m.Params[0], "#locked")
		})
		alice.waitFor(room, "the notice that the bot is back", noticeFromBot("The bridge is back in #locked on IRC."))
		carol.Send("PRIVMSG #locked :can you hear me again")
		alice.waitFor(room, "carol's message after the return", isBody("can you hear me again"))
		told := 0
		for _, evt := range alice.timeline(room) {
			if noticeFromBot("cannot get into #locked")(evt) {
				told++
			}
		}
		if told != 1 {
			t.Errorf("the room was told %d times that the bot cannot get in, want once", told)
		}
	})
}
