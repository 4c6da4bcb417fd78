package puppet_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/puppet"
)

func mustNamer(t testing.TB, template, network, domain string) *puppet.Namer {
	t.Helper()
	n, err := puppet.NewNamer(template, network, domain)
	require.NoError(t, err)
	return n
}

func mustAliasNamer(t testing.TB, template, network, domain string) *puppet.AliasNamer {
	t.Helper()
	n, err := puppet.NewAliasNamer(template, network, domain)
	require.NoError(t, err)
	return n
}

func TestNamerMXID(t *testing.T) {
	irc := mustNamer(t, "irc_{network}_{id}", "libera", "example.org")
	tests := []struct {
		name     string
		remoteID string
		want     id.UserID
	}{
		{"a lowercase nick is kept as it is", "alice", "@irc_libera_alice:example.org"},
		{"an uppercase letter is escaped with an underscore", "Alice", "@irc_libera__alice:example.org"},
		{"an underscore is doubled", "a_b", "@irc_libera_a__b:example.org"},
		{"IRC punctuation is hex-escaped", "[away]|x^", "@irc_libera_=5baway=5d=7cx=5e:example.org"},
		{"dot, dash, slash and digits are kept", "a.b-c/9", "@irc_libera_a.b-c/9:example.org"},
		{"an equals sign is escaped so it cannot be read as an escape", "a=b", "@irc_libera_a=3db:example.org"},
		{"a plus is escaped for older homeservers", "a+b", "@irc_libera_a=2bb:example.org"},
		{"a colon is escaped so the server name stays unambiguous", "a:b", "@irc_libera_a=3ab:example.org"},
		{"non-ASCII letters become their UTF-8 bytes", "é", "@irc_libera_=c3=a9:example.org"},
		{"a Slack user ID keeps its case apart", "U012AB", "@irc_libera__u012_a_b:example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := irc.TryMXID(tt.remoteID)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want, irc.MXID(tt.remoteID))
			back, ok := irc.RemoteID(got)
			assert.True(t, ok)
			assert.Equal(t, tt.remoteID, back)
			assert.NoError(t, id.ValidateUserLocalpart(got.Localpart()))
		})
	}
}

func TestNamerCaseMakesDifferentGhosts(t *testing.T) {
	n := mustNamer(t, "slack_{network}_{id}", "acme", "example.org")
	assert.NotEqual(t, n.MXID("Alice"), n.MXID("alice"))
}

func TestNamerRefusesWhatCannotBeNamed(t *testing.T) {
	n := mustNamer(t, "irc_{network}_{id}", "libera", "example.org")
	tests := []struct {
		name     string
		remoteID string
		want     error
	}{
		{"an empty ID is refused", "", puppet.ErrEmptyRemoteID},
		{"invalid UTF-8 is refused", "a\xffb", puppet.ErrInvalidUTF8},
		{"an ID whose MXID would pass 255 bytes is refused", strings.Repeat("a", 240), puppet.ErrIDTooLong},
		{"an ID that only grows past 255 bytes once escaped is refused", strings.Repeat("#", 80), puppet.ErrIDTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := n.TryMXID(tt.remoteID)
			assert.ErrorIs(t, err, tt.want)
			assert.Empty(t, got)
			assert.Empty(t, n.MXID(tt.remoteID))
		})
	}
	t.Run("an ID of exactly 255 bytes is allowed", func(t *testing.T) {
		fixed := len("@irc_libera_:example.org")
		got, err := n.TryMXID(strings.Repeat("a", 255-fixed))
		require.NoError(t, err)
		assert.Len(t, got, 255)
	})
}

func TestNamerRemoteIDRejectsForeignIDs(t *testing.T) {
	n := mustNamer(t, "irc_{network}_{id}", "libera", "example.org")
	tests := []struct {
		name   string
		userID id.UserID
	}{
		{"another network's ghost is not ours", "@irc_oftc_alice:example.org"},
		{"a ghost on another server is not ours", "@irc_libera_alice:example.com"},
		{"a server name that only starts like ours is not ours", "@irc_libera_alice:example.org.evil"},
		{"a real user is not ours", "@alice:example.org"},
		{"the bare prefix is not a ghost", "@irc_libera_:example.org"},
		{"an uppercase localpart is not an escape we make", "@irc_libera_Alice:example.org"},
		{"a dangling underscore does not decode", "@irc_libera_alice_:example.org"},
		{"an underscore before a digit does not decode", "@irc_libera__1:example.org"},
		{"a short hex escape does not decode", "@irc_libera_a=4:example.org"},
		{"uppercase hex is not canonical", "@irc_libera_=5B:example.org"},
		{"hex for a letter is not canonical", "@irc_libera_=61:example.org"},
		{"hex for an uppercase letter is not canonical", "@irc_libera_=41:example.org"},
		{"hex for an underscore is not canonical", "@irc_libera_=5f:example.org"},
		{"an escape that is not UTF-8 does not decode", "@irc_libera_=ff:example.org"},
		{"a literal plus is not an escape we make", "@irc_libera_a+b:example.org"},
		{"a colon in the localpart is not ours", "@irc_libera_a:b:example.org"},
		{"an ID longer than 255 bytes is not ours", id.UserID("@irc_libera_" + strings.Repeat("a", 250) + ":example.org")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := n.RemoteID(tt.userID)
			assert.False(t, ok, "decoded to %q", got)
		})
	}
}

func TestNamerTemplates(t *testing.T) {
	tests := []struct {
		name     string
		template string
		network  string
		want     id.UserID
		wantRe   string
	}{
		{"the network sits between prefix and ID", "irc_{network}_{id}", "libera", "@irc_libera_bob:example.org", `^@irc_libera_[a-z0-9._=/-]+:example\.org$`},
		{"the network may be left out", "gitter_{id}", "gitter", "@gitter_bob:example.org", `^@gitter_[a-z0-9._=/-]+:example\.org$`},
		{"the ID may come before a suffix", "{id}.{network}", "oftc", "@bob.oftc:example.org", `^@[a-z0-9._=/-]+\.oftc:example\.org$`},
		{"dots in the template are escaped in the regex", "irc.{network}.{id}", "libera", "@irc.libera.bob:example.org", `^@irc\.libera\.[a-z0-9._=/-]+:example\.org$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNamer(t, tt.template, tt.network, "example.org")
			assert.Equal(t, tt.network, n.Network())
			assert.Equal(t, tt.want, n.MXID("bob"))
			assert.Equal(t, tt.wantRe, n.Regex())
			re := regexp.MustCompile(n.Regex())
			assert.True(t, re.MatchString(string(n.MXID("Bob_[x]"))))
		})
	}
}

func TestNamerServerNameWithPort(t *testing.T) {
	n := mustNamer(t, "irc_{network}_{id}", "libera", "localhost:8448")
	userID := n.MXID("Bob")
	assert.Equal(t, id.UserID("@irc_libera__bob:localhost:8448"), userID)
	back, ok := n.RemoteID(userID)
	assert.True(t, ok)
	assert.Equal(t, "Bob", back)
	assert.Regexp(t, n.Regex(), string(userID))
	assert.NotRegexp(t, n.Regex(), "@irc_libera_bob:localhostx8448")
}

func TestNewNamerRejectsBadTemplates(t *testing.T) {
	tests := []struct {
		name     string
		template string
		network  string
		domain   string
	}{
		{"a template without {id} is refused", "irc_{network}", "libera", "example.org"},
		{"two {id} are refused", "{id}_{id}", "libera", "example.org"},
		{"two {network} are refused", "{network}_{network}_{id}", "libera", "example.org"},
		{"a bare {id} would claim every user", "{id}", "libera", "example.org"},
		{"an unknown placeholder is refused", "irc_{server}_{id}", "libera", "example.org"},
		{"an uppercase letter cannot be in a localpart", "IRC_{id}", "libera", "example.org"},
		{"an uppercase network name cannot be in a localpart", "irc_{network}_{id}", "Libera", "example.org"},
		{"a network name with a space is refused", "irc_{network}_{id}", "libera chat", "example.org"},
		{"an empty network name is refused where it is used", "irc_{network}_{id}", "", "example.org"},
		{"a template with the sigil is refused", "@irc_{id}", "libera", "example.org"},
		{"a template with a server name is refused", "irc_{id}:example.org", "libera", "example.org"},
		{"an empty server name is refused", "irc_{id}", "libera", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := puppet.NewNamer(tt.template, tt.network, tt.domain)
			assert.ErrorIs(t, err, puppet.ErrBadTemplate)
		})
	}
}

func TestAliasNamer(t *testing.T) {
	n := mustAliasNamer(t, "irc_{network}_{channel}", "libera", "example.org")
	tests := []struct {
		name string
		chat string
		want id.RoomAlias
	}{
		{"a channel's # is percent-encoded", "#chan", "#irc_libera_%23chan:example.org"},
		{"case is kept", "#Chan", "#irc_libera_%23Chan:example.org"},
		{"a double-hash channel is encoded twice", "##go", "#irc_libera_%23%23go:example.org"},
		{"unreserved punctuation is kept", "a-b.c_d~e", "#irc_libera_a-b.c_d~e:example.org"},
		{"a percent sign is encoded", "100%", "#irc_libera_100%25:example.org"},
		{"a colon is encoded", "a:b", "#irc_libera_a%3Ab:example.org"},
		{"non-ASCII becomes UTF-8 bytes", "#café", "#irc_libera_%23caf%C3%A9:example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := n.TryAlias(tt.chat)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want, n.Alias(tt.chat))
			back, ok := n.RemoteID(got)
			assert.True(t, ok)
			assert.Equal(t, tt.chat, back)
			assert.Regexp(t, n.Regex(), string(got))
		})
	}
}

func TestAliasNamerDecodesWhatPeopleType(t *testing.T) {
	n := mustAliasNamer(t, "irc_{network}_{chat}", "libera", "example.org")
	tests := []struct {
		name  string
		alias id.RoomAlias
		want  string
		ok    bool
	}{
		{"a literal # decodes", "#irc_libera_#chan:example.org", "#chan", true},
		{"lowercase hex decodes", "#irc_libera_%23caf%c3%a9:example.org", "#café", true},
		{"literal UTF-8 decodes", "#irc_libera_#café:example.org", "#café", true},
		{"a stray percent does not decode", "#irc_libera_100%:example.org", "", false},
		{"a percent before non-hex does not decode", "#irc_libera_%zz:example.org", "", false},
		{"a space does not decode", "#irc_libera_a b:example.org", "", false},
		{"a colon in the localpart does not decode", "#irc_libera_a:b:example.org", "", false},
		{"an escape to invalid UTF-8 does not decode", "#irc_libera_%FF:example.org", "", false},
		{"another network's alias is not ours", "#irc_oftc_%23chan:example.org", "", false},
		{"another server's alias is not ours", "#irc_libera_%23chan:example.com", "", false},
		{"the bare prefix is not ours", "#irc_libera_:example.org", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := n.RemoteID(tt.alias)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
			if ok {
				assert.Regexp(t, n.Regex(), string(tt.alias))
			}
		})
	}
	t.Run("the regex is anchored and escaped", func(t *testing.T) {
		assert.Equal(t, `^#irc_libera_[^:]+:example\.org$`, n.Regex())
	})
}

func TestNewAliasNamerRejectsBadTemplates(t *testing.T) {
	tests := []struct {
		name     string
		template string
	}{
		{"a template without a chat placeholder is refused", "irc_{network}"},
		{"both chat spellings at once are refused", "{chat}_{channel}"},
		{"two channel placeholders are refused", "{channel}{channel}"},
		{"a bare placeholder is refused", "{channel}"},
		{"a template with the sigil is refused", "#irc_{channel}"},
		{"a percent sign in the fixed text is refused", "irc%_{channel}"},
		{"the {id} placeholder is not for aliases", "irc_{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := puppet.NewAliasNamer(tt.template, "libera", "example.org")
			assert.ErrorIs(t, err, puppet.ErrBadTemplate)
		})
	}
	t.Run("an alias that would pass 255 bytes is refused", func(t *testing.T) {
		n := mustAliasNamer(t, "irc_{channel}", "libera", "example.org")
		_, err := n.TryAlias(strings.Repeat("#", 80))
		assert.ErrorIs(t, err, puppet.ErrIDTooLong)
	})
}

var localpartRe = regexp.MustCompile(`^[a-z0-9._=/-]+$`)

func FuzzGhostID(f *testing.F) {
	for _, seed := range []string{"alice", "Alice", "a_b", "__", "[x]", "é", "=3d", "_a", "a+b", "日本", "U012AB", "#chan", "\x00", strings.Repeat("Z", 100)} {
		f.Add(seed)
	}
	ghosts, err := puppet.NewNamer("irc_{network}_{id}", "libera", "example.org")
	require.NoError(f, err)
	aliases, err := puppet.NewAliasNamer("irc_{network}_{channel}", "libera", "example.org")
	require.NoError(f, err)
	aliasRe := regexp.MustCompile(aliases.Regex())
	ghostRe := regexp.MustCompile(ghosts.Regex())
	f.Fuzz(func(t *testing.T, remoteID string) {
		userID, err := ghosts.TryMXID(remoteID)
		switch {
		case remoteID == "":
			require.ErrorIs(t, err, puppet.ErrEmptyRemoteID)
		case !utf8.ValidString(remoteID):
			require.ErrorIs(t, err, puppet.ErrInvalidUTF8)
		case err != nil:
			require.ErrorIs(t, err, puppet.ErrIDTooLong)
		default:
			require.LessOrEqual(t, len(userID), 255)
			require.Regexp(t, localpartRe, userID.Localpart())
			require.Regexp(t, ghostRe, string(userID))
			back, ok := ghosts.RemoteID(userID)
			require.True(t, ok, "%q does not decode", userID)
			require.Equal(t, remoteID, back)
		}
		// The reverse direction: whatever decodes must encode back to itself,
		// so no two Matrix IDs name the same remote user.
		candidate := id.UserID("@irc_libera_" + remoteID + ":example.org")
		if back, ok := ghosts.RemoteID(candidate); ok {
			require.Equal(t, candidate, ghosts.MXID(back))
		}
		alias, err := aliases.TryAlias(remoteID)
		if err == nil {
			require.LessOrEqual(t, len(alias), 255)
			require.Regexp(t, aliasRe, string(alias))
			back, ok := aliases.RemoteID(alias)
			require.True(t, ok, "%q does not decode", alias)
			require.Equal(t, remoteID, back)
		}
	})
}

func BenchmarkGhostMXID(b *testing.B) {
	n := mustNamer(b, "irc_{network}_{id}", "libera", "example.org")
	for _, bc := range []struct{ name, remoteID string }{
		{"plain", "alice"},
		{"escaped", "Alice[away]_"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = n.MXID(bc.remoteID)
			}
		})
	}
}

func BenchmarkGhostRemoteID(b *testing.B) {
	n := mustNamer(b, "irc_{network}_{id}", "libera", "example.org")
	for _, bc := range []struct{ name, remoteID string }{
		{"plain", "alice"},
		{"escaped", "Alice[away]_"},
	} {
		userID := n.MXID(bc.remoteID)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = n.RemoteID(userID)
			}
		})
	}
}
