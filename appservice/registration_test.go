package appservice

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"
)

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := GenerateToken()
		assert.Len(t, tok, 64)
		assert.Regexp(t, `^[A-Za-z0-9_-]{64}$`, tok)
		assert.False(t, seen[tok], "tokens repeat")
		seen[tok] = true
	}
}

func TestNewRegistration(t *testing.T) {
	cfg := testConfig()
	reg := NewRegistration(cfg, "example.org", Namespaces{
		Users:     []string{`^@irc_libera_.+:example\.org$`, `@slack_.*:example\.org`, `^@a:x$|^@b:x$`},
		Aliases:   []string{`^#irc_libera_.+:example\.org$`},
		Protocols: []string{"irc", "slack"},
	})
	data, err := reg.YAML()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "registration.yaml")
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
	loaded, err := mauas.LoadRegistration(path)
	require.NoError(t, err)

	t.Run("it round-trips through mautrix's loader", func(t *testing.T) {
		assert.Equal(t, reg, loaded)
	})
	t.Run("it carries the tokens, sender and flags", func(t *testing.T) {
		assert.Equal(t, "isthmus", loaded.ID)
		assert.Equal(t, cfg.URL, loaded.URL)
		assert.Equal(t, cfg.ASToken, loaded.AppToken)
		assert.Equal(t, cfg.HSToken, loaded.ServerToken)
		assert.Equal(t, "isthmusbot", loaded.SenderLocalpart)
		require.NotNil(t, loaded.RateLimited)
		assert.False(t, *loaded.RateLimited)
		assert.True(t, loaded.EphemeralEvents)
		assert.True(t, loaded.SoruEphemeralEvents)
		assert.Equal(t, []string{"irc", "slack"}, loaded.Protocols)
	})
	t.Run("the YAML uses the spec's key names", func(t *testing.T) {
		for _, key := range []string{"rate_limited: false", "receive_ephemeral: true", "de.sorunome.msc2409.push_ephemeral: true", "sender_localpart: isthmusbot", "exclusive: true"} {
			assert.Contains(t, data, key)
		}
	})
	t.Run("every namespace is exclusive and anchored", func(t *testing.T) {
		all := append(append(mauas.NamespaceList{}, loaded.Namespaces.UserIDs...), loaded.Namespaces.RoomAliases...)
		require.Len(t, all, 5)
		for _, ns := range all {
			assert.True(t, ns.Exclusive, ns.Regex)
			assert.True(t, strings.HasPrefix(ns.Regex, "^") && strings.HasSuffix(ns.Regex, "$"), ns.Regex)
			_, err := regexp.Compile(ns.Regex)
			assert.NoError(t, err)
		}
	})
	users := func(user id.UserID) bool {
		for _, ns := range loaded.Namespaces.UserIDs {
			if regexp.MustCompile(ns.Regex).MatchString(string(user)) {
				return true
			}
		}
		return false
	}
	matches := []struct {
		name string
		user id.UserID
		want bool
	}{
		{"the bot is in the namespace", "@isthmusbot:example.org", true},
		{"a ghost is in the namespace", "@irc_libera_alice:example.org", true},
		{"an unanchored regex from the caller is anchored", "@slack_bob:example.org", true},
		{"an unanchored regex does not match inside a longer ID", "@x@slack_bob:example.org.evil", false},
		{"an alternation is anchored as a whole", "@b:xyz", false},
		{"the bot's namesake on another server is not", "@isthmusbot:example.org.evil", false},
		{"a plain user is not", "@alice:example.org", false},
	}
	for _, m := range matches {
		t.Run(m.name, func(t *testing.T) {
			assert.Equal(t, m.want, users(m.user))
		})
	}
}

func TestNewIntents(t *testing.T) {
	db := sqliteDB(t)
	as, err := NewIntents(context.Background(), "http://127.0.0.1:8008", "example.org", testConfig(), db)
	require.NoError(t, err)
	t.Run("it is set up for the bot and double-puppet markers", func(t *testing.T) {
		assert.Equal(t, id.UserID("@isthmusbot:example.org"), as.BotMXID())
		assert.Equal(t, "isthmus", as.DoublePuppetValue)
		assert.Equal(t, "as-secret-token", as.Registration.AppToken)
		assert.Equal(t, "http://127.0.0.1:8008", as.BotClient().HomeserverURL.String())
	})
	t.Run("its state store is migrated and in the database", func(t *testing.T) {
		ctx := context.Background()
		require.NoError(t, as.StateStore.MarkRegistered(ctx, "@irc_bob:example.org"))
		ok, err := as.StateStore.IsRegistered(ctx, "@irc_bob:example.org")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 1, countRows(t, db, "mx_registrations"))
	})
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"the test config is valid", func(*Config) {}, nil},
		{"an empty config names every missing key", func(c *Config) { *c = Config{} },
			[]string{"appservice.url", "appservice.id", "appservice.bot.localpart", "appservice.as_token", "appservice.hs_token"}},
		{"a URL without scheme is refused", func(c *Config) { c.URL = "127.0.0.1:29300" }, []string{"appservice.url"}},
		{"a localpart with capitals is refused", func(c *Config) { c.Bot.Localpart = "Bot" }, []string{"appservice.bot.localpart"}},
		{"an avatar that is not a URL is refused", func(c *Config) { c.Bot.Avatar = "avatar.png" }, []string{"appservice.bot.avatar"}},
		{"an mxc avatar is fine", func(c *Config) { c.Bot.Avatar = "mxc://example.org/abc" }, nil},
		{"equal tokens are refused", func(c *Config) { c.HSToken = c.ASToken }, []string{"appservice.hs_token"}},
		{"negative tuning is refused", func(c *Config) { c.Workers = -1 }, []string{"appservice.workers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			c.change(&cfg)
			err := cfg.Validate()
			if c.want == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	t.Run("defaults fill only zero tuning fields", func(t *testing.T) {
		cfg := Config{Workers: 3}
		cfg.SetDefaults()
		assert.Equal(t, Config{MaxBacklog: DefaultMaxBacklog, Workers: 3, MaxAttempts: DefaultMaxAttempts}, cfg)
	})
}
