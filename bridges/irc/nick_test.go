package irc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"maunium.net/go/mautrix/id"
)

func TestPuppetNick(t *testing.T) {
	for _, tc := range []struct {
		name, tmpl, display string
		user                id.UserID
		maxLen              int
		want                string
	}{
		{"a plain display name gets the marker", "{displayname}[m]", "Alice", "@alice:x", 30, "Alice[m]"},
		{"spaces and punctuation are dropped", "{displayname}[m]", "Alice B. Cooper!", "@a:x", 30, "AliceBCooper[m]"},
		{"accents are dropped from letters", "{displayname}[m]", "Jöhn Ça", "@j:x", 30, "JohnCa[m]"},
		{"a name of emoji falls back to the localpart", "{displayname}[m]", "🐱🐱", "@kitty:x", 30, "kitty[m]"},
		{"no display name uses the localpart", "{displayname}[m]", "", "@bob:x", 30, "bob[m]"},
		{"a long name is cut and keeps the marker", "{displayname}[m]", "Bartholomew", "@b:x", 9, "Bartho[m]"},
		{"a leading digit is escaped", "{displayname}[m]", "4chan fan", "@f:x", 30, "_4chanfan[m]"},
		{"a leading dash is escaped", "{displayname}", "-dash", "@d:x", 30, "_-dash"},
		{"the localpart template works", "{localpart}|m", "Whatever", "@carol.smith:x", 30, "carolsmith|m"},
		{"nick specials survive", "{displayname}[m]", "[x]{y}|z^`", "@x:x", 30, "[x]{y}|z^`[m]"},
		{"nothing usable falls back to matrix", "{displayname}", "..", "@___:x", 30, "___"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := puppetNick(tc.tmpl, tc.display, tc.user, tc.maxLen)
			assert.Equal(t, tc.want, got)
			assert.True(t, validNick(got), "%q must be a valid nick", got)
			assert.LessOrEqual(t, len(got), tc.maxLen)
		})
	}
}

func TestAltNick(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nick    string
		attempt int
		maxLen  int
		want    string
	}{
		{"the first alternative adds an underscore", "alice[m]", 1, 30, "alice[m]_"},
		{"later alternatives count", "alice[m]", 3, 30, "alice[m]3"},
		{"a full-length nick is cut to make room", "abcdefghi", 1, 9, "abcdefgh_"},
		{"a big count still fits", "abcdefghi", 12, 9, "abcdefg12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, altNick(tc.nick, tc.attempt, tc.maxLen))
		})
	}
}

func TestUsernameAndRealname(t *testing.T) {
	t.Run("user names keep ASCII letters and digits, ten at most", func(t *testing.T) {
		assert.Equal(t, "carolsmith", renderUsername("{localpart}", "@carol.smith_99:x"))
		assert.Equal(t, "matrix", renderUsername("{localpart}", "@___:x"))
	})
	t.Run("real names fill every placeholder and lose line breaks", func(t *testing.T) {
		assert.Equal(t, "@a:x (A B)", renderRealname("{mxid} ({displayname})", "@a:x", "A\nB"))
	})
}
