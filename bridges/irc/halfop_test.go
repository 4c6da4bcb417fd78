package irc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestHalfopFromMatrix plays halfop and voice given from Matrix against
// both real servers, which both have halfop (InspIRCd through
// customprefix): a ghost set to the halfop level gets +h and stays there,
// and a Matrix user whose puppet is a halfop gives and takes voice but is
// refused ops.
func TestHalfopFromMatrix(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			carol := srv.Connect(t, "carol")
			carol.Join("#half") // first in, so carol is an op
			gina := srv.Connect(t, "gina")
			gina.Join("#half")
			ivy := srv.Connect(t, "ivy")
			ivy.Join("#half")
			tn := startNetwork(t, srv, func(c *Config) { c.Channels = []ChannelConfig{{Channel: "#half"}} })
			tn.waitBotIn(t, "#half")
			ctx := testCtx(t)
			from := 0
			tn.core.waitEvent(t, &from, "member list", func(ev *bridge.RemoteEvent) bool {
				return ev.Kind == bridge.RemoteChatInfo && ev.ChatInfo.Members != nil
			})
			portal, err := tn.core.GetPortal(ctx, tn.channelKey("#half"))
			require.NoError(t, err)
			require.NotNil(t, portal)
			require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "hello"), "Alice"))
			carol.WaitFor("alice's line", irctest.IsText("PRIVMSG", "hello"))
			p := tn.session(t, alice, "Alice")
			user := &bridge.User{MXID: alice}

			// rankIs waits until the bot sees nick with exactly modes.
			rankIs := func(t *testing.T, nick, modes string) {
				t.Helper()
				require.Eventually(t, func() bool {
					got, in, _ := tn.bot.memberView("#half", nick)
					return in && got == modes
				}, 10*time.Second, 10*time.Millisecond, "%s is not +%s", nick, modes)
			}
			levelEvent := func(t *testing.T, nick string, level int) {
				t.Helper()
				tn.core.waitEvent(t, &from, nick+"'s level", func(ev *bridge.RemoteEvent) bool {
					return hasLevels(ev) && ev.ChatInfo.PowerLevels[bridge.RemoteUserID(nick)] == level
				})
			}
			setLevel := func(t *testing.T, nick string, level int) error {
				return p.HandleMatrixPowerLevels(ctx, portal, user, map[bridge.RemoteUserID]int{bridge.RemoteUserID(nick): level})
			}
			// change sets nick's level from Matrix and checks the MODE
			// alice's puppet sends, the server taking it, and the level
			// that comes back.
			change := func(t *testing.T, nick string, level int, mode, modes string) {
				t.Helper()
				require.NoError(t, setLevel(t, nick, level))
				m := carol.WaitFor(nick+"'s "+mode, irctest.IsCommand("MODE", "Alice[m]"))
				assert.Equal(t, []string{"#half", mode, nick}, m.Params)
				rankIs(t, nick, modes)
				levelEvent(t, nick, level)
			}

			carol.Send("MODE #half +o Alice[m]")
			rankIs(t, "Alice[m]", "o")

			t.Run("an op sets a ghost to the halfop level: +h on IRC, and the level stays", func(t *testing.T) {
				change(t, "gina", levelHalfop, "+h", "h")
				change(t, "gina", 0, "-h", "")
			})

			carol.Send("MODE #half -o+h Alice[m] Alice[m]")
			rankIs(t, "Alice[m]", "h")

			t.Run("a halfop gives and takes voice", func(t *testing.T) {
				change(t, "ivy", levelVoice, "+v", "v")
				change(t, "ivy", 0, "-v", "")
			})

			t.Run("a halfop is refused ops and halfop, and nothing is sent", func(t *testing.T) {
				err := setLevel(t, "ivy", levelOp)
				require.ErrorIs(t, err, bridge.ErrRefused)
				assert.Contains(t, err.Error(), "half-operator in #half")
				err = setLevel(t, "gina", levelHalfop)
				require.ErrorIs(t, err, bridge.ErrRefused)
				gina.Send("PRIVMSG #half :marker refused")
				m := carol.WaitFor("the marker", func(m *ircproto.Message) bool {
					return irctest.IsCommand("MODE", "Alice[m]")(m) || irctest.IsText("PRIVMSG", "marker refused")(m)
				})
				assert.Equal(t, "gina", m.Nick(), "no MODE went out for the refused changes")
			})
		})
	}
}
