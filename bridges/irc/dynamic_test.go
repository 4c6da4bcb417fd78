package irc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestDynamicChannelAllowList resolves channel aliases against a
// dynamic_channels allow list: only matching channels are bridged, deny
// still wins over allow, and configured channels need no pattern.
func TestDynamicChannelAllowList(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	carol := srv.Connect(t, "carol")
	for _, ch := range []string{"#team-dev", "#team-secret", "#random", "#bridged"} {
		carol.Join(ch)
	}
	tn := startNetwork(t, srv, func(c *Config) {
		c.DynamicChannels = DynamicChannels{Enabled: true, Allow: []string{"#team-*"}, Deny: []string{"#team-secret"}}
	})
	tn.waitBotIn(t, "#bridged")
	ctx := testCtx(t)
	for _, tc := range []struct {
		name, chat string
		want       bridge.ChatID // "" when refused
	}{
		{"a channel matching an allow pattern is bridged", "#team-dev", "#team-dev"},
		{"the patterns match whatever the case of the name", "#TEAM-Dev", "#team-dev"},
		{"a channel matching no allow pattern is no such room", "#random", ""},
		{"deny wins over allow", "#team-secret", ""},
		{"a configured channel needs no allow pattern", "#bridged", "#bridged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chat, info, err := tn.ResolveChat(ctx, tc.chat)
			if tc.want == "" {
				assert.ErrorIs(t, err, bridge.ErrPortalNotFound)
				assert.Nil(t, tn.bot.channel(tc.chat), "the bot must not join a channel it may not bridge")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, chat)
			require.NotNil(t, info)
			assert.Equal(t, levelOp, info.PowerLevels["carol"], "the bot joined and saw who has ops")
		})
	}
}
