package gitter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

func TestNewNetworks(t *testing.T) {
	common := bridge.CommonConfig{Domain: "example.org"}
	t.Run("the kind is registered as gitter", func(t *testing.T) {
		var found bool
		for _, k := range bridge.Kinds() {
			found = found || k.Kind() == "gitter"
		}
		assert.True(t, found)
	})
	t.Run("defaults fill what an entry leaves out", func(t *testing.T) {
		nets, err := kind{}.NewNetworks([]byte("- name: gitter\n"), common)
		require.NoError(t, err)
		require.Len(t, nets, 1)
		n := nets[0].(*Network)
		assert.Equal(t, defaultAPIURL, n.cfg.APIURL)
		assert.Equal(t, defaultStreamURL, n.cfg.StreamURL)
		assert.Equal(t, defaultFayeURL, n.cfg.FayeURL)
		assert.Equal(t, 20, n.cfg.Backfill)
		info := n.Info()
		assert.Equal(t, bridge.NetworkID("gitter"), info.ID)
		assert.Equal(t, "gitter_{network}_{id}", info.GhostTemplate)
	})
	t.Run("aliases carry the network name unless the template is set", func(t *testing.T) {
		nets, err := kind{}.NewNetworks([]byte("- {name: gitter}\n- {name: work, alias_template: \"gw_{chat}\"}\n"), common)
		require.NoError(t, err)
		assert.Equal(t, "gitter_{network}_{chat}", nets[0].Info().AliasTemplate)
		assert.Equal(t, "gw_{chat}", nets[1].Info().AliasTemplate)
		// The core turns the template into the alias users type.
		namer, err := puppet.NewAliasNamer("gitter_{chat}", "gitter", "example.org")
		require.NoError(t, err)
		assert.Equal(t, "#gitter_gitterhq%2fsandbox:example.org", strings.ToLower(string(namer.Alias("gitterHQ/sandbox"))),
			"the issue's #gitter_{uri}, with the / escaped")
	})
	t.Run("several servers each get a network", func(t *testing.T) {
		nets, err := kind{}.NewNetworks([]byte(`
- {name: gitter}
- {name: work, api_url: "http://127.0.0.1:1/", stream_url: "http://127.0.0.1:2/", faye_url: "ws://127.0.0.1:3/faye"}
`), common)
		require.NoError(t, err)
		require.Len(t, nets, 2)
		assert.Equal(t, "Gitter (work)", nets[1].Info().DisplayName)
	})
	t.Run("a relay bot's token is kept, turns relaying on and prints as [secret]", func(t *testing.T) {
		nets, err := kind{}.NewNetworks([]byte("- {name: gitter, relay: {token: tok-sekrit-123}}\n"), common)
		require.NoError(t, err)
		n := nets[0].(*Network)
		require.NotNil(t, n.cfg.Relay)
		assert.Equal(t, secret("tok-sekrit-123"), n.cfg.Relay.Token)
		assert.True(t, n.Info().Relay)
		printed := fmt.Sprintf("%v %+v %#v %s", n.cfg, *n.cfg.Relay, n.cfg.Relay, n.cfg.Relay.Token)
		assert.NotContains(t, printed, "tok-sekrit-123")
		assert.Contains(t, printed, "[secret]")
	})
	t.Run("without a relay bot relaying is off", func(t *testing.T) {
		nets, err := kind{}.NewNetworks([]byte("- {name: gitter}\n"), common)
		require.NoError(t, err)
		assert.False(t, nets[0].Info().Relay)
	})
	t.Run("the example config decodes", func(t *testing.T) {
		_, err := kind{}.NewNetworks([]byte(kind{}.ExampleConfig()), common)
		require.NoError(t, err)
	})
	bad := []struct {
		name    string
		section string
		want    []string
	}{
		{"an unknown key is refused", "- {name: gitter, token: x}\n", []string{"networks.gitter", "token"}},
		{"a bad name and a bad URL are both reported", "- {name: Bad_Name, api_url: \"ftp://x\"}\n",
			[]string{"networks.gitter[0].name", "networks.gitter[0]: gitter: api_url"}},
		{"a name used twice is refused", "- {name: a}\n- {name: a}\n", []string{"networks.gitter[1].name", "used twice"}},
		{"backfill out of range is refused", "- {name: a, backfill: 500}\n", []string{"networks.gitter[0].backfill"}},
		{"a relay without a token is refused", "- {name: a, relay: {}}\n", []string{"networks.gitter[0].relay.token", "required"}},
		{"a relay token with whitespace is refused without being shown", "- {name: a, relay: {token: \"tok en\"}}\n",
			[]string{"networks.gitter[0].relay.token", "whitespace"}},
		{"an unknown relay key is refused", "- {name: a, relay: {token: t, name: x}}\n", []string{"name"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kind{}.NewNetworks([]byte(tc.section), common)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestPositions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		st := &store{db: db.Child("gitter_version", upgradeTable, nil), network: "gitter"}
		require.NoError(t, st.upgrade(ctx))
		other := &store{db: st.db, network: "work"}

		got, err := st.position(ctx, "@a:x", "room")
		require.NoError(t, err)
		assert.Empty(t, got, "a room never synced has no position")

		require.NoError(t, st.setPosition(ctx, "@a:x", "room", "000000000000000000000005"))
		require.NoError(t, st.setPosition(ctx, "@a:x", "room", "000000000000000000000003"))
		got, err = st.position(ctx, "@a:x", "room")
		require.NoError(t, err)
		assert.Equal(t, "000000000000000000000005", got, "a position never moves back")

		got, err = other.position(ctx, "@a:x", "room")
		require.NoError(t, err)
		assert.Empty(t, got, "networks do not share positions")

		require.NoError(t, st.forget(ctx, "@a:x"))
		got, err = st.position(ctx, "@a:x", "room")
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}
