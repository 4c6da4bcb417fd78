package ircproto_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestParseGolden parses each line of testdata/parse_input.txt, serialises
// it and parses that again. The canonical form (or error) is kept in
// testdata/parse.golden, so any change in how lines are read or written
// shows up as a diff in review.
func TestParseGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "parse_input.txt"))
	require.NoError(t, err)
	defer f.Close()

	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		raw := sc.Text()
		if raw == "" || raw[0] == '#' {
			continue
		}
		line, err := strconv.Unquote(raw)
		require.NoError(t, err, "bad quoting in input: %s", raw)
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
	require.NoError(t, sc.Err())

	golden := filepath.Join("testdata", "parse.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), b.String())
}
