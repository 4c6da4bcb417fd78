package irc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v2"
)

func TestDecodeConfigs(t *testing.T) {
	t.Run("a minimal entry gets the defaults", func(t *testing.T) {
		cfgs, err := decodeConfigs([]byte(`- {name: libera, address: "irc.libera.chat:6697", tls: true, dynamic_channels: true}`))
		require.NoError(t, err)
		require.Len(t, cfgs, 1)
		c := cfgs[0]
		assert.Equal(t, "{displayname}[m]", c.Puppets.NickTemplate)
		assert.Equal(t, "irc_{network}_{id}", c.GhostTemplate)
		assert.Equal(t, "irc_{network}_{chat}", c.AliasTemplate)
		assert.True(t, c.DynamicChannels.Enabled)
		assert.Equal(t, PMAccept, c.PrivateMessages.Policy)
		assert.Equal(t, 10*time.Second, c.Membership.NetsplitDelay.D())
		assert.Equal(t, 5*time.Minute, c.Membership.AwayPoll.D(), "away polling is on where there is no away-notify")
		assert.Equal(t, "irc.libera.chat:6697", c.hostPort())
	})

	t.Run("the example config decodes", func(t *testing.T) {
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(exampleConfig), &doc))
		section, err := yaml.Marshal(doc["irc"])
		require.NoError(t, err)
		cfgs, err := decodeConfigs(section)
		require.NoError(t, err)
		assert.Equal(t, 5*time.Minute, cfgs[0].Membership.AwayPoll.D())
	})

	t.Run("the long forms decode", func(t *testing.T) {
		cfgs, err := decodeConfigs([]byte(`
- name: oftc
  address: irc.oftc.net
  tls: true
  sasl: {username: bot, password: secret}
  bot: {nick: OftcBot}
  puppets: {nick_template: "{localpart}|m", idle_timeout: 48h, connect_on_join: false}
  channels: [{channel: "#isthmus", key: sesame}]
  dynamic_channels: {enabled: true, allow: ["#isthmus-*"], deny: ["#isthmus-secret"]}
  limits: {max_puppets: 100, connects_per_second: 2, connects_in_flight: 4, lines_per_second: 0.5, line_burst: 3, max_lines: 3}
  ident: {enabled: true, port: 1113}
  private_messages: {policy: identified, invites_per_hour: 2}
  membership: {join_rate: 5, netsplit_delay: 30, away_poll: 0}
`))
		require.NoError(t, err)
		c := cfgs[0]
		assert.Equal(t, "irc.oftc.net:6697", c.hostPort(), "TLS picks port 6697")
		assert.Equal(t, 48*time.Hour, c.Puppets.IdleTimeout.D())
		assert.False(t, c.Puppets.ConnectOnJoin)
		assert.Equal(t, []string{"#isthmus-*"}, c.DynamicChannels.Allow)
		assert.Equal(t, PMIdentified, c.PrivateMessages.Policy)
		assert.Equal(t, 30*time.Second, c.Membership.NetsplitDelay.D(), "a bare number is seconds")
		assert.Zero(t, c.Membership.AwayPoll, "0 turns away polling off")
		assert.Equal(t, "sesame", c.Channels[0].Key)
	})

	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"an unknown key is refused with its place", `- {name: a, address: "x:1", adress: y}`, []string{"adress"}},
		{"a nested unknown key is refused", `- {name: a, address: "x:1", limits: {max_puppet: 3}}`, []string{"max_puppet"}},
		{"a bad policy quotes the value", `- {name: a, address: "x:1", private_messages: {policy: maybe}}`, []string{`"maybe"`}},
		{"a bad duration quotes the value", `- {name: a, address: "x:1", puppets: {idle_timeout: soon}}`, []string{`"soon"`}},
		{"every problem is listed with its key path", `- {name: Libera, address: "", bot: {nick: "9bot"}, ghost_template: "irc_{network}", limits: {max_lines: 0}}`,
			[]string{"networks.irc[0].name", "networks.irc[0].address", "networks.irc[0].bot.nick", "networks.irc[0].ghost_template", "networks.irc[0].limits.max_lines"}},
		{"a channel must look like one", `- {name: a, address: "x:1", channels: [{channel: "isthmus"}]}`, []string{"networks.irc[0].channels[0].channel"}},
		{"a room must be a room ID", `- {name: a, address: "x:1", channels: [{channel: "#a", room: "#alias:x"}]}`, []string{"networks.irc[0].channels[0].room"}},
		{"two networks may not share a name", "- {name: a, address: \"x:1\"}\n- {name: a, address: \"y:1\"}", []string{"networks.irc[1].name"}},
		{"an unknown template placeholder is refused", `- {name: a, address: "x:1", puppets: {nick_template: "{displayname}{mxid}"}}`, []string{"{mxid}"}},
		{"a negative away poll is refused", `- {name: a, address: "x:1", membership: {away_poll: -1m}}`, []string{"networks.irc[0].membership.away_poll"}},
		{"matrix_poll, which nothing read, is gone", `- {name: a, address: "x:1", membership: {matrix_poll: 2s}}`, []string{"matrix_poll"}},
		{"skip-verify without TLS is refused", `- {name: a, address: "x:1", tls_skip_verify: true}`, []string{"tls_skip_verify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeConfigs([]byte(tc.yaml))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
