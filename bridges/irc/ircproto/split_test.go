package ircproto_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// worstPrefix is a "nick!user@host" as long as a server may make it.
var worstPrefix = strings.Repeat("n", 30) + "!~" + strings.Repeat("u", 10) + "@" + strings.Repeat("h", ircproto.MaxHostLen)

// relayed is the line other clients receive for a chunk we sent.
func relayed(cmd, target, chunk string) string {
	return ":" + worstPrefix + " " + cmd + " " + target + " :" + chunk + "\r\n"
}

func TestSplitText(t *testing.T) {
	long := strings.Repeat("word ", 300) // 1500 bytes
	tests := []struct {
		name string
		text string
		want []string // nil: only check the invariants
	}{
		{name: "short text is one line", text: "hello world", want: []string{"hello world"}},
		{name: "line breaks start new lines", text: "one\ntwo\r\nthree\rfour", want: []string{"one", "two", "three", "four"}},
		{name: "empty lines are dropped", text: "one\n\n\r\ntwo\n", want: []string{"one", "two"}},
		{name: "text that is only line breaks gives nothing", text: "\n\r\n", want: nil},
		{name: "NUL and CTCP delimiters are removed", text: "a\x00b\x01VERSION\x01", want: []string{"abVERSION"}},
		{name: "invalid UTF-8 becomes a replacement character", text: "caf\xe9", want: []string{"caf\uFFFD"}},
		{name: "leading and inner spaces are kept", text: "  indented  text", want: []string{"  indented  text"}},
		{name: "long text splits on spaces", text: long},
		{name: "a long word splits between characters", text: strings.Repeat("x", 1500)},
		{name: "long CJK text splits between characters", text: strings.Repeat("中文字", 200)},
		{name: "long emoji text splits between emoji", text: strings.Repeat("🌍", 400)},
		{name: "a long run of combining sequences splits between them", text: strings.Repeat("e\u0301", 400)},
		{name: "family emoji joined by ZWJ are not split in a joiner", text: strings.Repeat("👨\u200d👩\u200d👧", 100)},
		{name: "colour codes in a long word stay whole", text: strings.Repeat("\x0304,12ab", 200)},
	}
	const target = "#isthmus-bridge"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, err := ircproto.SplitText(target, tt.text, 512, len(worstPrefix))
			require.NoError(t, err)
			if tt.want != nil || len(tt.text) < 100 {
				assert.Equal(t, tt.want, chunks)
			}
			for _, c := range chunks {
				assert.LessOrEqual(t, len(relayed("PRIVMSG", target, c)), 512)
				assert.True(t, utf8.ValidString(c), "chunk %q is not UTF-8", c)
				assert.NotEmpty(t, c)
			}
			if len(tt.text) >= 100 {
				assert.Greater(t, len(chunks), 1)
				assert.Equal(t, strings.ReplaceAll(tt.text, " ", ""), strings.ReplaceAll(strings.Join(chunks, ""), " ", ""),
					"nothing but the spaces at cuts may go missing")
			}
		})
	}
}

func TestSplitTextNeverCutsInsideAGrapheme(t *testing.T) {
	for name, text := range map[string]string{
		"combining acute":  strings.Repeat("e\u0301", 400),
		"zwj family":       strings.Repeat("👨\u200d👩\u200d👧", 100),
		"skin tones":       strings.Repeat("👋🏽", 300),
		"flags":            strings.Repeat("🇫🇷", 300),
		"variation select": strings.Repeat("❤\ufe0f", 400),
	} {
		t.Run("a split of "+name+" starts no line with an extender", func(t *testing.T) {
			chunks, err := ircproto.SplitText("#a", text, 512, len(worstPrefix))
			require.NoError(t, err)
			require.Greater(t, len(chunks), 1)
			for _, c := range chunks[1:] {
				r, _ := utf8.DecodeRuneInString(c)
				assert.NotContains(t, []rune{'\u0301', '\u200d', '\ufe0f', '🏽'}, r, "chunk starts with %U", r)
			}
			assert.Equal(t, text, strings.Join(chunks, ""))
			if name == "flags" {
				for _, c := range chunks {
					assert.Zero(t, utf8.RuneCountInString(c)%2, "a chunk of flags holds whole flags: %q", c)
				}
			}
		})
	}
}

func TestSplitTextKeepsColourCodesWhole(t *testing.T) {
	// Put a colour code right across where a hard cut would fall.
	s := ircproto.Splitter{Target: "#a", PrefixLen: 10}
	chunks, err := s.Split(strings.Repeat("x", 1000))
	require.NoError(t, err)
	budget := len(chunks[0])
	text := strings.Repeat("x", budget-3) + "\x0304,12" + strings.Repeat("y", 100)
	chunks, err = s.Split(text)
	require.NoError(t, err)
	require.Len(t, chunks, 2)
	assert.Equal(t, strings.Repeat("x", budget-3), chunks[0])
	assert.True(t, strings.HasPrefix(chunks[1], "\x0304,12y"), "the code moves whole to the next line: %q", chunks[1])
}

func TestSplitterActions(t *testing.T) {
	s := ircproto.Splitter{Command: "PRIVMSG", Target: "#chan", PrefixLen: len(worstPrefix), Action: true}
	chunks, err := s.Split(strings.Repeat("dances wildly ", 100))
	require.NoError(t, err)
	require.Greater(t, len(chunks), 1)
	for _, c := range chunks {
		ctcp, ok := ircproto.ParseCTCP(c)
		require.True(t, ok, "every chunk of an action is an action: %q", c)
		assert.Equal(t, "ACTION", ctcp.Command)
		assert.True(t, strings.HasSuffix(c, "\x01"))
		assert.LessOrEqual(t, len(relayed("PRIVMSG", "#chan", c)), 512)
	}
}

func TestSplitterMessages(t *testing.T) {
	s := ircproto.Splitter{Command: "NOTICE", Target: "#chan", PrefixLen: len(worstPrefix), LineLen: 512}
	msgs, err := s.Messages("first line\n" + strings.Repeat("a ", 400))
	require.NoError(t, err)
	require.Greater(t, len(msgs), 2)
	assert.Equal(t, "NOTICE #chan :first line", msgs[0].String())
	for _, m := range msgs {
		b, err := m.Bytes()
		require.NoError(t, err)
		assert.LessOrEqual(t, len(":"+worstPrefix+" ")+len(b), 512)
	}

	msgs, err = ircproto.Splitter{Target: "#chan"}.Messages("hi")
	require.NoError(t, err)
	assert.Equal(t, "PRIVMSG #chan hi", msgs[0].String(), "PRIVMSG is the default command")
}

func TestSplitterUsesLineLen(t *testing.T) {
	text := strings.Repeat("abc ", 400) // 1600 bytes
	short, err := ircproto.Splitter{Target: "#a", PrefixLen: 50}.Split(text)
	require.NoError(t, err)
	long, err := ircproto.Splitter{Target: "#a", PrefixLen: 50, LineLen: 2048}.Split(text)
	require.NoError(t, err)
	assert.Len(t, long, 1)
	assert.Greater(t, len(short), 3)
}

func TestSplitterRefusesWhenNothingFits(t *testing.T) {
	_, err := ircproto.SplitText(strings.Repeat("#", 400), "hi", 512, 100)
	assert.ErrorIs(t, err, ircproto.ErrSplitBudget)
}
