package slack_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
)

func TestEndToEndWorkspaceSpace(t *testing.T) {
	w := newWorld(t, func(o *bridgeworld.Options) { o.Bridge = map[string]any{"spaces": true} })
	var icon bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	require.NoError(t, png.Encode(&icon, img))
	w.emu.SetTeamIcon(icon.Bytes())

	require.Contains(t, w.command("login slack "+e2eAliceTok), "alice")
	alice := w.aliceUser()
	space := alice.JoinSpaceInvite()

	t.Run("the space is the workspace, with its name and icon", func(t *testing.T) {
		var name event.RoomNameEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), space, event.StateRoomName, "", &name))
		assert.Equal(t, "Acme", name.Name)
		var avatar event.RoomAvatarEventContent
		require.NoError(t, alice.Client.StateEvent(bridgeworld.Ctx(t), space, event.StateRoomAvatar, "", &avatar))
		data, err := alice.Client.DownloadBytes(bridgeworld.Ctx(t), avatar.URL.ParseOrIgnore())
		require.NoError(t, err)
		assert.Equal(t, icon.Bytes(), data)
	})

	t.Run("the user's channels are in it", func(t *testing.T) {
		general := w.in(t).joinPortal(w.general)
		require.Eventually(t, func() bool { return alice.InSpace(space, general) }, waitLimit, 200*time.Millisecond, "#general is not in the space")
	})
}
