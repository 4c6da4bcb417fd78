package mrkdwn_test

import (
	"github.com/isthmus-bridge/isthmus/internal/golden"

	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/slack/mrkdwn"
)

// messageCase is one message of testdata/message_to_matrix.input.
type messageCase struct {
	name string
	raw  string
	msg  slack.Msg
}

// readMessages reads the cases: a comment line names the JSON line after
// it.
func readMessages(t testing.TB) []messageCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "message_to_matrix.input"))
	require.NoError(t, err)
	defer f.Close()
	var out []messageCase
	name := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
		case line[0] == '#':
			name = strings.TrimSpace(line[1:])
		default:
			var m slack.Msg
			require.NoError(t, json.Unmarshal([]byte(line), &m), "case %q", name)
			out = append(out, messageCase{name: name, raw: line, msg: m})
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestMessageToMatrixGolden converts every message of the input and keeps
// plain text, HTML and mentions in one golden file.
func TestMessageToMatrixGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range readMessages(t) {
		m := mrkdwn.MessageToMatrix(&c.msg, testResolver())
		fmt.Fprintf(&b, "# %s\nplain: %s\nhtml:  %s\n", c.name, strconv.Quote(m.Plain), strconv.Quote(m.HTML))
		if len(m.Mentions) > 0 || m.RoomMention {
			fmt.Fprintf(&b, "mentions: %v room=%v\n", m.Mentions, m.RoomMention)
		}
		b.WriteByte('\n')
	}
	golden.Check(t, "message_to_matrix.golden", b.String())
}

func TestMessageToMatrix(t *testing.T) {
	cases := map[string]slack.Msg{}
	for _, c := range readMessages(t) {
		cases[c.name] = c.msg
	}
	convert := func(name string) mrkdwn.Message {
		m, ok := cases[name]
		require.True(t, ok, "no case %q", name)
		return mrkdwn.MessageToMatrix(&m, testResolver())
	}

	t.Run("a message with blocks and the same text reads like the text", func(t *testing.T) {
		m := convert("what a Slack user types: one rich_text block with styled text")
		text := mrkdwn.ToMatrix("*bold* _it_ ~gone~ `x` *_both_*", testResolver())
		assert.Equal(t, text.Plain, m.Plain)
		assert.Equal(t, text.HTML, m.HTML)
	})

	t.Run("an app's blocks are shown rather than the notification text", func(t *testing.T) {
		m := convert("an app's layout: header, section with fields, divider, context; the text is only the notification")
		assert.Contains(t, m.Plain, "Deploy 😄 finished")
		assert.Contains(t, m.Plain, "took 3 min")
		assert.Contains(t, m.HTML, "<strong>api</strong> is live")
		assert.NotContains(t, m.Plain, "Roll back", "buttons are not text")
		assert.Equal(t, []string{"@alice:example.org"}, m.Mentions)
	})

	t.Run("a block it does not know makes it fall back to the text", func(t *testing.T) {
		m := convert("a block the converter does not know: the text says it all")
		assert.Equal(t, "Quarterly *numbers* are in", m.Plain)
		m = convert("a block the converter does not know and no text: what blocks it knows")
		assert.Equal(t, "only this", m.Plain)
	})

	t.Run("attachments are shown after the text; link previews are not", func(t *testing.T) {
		assert.Equal(t, "Build 42 failed: https://ci/42", convert("an attachment with only its fallback").Plain)
		m := convert("text and a bot's attachment with title, text, fields and footer: both are shown")
		assert.True(t, strings.HasPrefix(m.Plain, "CI report\nHeads up\n"), m.Plain)
		assert.Contains(t, m.HTML, `<blockquote>ci<br><strong><a href="https://ci.example/42">Build 42</a></strong>`)
		assert.Equal(t, "look https://example.org", convert("a link preview Slack added is left out when there is text").Plain)
	})

	t.Run("a nil resolver is allowed", func(t *testing.T) {
		m := cases["links, people, channels and room pings become pills, links and mentions"]
		assert.NotPanics(t, func() { mrkdwn.MessageToMatrix(&m, nil) })
	})
}
