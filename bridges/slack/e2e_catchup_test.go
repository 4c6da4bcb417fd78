package slack_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
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
