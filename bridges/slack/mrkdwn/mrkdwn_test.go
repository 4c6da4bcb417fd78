package mrkdwn_test

import (
	"github.com/isthmus-bridge/isthmus/internal/golden"

	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/isthmus-bridge/isthmus/bridges/slack/mrkdwn"
)

// testResolver knows one bridged user (U1 = @alice), one Slack user
// without a Matrix account (U2 = bob), a puppeted Slack user (U3 =
// @slack_u3) and one bridged channel (C1 = general).
func testResolver() *mrkdwn.Resolver {
	return &mrkdwn.Resolver{
		User: func(id string) (string, string) {
			switch id {
			case "U1":
				return "@alice:example.org", "Alice"
			case "U2":
				return "", "bob"
			case "U3":
				return "@slack_u3:example.org", "Carol"
			}
			return "", ""
		},
		Channel: func(id string) (string, string) {
			switch id {
			case "C1":
				return "#slack_general:example.org", "general"
			case "C2":
				return "", "random"
			}
			return "", ""
		},
		Emoji: func(name string) (string, bool) {
			e, ok := map[string]string{"smile": "😄", "thumbsup::skin-tone-2": "👍🏻"}[name]
			return e, ok
		},
		SlackUser: func(mxid string) string {
			return map[string]string{"@alice:example.org": "U1", "@slack_u3:example.org": "U3"}[mxid]
		},
		SlackChannel: func(room string) string {
			return map[string]string{"#slack_general:example.org": "C1"}[room]
		},
		RoomMention: true,
	}
}

// TestToMatrixGolden converts every input and keeps plain text, HTML and
// mentions in one golden file, so a change shows as a reviewable diff.
func TestToMatrixGolden(t *testing.T) {
	var b strings.Builder
	for _, l := range golden.QuotedLines(t, "to_matrix.input") {
		in := l.Text
		m := mrkdwn.ToMatrix(in, testResolver())
		fmt.Fprintf(&b, "in:    %s\nplain: %s\nhtml:  %s\n", strconv.Quote(in), strconv.Quote(m.Plain), strconv.Quote(m.HTML))
		if len(m.Mentions) > 0 || m.RoomMention {
			fmt.Fprintf(&b, "mentions: %v room=%v\n", m.Mentions, m.RoomMention)
		}
		b.WriteByte('\n')
	}
	golden.Check(t, "to_matrix.golden", b.String())
}

func TestFromMatrixGolden(t *testing.T) {
	var b strings.Builder
	for _, l := range golden.QuotedLines(t, "from_matrix.input") {
		in := l.Text
		fmt.Fprintf(&b, "in:  %s\nout: %s\n\n", strconv.Quote(in), strconv.Quote(mrkdwn.FromMatrix(in, testResolver())))
	}
	golden.Check(t, "from_matrix.golden", b.String())
}

func TestToMatrix(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		plain    string
		html     string
		mentions []string
	}{
		{"unformatted text has no HTML", "just words", "just words", "", nil},
		{"bold becomes strong", "*hi*", "*hi*", "<strong>hi</strong>", nil},
		{"a user with a Matrix account becomes a pill and a mention", "<@U1>", "Alice",
			`<a href="https://matrix.to/#/@alice:example.org">Alice</a>`, []string{"@alice:example.org"}},
		{"a user without a Matrix account becomes their name", "<@U2>", "@bob", "", nil},
		{"entities are decoded in plain text and kept escaped in HTML", "a &lt;b&gt;", "a <b>", "", nil},
		{"a link keeps its label", "<https://x.org|x>", "x", `<a href="https://x.org">x</a>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mrkdwn.ToMatrix(tt.in, testResolver())
			assert.Equal(t, tt.plain, m.Plain)
			assert.Equal(t, tt.html, m.HTML)
			assert.Equal(t, tt.mentions, m.Mentions)
		})
	}

	t.Run("a nil resolver shows IDs", func(t *testing.T) {
		m := mrkdwn.ToMatrix("<@U7> in <#C7>", nil)
		assert.Equal(t, "@U7 in #C7", m.Plain)
	})
}

func TestFromMatrix(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"a pill of a Slack user becomes a user reference", `<a href="https://matrix.to/#/@slack_u3:example.org">Carol</a>`, "<@U3>"},
		{"a pill of an unknown user becomes its text", `<a href="https://matrix.to/#/@x:y">X</a>`, "X"},
		{"special characters are escaped so Slack reads no reference", "<p>&lt;@U1&gt; &amp;</p>", "&lt;@U1&gt; &amp;"},
		{"nested formatting nests delimiters", "<b>bold <i>both</i></b>", "*bold _both_*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, mrkdwn.FromMatrix(tt.in, testResolver()))
		})
	}

	t.Run("@room is only a mention when the event mentions the room", func(t *testing.T) {
		r := testResolver()
		r.RoomMention = false
		assert.Equal(t, "see @room", mrkdwn.FromMatrix("see @room", r))
	})

	t.Run("plain bodies only get Slack's escapes", func(t *testing.T) {
		assert.Equal(t, "1 &lt; 2 &amp;&amp; *x*", mrkdwn.FromMatrixPlain("1 < 2 && *x*"))
	})
}

// TestRoundTrip checks that formatting survives Slack → Matrix → Slack.
func TestRoundTrip(t *testing.T) {
	for _, in := range []string{
		"*bold* _italic_ ~strike~ `code`",
		"<@U1> and <@U3> see <#C1>",
		"<https://example.org|label>",
		"&lt;tag&gt; &amp; more",
		"&gt; quoted",
		"• a\n• b",
	} {
		t.Run(fmt.Sprintf("%q comes back as it went", in), func(t *testing.T) {
			m := mrkdwn.ToMatrix(in, testResolver())
			src := m.HTML
			if src == "" {
				src = m.Plain
				assert.Equal(t, in, mrkdwn.FromMatrixPlain(src))
				return
			}
			assert.Equal(t, in, mrkdwn.FromMatrix(src, testResolver()))
		})
	}
}
