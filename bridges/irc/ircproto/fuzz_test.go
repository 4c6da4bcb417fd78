package ircproto_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// FuzzParse checks that no line makes Parse panic, and that what Parse
// accepts serialises to a line that parses to the same message, is itself
// stable, and can be sent. The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		m, err := ircproto.Parse(line)
		if err != nil {
			require.Nil(t, m)
			return
		}
		out := m.String()
		require.NotContains(t, out, "\n")
		require.NotContains(t, out, "\r")
		again, err := ircproto.Parse(out)
		require.NoError(t, err, "serialised %q from %q", out, line)
		require.Equal(t, m, again, "serialised %q from %q", out, line)
		require.Equal(t, out, again.String())
		wire, err := m.Bytes()
		require.NoError(t, err)
		require.Equal(t, out+"\r\n", string(wire))
		require.Equal(t, 1, strings.Count(string(wire), "\n"))
	})
}

// FuzzTagValue checks that escaping a tag value and unescaping it gives
// it back, and that the escaped form holds nothing that ends a tag.
func FuzzTagValue(f *testing.F) {
	for _, s := range []string{"", "a b", `\`, ";", "\r\n", `\s`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		esc := ircproto.EscapeTagValue(v)
		require.NotContains(t, esc, " ")
		require.NotContains(t, esc, ";")
		require.NotContains(t, esc, "\r")
		require.NotContains(t, esc, "\n")
		require.Equal(t, v, ircproto.UnescapeTagValue(esc))
	})
}
