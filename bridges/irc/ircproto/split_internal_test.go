package ircproto

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// join puts pieces back together: a space where a cut dropped one.
func join(pieces []piece) string {
	var b strings.Builder
	for _, p := range pieces {
		b.WriteString(p.text)
		if p.spaceAfter {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// checkSplit asserts the splitting properties for one line and budget:
// every piece fits, is valid UTF-8 and non-empty, and joining the pieces
// gives the line back exactly.
func checkSplit(t *testing.T, line string, budget int) {
	t.Helper()
	pieces := splitLine(line, budget)
	for _, p := range pieces {
		require.LessOrEqual(t, len(p.text), budget, "piece %q of %q", p.text, line)
		require.NotEmpty(t, p.text, "empty piece of %q", line)
		require.True(t, utf8.ValidString(p.text), "piece %q of %q is not UTF-8", p.text, line)
	}
	require.Equal(t, line, join(pieces))
}

// TestSplitLineProperties runs the splitting properties over random text
// built from the pieces that make splitting hard: spaces, multi-byte
// runes, combining marks, joiners, flags and colour codes.
func TestSplitLineProperties(t *testing.T) {
	alphabet := []string{
		"a", "b", "word", " ", " ", "  ", "é", "中", "🌍", "e\u0301", "\u0301", "\u200d", "👨\u200d👩",
		"🇫🇷", "👋🏽", "❤\ufe0f", "\x02", "\x0304", "\x0304,12", "\x03", "\x04ff8800", "1", ",", "\x0f",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var b strings.Builder
		for n := rng.IntN(400); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		budget := utf8.UTFMax + rng.IntN(120)
		if i%10 == 0 {
			budget = 400 + rng.IntN(100)
		}
		checkSplit(t, b.String(), budget)
	}
}

func TestSplitLineOnSpaces(t *testing.T) {
	pieces := splitLine("aaa bbb ccc", 7)
	require.Equal(t, []piece{{"aaa bbb", true}, {"ccc", false}}, pieces)

	pieces = splitLine("aaaa bbb", 4)
	require.Equal(t, []piece{{"aaaa", true}, {"bbb", false}}, pieces, "a space just past the budget is the one dropped")

	pieces = splitLine("aaaa ", 4)
	require.Equal(t, []piece{{"aaaa", true}}, pieces, "a trailing space at a cut is remembered")

	pieces = splitLine(" aaaaaaa", 4)
	require.Equal(t, " aaaaaaa", join(pieces), "a space at the start is not a place to cut")
}

// FuzzSplitText checks the line-level properties on fuzzed text through
// the public API: every relayed line fits in 512 bytes, is UTF-8, and
// only spaces at cuts, line breaks, NUL and \x01 go missing.
func FuzzSplitText(f *testing.F) {
	for _, s := range []string{"hello", strings.Repeat("word ", 200), strings.Repeat("e\u0301", 300), "a\nb\r\nc", "\xff\xfe", strings.Repeat("\x0304,12x", 100)} {
		f.Add(s, 50, false)
	}
	f.Fuzz(func(t *testing.T, text string, prefixLen int, action bool) {
		if prefixLen < 0 || prefixLen > 200 {
			return
		}
		s := Splitter{Target: "#chan", PrefixLen: prefixLen, Action: action}
		chunks, err := s.Split(text)
		require.NoError(t, err)
		var got strings.Builder
		for _, c := range chunks {
			line := ":" + strings.Repeat("x", prefixLen) + " PRIVMSG #chan :" + c + "\r\n"
			require.LessOrEqual(t, len(line), MaxLineBytes)
			require.True(t, utf8.ValidString(c))
			m := NewMessage("PRIVMSG", "#chan", c)
			_, err := m.Bytes()
			require.NoError(t, err)
			if action {
				ctcp, ok := ParseCTCP(c)
				require.True(t, ok)
				c = ctcp.Params
			}
			got.WriteString(c)
		}
		squash := strings.NewReplacer(" ", "", "\n", "", "\r", "", "\x00", "", "\x01", "")
		require.Equal(t, squash.Replace(strings.ToValidUTF8(text, "\uFFFD")), squash.Replace(got.String()))
	})
}
