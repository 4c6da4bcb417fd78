package ircproto_test

import (
	"github.com/isthmus-bridge/isthmus/internal/golden"

	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// TestParseGolden parses each line of testdata/parse_input.txt, serialises
// it and parses that again. The canonical form (or error) is kept in
// testdata/parse.golden, so any change in how lines are read or written
// shows up as a diff in review.
func TestParseGolden(t *testing.T) {
	var b strings.Builder
	for _, l := range golden.QuotedLines(t, "parse_input.txt") {
		raw, line := l.Raw, l.Text
		fmt.Fprintf(&b, "in:  %s\n", raw)

		m, err := ircproto.Parse(line)
		if err != nil {
			fmt.Fprintf(&b, "err: %v\n\n", err)
			continue
		}
		out := m.String()
		again, err := ircproto.Parse(out)
		require.NoError(t, err, "serialised form must parse: %q", out)
		assert.Equal(t, m, again, "round trip of %q", line)
		wire, err := m.Bytes()
		require.NoError(t, err, "a parsed message must be sendable")
		assert.Equal(t, out+"\r\n", string(wire))
		fmt.Fprintf(&b, "out: %s\n\n", strconv.Quote(out))
	}
	golden.Check(t, "parse.golden", b.String())
}
