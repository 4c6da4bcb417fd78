package irc

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
	"maunium.net/go/mautrix/id"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden runs convert on each quoted line of testdata/<name>.txt and
// compares the result with testdata/<name>.golden (-update rewrites it).
func golden(t *testing.T, name string, convert func(in string) string) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".txt"))
	require.NoError(t, err)
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		raw := sc.Text()
		if raw == "" || raw[0] == '#' {
			continue
		}
		in, err := strconv.Unquote(raw)
		require.NoError(t, err, "bad quoting: %s", raw)
		fmt.Fprintf(&b, "in:  %s\n%s\n", raw, convert(in))
	}
	require.NoError(t, sc.Err())
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), b.String())
}

func TestIRCToMatrixGolden(t *testing.T) {
	puppets := map[string]id.UserID{"alice{m}": "@alice:x", "bob|m": "@bob:x"}
	mention := func(nick string) (id.UserID, bool) {
		u, ok := puppets[strings.ToLower(strings.NewReplacer("[", "{", "]", "}").Replace(nick))]
		return u, ok
	}
	golden(t, "irc_to_matrix", func(in string) string {
		body, html, mentions := ircToHTML(in, mention)
		return fmt.Sprintf("body: %s\nhtml: %s\nmentions: %v\n", strconv.Quote(body), strconv.Quote(html), mentions)
	})
}

func TestMatrixToIRCGolden(t *testing.T) {
	pill := func(user id.UserID, shown string) string {
		switch user {
		case "@alice:x":
			return "alice[m]"
		case "@irc_test_bob:x":
			return "bob"
		}
		return shown
	}
	golden(t, "matrix_to_irc", func(in string) string {
		return fmt.Sprintf("irc: %s\n", strconv.Quote(htmlToIRC(in, pill)))
	})
}

func TestShortQuote(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a short line is kept", "hello there", "hello there"},
		{"a long line is cut at 40 characters", strings.Repeat("é", 50), strings.Repeat("é", 40) + "…"},
		{"only the first line is quoted", "first\nsecond", "first…"},
		{"formatting is dropped", "\x02bold\x02", "bold"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, shortQuote(tc.in)) })
	}
}
