package irc

import (
	"github.com/isthmus-bridge/isthmus/internal/golden"

	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"maunium.net/go/mautrix/id"
)

// checkConversions runs convert on each quoted line of testdata/<name>.txt and
// compares the result with testdata/<name>.golden (-update rewrites it).
func checkConversions(t *testing.T, name string, convert func(in string) string) {
	t.Helper()
	var b strings.Builder
	for _, l := range golden.QuotedLines(t, name+".txt") {
		fmt.Fprintf(&b, "in:  %s\n%s\n", l.Raw, convert(l.Text))
	}
	golden.Check(t, name+".golden", b.String())
}

func TestIRCToMatrixGolden(t *testing.T) {
	puppets := map[string]id.UserID{"alice{m}": "@alice:x", "bob|m": "@bob:x"}
	mention := func(nick string) (id.UserID, bool) {
		u, ok := puppets[strings.ToLower(strings.NewReplacer("[", "{", "]", "}").Replace(nick))]
		return u, ok
	}
	checkConversions(t, "irc_to_matrix", func(in string) string {
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
	checkConversions(t, "matrix_to_irc", func(in string) string {
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
