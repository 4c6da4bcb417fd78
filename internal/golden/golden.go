// Package golden keeps tests' expected output in files under testdata, so
// a change in a converter shows as a reviewable diff. "go test -update"
// rewrites the files instead of comparing.
package golden

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// Check compares got with testdata/name, or rewrites the file with -update.
func Check(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), got, "output differs from %s (review the diff, then rerun with -update)", path)
}

// Line is one input of a quoted-lines file: as written, and unquoted.
type Line struct {
	Raw, Text string
}

// QuotedLines reads testdata/name, one Go-quoted string per line (so
// inputs may hold control characters and trailing spaces); blank lines
// and lines starting with # are skipped.
func QuotedLines(t testing.TB, name string) []Line {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		raw := sc.Text()
		if raw == "" || raw[0] == '#' {
			continue
		}
		text, err := strconv.Unquote(raw)
		require.NoError(t, err, "bad quoting in %s: %s", name, raw)
		out = append(out, Line{Raw: raw, Text: text})
	}
	require.NoError(t, sc.Err())
	return out
}
