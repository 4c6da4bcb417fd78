package bridge

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"
)

const validConfig = `
homeserver: {address: "http://127.0.0.1:8008", domain: example.org}
appservice:
  listen: "127.0.0.1:29300"
  url: "http://127.0.0.1:29300"
  id: isthmus
  bot: {localpart: isthmusbot, displayname: Isthmus}
  as_token: "aaaaaaaaaaaaaaaaaaaaaaaa"
  hs_token: "bbbbbbbbbbbbbbbbbbbbbbbb"
database: {type: sqlite, uri: isthmus.db}
bridge:
  permissions: {"*": relay, "example.org": user, "@admin:example.org": admin}
  double_puppet: {secrets: {example.org: "as_token:xyz"}}
logging: {level: info, format: pretty}
metrics: {listen: ""}
networks: {}
`

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(validConfig))
	require.NoError(t, err)
	assert.Equal(t, "example.org", cfg.Homeserver.Domain)
	assert.Equal(t, HistoryJoined, cfg.Bridge.Portal.HistoryVisibility, "portals default to joined history")
	assert.Equal(t, PermAdmin, cfg.Bridge.Permissions.For("@admin:example.org"))
	assert.Equal(t, PermUser, cfg.Bridge.Permissions.For("@bob:example.org"))
	assert.Equal(t, PermRelay, cfg.Bridge.Permissions.For("@eve:elsewhere.net"))
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr []string
	}{
		{
			name: "an unknown key is named with its full path and line",
			edit: func(s string) string {
				return strings.Replace(s, "domain: example.org}", "domain: example.org, adress: x}", 1)
			},
			wantErr: []string{`unknown key "homeserver.adress"`, "line 2"},
		},
		{
			name:    "a bad permission level quotes the bad value",
			edit:    func(s string) string { return strings.Replace(s, `"*": relay`, `"*": superuser`, 1) },
			wantErr: []string{`line 12: bridge.permissions.*: invalid value "superuser"`, `"admin"`},
		},
		{
			name:    "a bad log format quotes the bad value",
			edit:    func(s string) string { return strings.Replace(s, "format: pretty", "format: xml", 1) },
			wantErr: []string{`line 14: logging.format: invalid value "xml"`},
		},
		{
			name: "a list where one value belongs is named with its path",
			edit: func(s string) string {
				return strings.Replace(s, `metrics: {listen: ""}`, `metrics: {listen: [a, b]}`, 1)
			},
			wantErr: []string{"line 15: metrics.listen: wrong shape"},
		},
		{
			name:    "a key given twice is refused",
			edit:    func(s string) string { return s + "logging: {level: debug}\n" },
			wantErr: []string{"logging: key set twice"},
		},
		{
			name:    "placeholder tokens are refused",
			edit:    func(s string) string { return strings.Replace(s, `"aaaaaaaaaaaaaaaaaaaaaaaa"`, `"generate"`, 1) },
			wantErr: []string{"appservice.as_token"},
		},
		{
			name: "equal tokens are refused",
			edit: func(s string) string {
				return strings.Replace(s, "bbbbbbbbbbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaaaaaaaaaa", 1)
			},
			wantErr: []string{"appservice.hs_token: must differ"},
		},
		{
			name: "every problem is reported at once",
			edit: func(s string) string {
				return strings.Replace(strings.Replace(s, "http://127.0.0.1:8008", "ftp://x", 1), "localpart: isthmusbot", "localpart: Bad Bot", 1)
			},
			wantErr: []string{"homeserver.address", "appservice.bot.localpart"},
		},
		{
			name: "postgres without a URI is refused",
			edit: func(s string) string {
				return strings.Replace(s, "{type: sqlite, uri: isthmus.db}", "{type: postgres}", 1)
			},
			wantErr: []string{"database.uri"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.edit(validConfig)))
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestPermissionsPreferTheMostSpecificEntry(t *testing.T) {
	ps := Permissions{"*": PermNone, "example.org": PermUser, "@bob:example.org": PermRelay}
	for user, want := range map[id.UserID]Permission{
		"@alice:example.org": PermUser,
		"@bob:example.org":   PermRelay,
		"@eve:evil.example":  PermNone,
	} {
		assert.Equal(t, want, ps.For(user), user)
	}
}

func TestResolveNetworkAcceptsWhatUsersType(t *testing.T) {
	br := &Bridge{networks: map[NetworkID]*networkEntry{}}
	for _, n := range []NetworkInfo{{ID: "libera", Kind: "irc"}, {ID: "oftc", Kind: "irc"}, {ID: "gitter", Kind: "gitter"}, {ID: "work", Kind: "slack"}} {
		br.networks[n.ID] = &networkEntry{info: n}
		br.netOrder = append(br.netOrder, n.ID)
	}
	tests := []struct {
		typed string
		want  NetworkID
		ok    bool
	}{
		{"libera", "libera", true},
		{"irc:oftc", "oftc", true},
		{"gitter", "gitter", true},
		{"gitter:gitter", "gitter", true},
		{"slack", "work", true},
		{"irc", "", false},
		{"irc:gitter", "", false},
		{"matrix", "", false},
	}
	for _, tt := range tests {
		got, ok := br.resolveNetwork(tt.typed)
		assert.Equal(t, tt.ok, ok, tt.typed)
		assert.Equal(t, tt.want, got, tt.typed)
	}
}
