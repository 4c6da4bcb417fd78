package gittermd_test

import (
	"github.com/isthmus-bridge/isthmus/internal/golden"

	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gittermd"
)

// The test world: Gitter users alice, bob and d-h_2 have ghosts; carol is
// a Matrix user logged in to Gitter as carol_gitter.
var gitterUsers = map[string]gittermd.Pill{
	"alice": {MXID: "@gitter_alice:example.org", Name: "Alice A"},
	"bob":   {MXID: "@gitter_bob:example.org", Name: "Bob B"},
	"d-h_2": {MXID: "@gitter_d-h_2:example.org", Name: "D H"},
}

func resolveGitter(name string) (gittermd.Pill, bool) {
	p, ok := gitterUsers[name]
	return p, ok
}

func resolveMatrix(mxid id.UserID) (string, bool) {
	if mxid == "@carol:example.org" {
		return "carol_gitter", true
	}
	for name, p := range gitterUsers {
		if p.MXID == mxid {
			return name, true
		}
	}
	return "", false
}

type testCase struct{ name, input string }

// readCases reads "### name" headed cases; the text up to the next header
// is the input, without its final newline.
func readCases(t testing.TB, file string) []testCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	require.NoError(t, err)
	defer f.Close()
	var cases []testCase
	var lines []string
	flush := func() {
		if len(cases) > 0 {
			cases[len(cases)-1].input = strings.Join(lines, "\n")
		}
		lines = nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "### "); ok {
			flush()
			cases = append(cases, testCase{name: name})
			continue
		}
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	flush()
	return cases
}

// TestToMatrixGolden renders every case of to_matrix.txt, and converts
// the result back, so a change in either direction shows as a diff.
func TestToMatrixGolden(t *testing.T) {
	var b strings.Builder
	for _, tc := range readCases(t, "to_matrix.txt") {
		t.Run(tc.name, func(t *testing.T) {
			m := gittermd.ToMatrix(tc.input, resolveGitter)
			assert.Equal(t, tc.input, m.Body, "the body is the text as written")
			back := gittermd.ToGitter(m.Body, m.HTML, resolveMatrix)
			fmt.Fprintf(&b, "### %s\n--- html\n%s\n--- mentions\n%v\n--- back to gitter\n%s\n\n", tc.name, m.HTML, m.Mentions, back)
		})
	}
	golden.Check(t, "to_matrix.golden", b.String())
}

// TestToGitterGolden converts every HTML case of to_gitter.txt.
func TestToGitterGolden(t *testing.T) {
	var b strings.Builder
	for _, tc := range readCases(t, "to_gitter.txt") {
		t.Run(tc.name, func(t *testing.T) {
			md := gittermd.ToGitter("fallback body", tc.input, resolveMatrix)
			fmt.Fprintf(&b, "### %s\n%s\n\n", tc.name, md)
		})
	}
	golden.Check(t, "to_gitter.golden", b.String())
}

func TestConversionRules(t *testing.T) {
	t.Run("a plain Matrix body is sent as it is", func(t *testing.T) {
		assert.Equal(t, "2*3 is *six*", gittermd.ToGitter("2*3 is *six*", "", resolveMatrix))
	})
	t.Run("mentions are listed once each, in order", func(t *testing.T) {
		m := gittermd.ToMatrix("@bob @alice @bob", resolveGitter)
		assert.Equal(t, []id.UserID{"@gitter_bob:example.org", "@gitter_alice:example.org"}, m.Mentions)
	})
	t.Run("without a resolver no mention is made", func(t *testing.T) {
		m := gittermd.ToMatrix("hi @bob", nil)
		assert.Empty(t, m.HTML)
		assert.Empty(t, m.Mentions)
	})
	t.Run("a mention survives the round trip through Matrix", func(t *testing.T) {
		m := gittermd.ToMatrix("hi @bob", resolveGitter)
		assert.Equal(t, "hi @bob", gittermd.ToGitter(m.Body, m.HTML, resolveMatrix))
	})
	t.Run("a pill name with markdown characters cannot inject formatting", func(t *testing.T) {
		got := gittermd.ToGitter("", `<a href="https://matrix.to/#/@x:example.org">*evil* [x](y)</a>`, resolveMatrix)
		assert.Equal(t, `\*evil\* \[x\](y)`, got)
	})
}
