package ircproto_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want ircproto.Message
	}{
		{
			name: "a PRIVMSG from a user parses into source, command and params",
			line: ":nick!user@host PRIVMSG #chan :hello world\r\n",
			want: ircproto.Message{
				Source:  ircproto.Prefix{Name: "nick", User: "user", Host: "host"},
				Command: "PRIVMSG", Params: []string{"#chan", "hello world"},
			},
		},
		{
			name: "a bare command has no params",
			line: "PING",
			want: ircproto.Message{Command: "PING"},
		},
		{
			name: "a lower-case command is upper-cased",
			line: "privmsg #a :b",
			want: ircproto.Message{Command: "PRIVMSG", Params: []string{"#a", "b"}},
		},
		{
			name: "a numeric keeps its three digits",
			line: ":irc.example.net 001 me :Welcome to IRC",
			want: ircproto.Message{
				Source:  ircproto.Prefix{Name: "irc.example.net"},
				Command: "001", Params: []string{"me", "Welcome to IRC"},
			},
		},
		{
			name: "tag values are unescaped",
			line: `@a=b\:c\sd\\e\rf\ng;time=2011-10-19T16:40:51.620Z :s CMD`,
			want: ircproto.Message{
				Tags:    map[string]string{"a": "b;c d\\e\rf\ng", "time": "2011-10-19T16:40:51.620Z"},
				Source:  ircproto.Prefix{Name: "s"},
				Command: "CMD",
			},
		},
		{
			name: "a lone trailing backslash in a tag value is dropped",
			line: `@a=b\ CMD`,
			want: ircproto.Message{Tags: map[string]string{"a": "b"}, Command: "CMD"},
		},
		{
			name: "an unknown escape keeps the escaped character",
			line: `@a=\b\x CMD`,
			want: ircproto.Message{Tags: map[string]string{"a": "bx"}, Command: "CMD"},
		},
		{
			name: "a tag without a value equals a tag with an empty value",
			line: `@draft/bot;+client= CMD`,
			want: ircproto.Message{Tags: map[string]string{"draft/bot": "", "+client": ""}, Command: "CMD"},
		},
		{
			name: "a repeated tag keeps its last value",
			line: `@a=1;a=2 CMD`,
			want: ircproto.Message{Tags: map[string]string{"a": "2"}, Command: "CMD"},
		},
		{
			name: "empty tag keys are skipped",
			line: `@;=x;a=1; CMD`,
			want: ircproto.Message{Tags: map[string]string{"a": "1"}, Command: "CMD"},
		},
		{
			name: "a tag section with no usable tag gives no tags",
			line: `@; CMD`,
			want: ircproto.Message{Command: "CMD"},
		},
		{
			name: "runs of spaces count as one separator",
			line: ":src   PRIVMSG   #a    :hi  there  ",
			want: ircproto.Message{Source: ircproto.Prefix{Name: "src"}, Command: "PRIVMSG", Params: []string{"#a", "hi  there  "}},
		},
		{
			name: "leading spaces are skipped",
			line: "   PING x",
			want: ircproto.Message{Command: "PING", Params: []string{"x"}},
		},
		{
			name: "a trailing param keeps colons and spaces",
			line: "PRIVMSG #a ::-) :)",
			want: ircproto.Message{Command: "PRIVMSG", Params: []string{"#a", ":-) :)"}},
		},
		{
			name: "an empty trailing param is kept",
			line: "PRIVMSG #a :",
			want: ircproto.Message{Command: "PRIVMSG", Params: []string{"#a", ""}},
		},
		{
			name: "middle params need no trailing colon",
			line: "MODE #a +ov nick1 nick2",
			want: ircproto.Message{Command: "MODE", Params: []string{"#a", "+ov", "nick1", "nick2"}},
		},
		{
			name: "spaces at the end make no empty param",
			line: "MODE #a +o nick   \r\n",
			want: ircproto.Message{Command: "MODE", Params: []string{"#a", "+o", "nick"}},
		},
		{
			name: "a bare LF ends a line as well as CRLF",
			line: "PING x\n",
			want: ircproto.Message{Command: "PING", Params: []string{"x"}},
		},
		{
			name: "unicode nicks, channels and text pass through",
			line: ":Ünïcødé!ü@höst PRIVMSG #chän :héllo 🌍",
			want: ircproto.Message{
				Source:  ircproto.Prefix{Name: "Ünïcødé", User: "ü", Host: "höst"},
				Command: "PRIVMSG", Params: []string{"#chän", "héllo 🌍"},
			},
		},
		{
			name: "text that is not UTF-8 passes through untouched",
			line: "PRIVMSG #a :caf\xe9",
			want: ircproto.Message{Command: "PRIVMSG", Params: []string{"#a", "caf\xe9"}},
		},
		{
			name: "a source with only a host has an empty user",
			line: ":nick@host CMD",
			want: ircproto.Message{Source: ircproto.Prefix{Name: "nick", Host: "host"}, Command: "CMD"},
		},
		{
			name: "a CAP LS continuation keeps the star as a param",
			line: ":srv CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL",
			want: ircproto.Message{
				Source:  ircproto.Prefix{Name: "srv"},
				Command: "CAP", Params: []string{"*", "LS", "*", "multi-prefix sasl=PLAIN,EXTERNAL"},
			},
		},
		{
			name: "a tag section of exactly 8191 bytes is accepted",
			line: "@a=" + strings.Repeat("x", 8191-4) + " CMD",
			want: ircproto.Message{Tags: map[string]string{"a": strings.Repeat("x", 8191-4)}, Command: "CMD"},
		},
		{
			name: "a body of exactly 510 bytes plus CRLF is accepted",
			line: "PRIVMSG #a :" + strings.Repeat("y", 510-12),
			want: ircproto.Message{Command: "PRIVMSG", Params: []string{"#a", strings.Repeat("y", 510-12)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ircproto.Parse(tt.line)
			require.NoError(t, err)
			assert.Equal(t, &tt.want, got)
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		line string
		want error
	}{
		{"an empty line is refused", "", ircproto.ErrEmptyLine},
		{"a line of only CRLF is refused as empty", "\r\n", ircproto.ErrEmptyLine},
		{"a line of only spaces is refused as empty", "   ", ircproto.ErrEmptyLine},
		{"tags without a command are refused", "@a=b", ircproto.ErrNoCommand},
		{"tags and a space without a command are refused", "@a=b   ", ircproto.ErrNoCommand},
		{"a source without a command is refused", ":nick!u@h", ircproto.ErrNoCommand},
		{"tags and a source without a command are refused", "@a=b :src ", ircproto.ErrNoCommand},
		{"a NUL byte is refused", "PRIVMSG #a :hi\x00there", ircproto.ErrInvalidByte},
		{"a NUL byte in a tag is refused", "@a=\x00 PING", ircproto.ErrInvalidByte},
		{"an embedded CRLF is refused, not read as two lines", "PRIVMSG #a :hi\r\nQUIT :bye", ircproto.ErrInvalidByte},
		{"an embedded lone CR is refused", "PRIVMSG #a :a\rb", ircproto.ErrInvalidByte},
		{"tags over 8191 bytes are refused", "@a=" + strings.Repeat("x", 8191-3) + " CMD", ircproto.ErrTagsTooLong},
		{"huge tags with no command are refused as too long", "@" + strings.Repeat("x", 9000), ircproto.ErrTagsTooLong},
		{"a body over 512 bytes is refused", "PRIVMSG #a :" + strings.Repeat("y", 511-12), ircproto.ErrLineTooLong},
		{"a command of digits that is not three long is refused", "12 foo", ircproto.ErrInvalidCommand},
		{"a four-digit numeric is refused", "0001 foo", ircproto.ErrInvalidCommand},
		{"a command with punctuation is refused", "PRIV-MSG #a", ircproto.ErrInvalidCommand},
		{"a command that starts with a colon is refused", ":src :CMD x", ircproto.ErrInvalidCommand},
		{"a command mixing letters and digits is refused", "A1 x", ircproto.ErrInvalidCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ircproto.Parse(tt.line)
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, got)
		})
	}
}

func TestLimitsParseAcceptsALongerLineLen(t *testing.T) {
	line := "PRIVMSG #a :" + strings.Repeat("y", 1000)
	_, err := ircproto.Parse(line)
	require.ErrorIs(t, err, ircproto.ErrLineTooLong)

	m, err := ircproto.Limits{LineBytes: 2048}.Parse(line)
	require.NoError(t, err)
	assert.Len(t, m.Trailing(), 1000)
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ircproto.Prefix
	}{
		{"a full mask splits into nick, user and host", "nick!user@host", ircproto.Prefix{Name: "nick", User: "user", Host: "host"}},
		{"a server name is all name", "irc.example.net", ircproto.Prefix{Name: "irc.example.net"}},
		{"a nick with a host has no user", "nick@host", ircproto.Prefix{Name: "nick", Host: "host"}},
		{"a nick with a user has no host", "nick!user", ircproto.Prefix{Name: "nick", User: "user"}},
		{"an ident tilde stays in the user", "nick!~user@1.2.3.4", ircproto.Prefix{Name: "nick", User: "~user", Host: "1.2.3.4"}},
		{"an IPv6 host keeps its colons", "n!u@2001:db8::1", ircproto.Prefix{Name: "n", User: "u", Host: "2001:db8::1"}},
		{"a second bang belongs to the user", "a!b!c@d", ircproto.Prefix{Name: "a", User: "b!c", Host: "d"}},
		{"a second at belongs to the host", "a!b@c@d", ircproto.Prefix{Name: "a", User: "b", Host: "c@d"}},
		{"an empty prefix is zero", "", ircproto.Prefix{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ircproto.ParsePrefix(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, ircproto.ParsePrefix(got.String()), "String must parse back")
		})
	}
}

func TestPrefixIsServer(t *testing.T) {
	assert.True(t, ircproto.ParsePrefix("irc.example.net").IsServer())
	assert.False(t, ircproto.ParsePrefix("nick").IsServer())
	assert.False(t, ircproto.ParsePrefix("nick!u@host.example").IsServer())
}

func TestTagValueEscaping(t *testing.T) {
	tests := []struct {
		name, raw, escaped string
	}{
		{"plain text is unchanged", "abc", "abc"},
		{"a semicolon becomes backslash colon", "a;b", `a\:b`},
		{"a space becomes backslash s", "a b", `a\sb`},
		{"a backslash is doubled", `a\b`, `a\\b`},
		{"CR and LF are escaped", "a\r\nb", `a\r\nb`},
		{"everything at once", "; \\\r\n", `\:\s\\\r\n`},
		{"an empty value stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.escaped, ircproto.EscapeTagValue(tt.raw))
			assert.Equal(t, tt.raw, ircproto.UnescapeTagValue(tt.escaped))
		})
	}
}

func TestMessageBytes(t *testing.T) {
	tests := []struct {
		name string
		msg  *ircproto.Message
		want string
	}{
		{"a trailing param with a space gets a colon", ircproto.NewMessage("PRIVMSG", "#a", "hello world"), "PRIVMSG #a :hello world\r\n"},
		{"a one-word trailing param needs no colon", ircproto.NewMessage("PRIVMSG", "#a", "hi"), "PRIVMSG #a hi\r\n"},
		{"an empty trailing param is a bare colon", ircproto.NewMessage("PRIVMSG", "#a", ""), "PRIVMSG #a :\r\n"},
		{"a trailing param starting with a colon gets another", ircproto.NewMessage("PRIVMSG", "#a", ":)"), "PRIVMSG #a ::)\r\n"},
		{"a command is upper-cased", ircproto.NewMessage("nick", "me"), "NICK me\r\n"},
		{"a command alone has no space", ircproto.NewMessage("QUIT"), "QUIT\r\n"},
		{"a numeric stays as it is", &ircproto.Message{Source: ircproto.Prefix{Name: "srv"}, Command: "001", Params: []string{"me", "Welcome"}}, ":srv 001 me Welcome\r\n"},
		{
			"tags are sorted and escaped, and an empty value has no equals sign",
			&ircproto.Message{Tags: map[string]string{"b": "x y", "a": "", "+c": "1;2"}, Command: "TAGMSG", Params: []string{"#a"}},
			"@+c=1\\:2;a;b=x\\sy TAGMSG #a\r\n",
		},
		{
			"a full source is written back",
			&ircproto.Message{Source: ircproto.Prefix{Name: "n", User: "u", Host: "h"}, Command: "JOIN", Params: []string{"#a"}},
			":n!u@h JOIN #a\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.msg.Bytes()
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			assert.Equal(t, strings.TrimSuffix(tt.want, "\r\n"), tt.msg.String())
		})
	}
}

func TestMessageBytesRefusesWhatCannotBeOneLine(t *testing.T) {
	tests := []struct {
		name string
		msg  *ircproto.Message
		want error
	}{
		{"CRLF in text is refused, not sent as a second command", ircproto.NewMessage("PRIVMSG", "#a", "hi\r\nQUIT :pwned"), ircproto.ErrInvalidByte},
		{"a lone LF in text is refused", ircproto.NewMessage("PRIVMSG", "#a", "a\nb"), ircproto.ErrInvalidByte},
		{"a NUL in text is refused", ircproto.NewMessage("PRIVMSG", "#a", "a\x00b"), ircproto.ErrInvalidByte},
		{"a line break in a middle param is refused", ircproto.NewMessage("PRIVMSG", "#a\r\nJOIN #b", "x"), ircproto.ErrInvalidByte},
		{"a middle param with a space is refused", ircproto.NewMessage("KICK", "#a b", "nick"), ircproto.ErrInvalidParam},
		{"an empty middle param is refused", ircproto.NewMessage("PRIVMSG", "", "x"), ircproto.ErrInvalidParam},
		{"a middle param starting with a colon is refused", ircproto.NewMessage("PRIVMSG", ":a", "x"), ircproto.ErrInvalidParam},
		{"an empty command is refused", ircproto.NewMessage(""), ircproto.ErrInvalidCommand},
		{"a command with a space is refused", ircproto.NewMessage("PRIVMSG #a", "x"), ircproto.ErrInvalidCommand},
		{"a tag key with a space is refused", &ircproto.Message{Tags: map[string]string{"a b": ""}, Command: "PING"}, ircproto.ErrInvalidTag},
		{"an empty tag key is refused", &ircproto.Message{Tags: map[string]string{"": "x"}, Command: "PING"}, ircproto.ErrInvalidTag},
		{"a NUL in a tag value is refused", &ircproto.Message{Tags: map[string]string{"a": "\x00"}, Command: "PING"}, ircproto.ErrInvalidByte},
		{"a source with a space is refused", &ircproto.Message{Source: ircproto.Prefix{Name: "a b"}, Command: "PING"}, ircproto.ErrInvalidSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.msg.Bytes()
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, b)
			assert.NotContains(t, tt.msg.String(), "\r", "String must stay one line")
			assert.NotContains(t, tt.msg.String(), "\n", "String must stay one line")
		})
	}
}

func TestTagValuesWithLineBreaksAreEscapedNotSent(t *testing.T) {
	m := &ircproto.Message{Tags: map[string]string{"+draft/reply": "a\r\nQUIT"}, Command: "TAGMSG", Params: []string{"#a"}}
	b, err := m.Bytes()
	require.NoError(t, err)
	assert.Equal(t, "@+draft/reply=a\\r\\nQUIT TAGMSG #a\r\n", string(b))
}

func TestRedactedHidesSecrets(t *testing.T) {
	tests := []struct {
		name string
		msg  *ircproto.Message
		want string
	}{
		{"a server password is hidden", ircproto.NewMessage("PASS", "hunter2"), "PASS <redacted>"},
		{"a SASL payload is hidden", ircproto.NewMessage("AUTHENTICATE", "AGZvbwBiYXI="), "AUTHENTICATE <redacted>"},
		{"the SASL end marker is shown", ircproto.NewMessage("AUTHENTICATE", "+"), "AUTHENTICATE +"},
		{"the SASL mechanism is shown", ircproto.NewMessage("AUTHENTICATE", "PLAIN"), "AUTHENTICATE PLAIN"},
		{"an IDENTIFY to NickServ is hidden", ircproto.NewMessage("PRIVMSG", "nickserv", "IDENTIFY hunter2"), "PRIVMSG nickserv <redacted>"},
		{"an ordinary message is shown", ircproto.NewMessage("PRIVMSG", "#a", "hello there"), "PRIVMSG #a :hello there"},
		{"the keys of a JOIN are hidden", ircproto.NewMessage("JOIN", "#a,#b", "sekrit,other"), "JOIN #a,#b <redacted>"},
		{"a JOIN without keys is shown", ircproto.NewMessage("JOIN", "#a"), "JOIN #a"},
		{"a server's extended JOIN is shown", mustParse(t, ":al!u@h JOIN #a alice :Alice"), ":al!u@h JOIN #a alice Alice"},
		{"a key set is hidden", ircproto.NewMessage("MODE", "#a", "+kl", "sekrit", "10"), "MODE #a +kl <redacted>"},
		{"a key in the mode list is hidden", mustParse(t, ":irc.test 324 me #a +nk :sekrit"), ":irc.test 324 me #a +nk <redacted>"},
		{"a voice is shown", ircproto.NewMessage("MODE", "#a", "+v", "al"), "MODE #a +v al"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.msg.Redacted())
		})
	}
}

func TestMessageAccessors(t *testing.T) {
	m, err := ircproto.Parse("@time=2011-10-19T16:40:51.620Z :n!u@h PRIVMSG #a :hi there")
	require.NoError(t, err)
	assert.Equal(t, "n", m.Nick())
	assert.Equal(t, "#a", m.Param(0))
	assert.Empty(t, m.Param(5), "a missing param is empty, not a panic")
	assert.Empty(t, m.Param(-1))
	assert.Equal(t, "hi there", m.Trailing())
	v, ok := m.Tag("time")
	assert.True(t, ok)
	assert.Equal(t, "2011-10-19T16:40:51.620Z", v)

	c := m.Clone()
	c.Params[0] = "#b"
	c.Tags["time"] = "x"
	assert.Equal(t, "#a", m.Params[0], "a clone shares no params")
	assert.Equal(t, "2011-10-19T16:40:51.620Z", m.Tags["time"], "a clone shares no tags")

	var empty ircproto.Message
	assert.Empty(t, empty.Trailing())
	empty.SetTag("a", "b")
	assert.Equal(t, map[string]string{"a": "b"}, empty.Tags)
}

func TestSanitize(t *testing.T) {
	assert.Equal(t, "a  b c", ircproto.Sanitize("a\r\nb\x00c"))
	assert.Equal(t, "caf\xe9", ircproto.Sanitize("caf\xe9"), "non-UTF-8 bytes are kept")
	m := ircproto.NewMessage("PRIVMSG", "#a", ircproto.Sanitize("hi\r\nQUIT"))
	b, err := m.Bytes()
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(b), "\r\n"))
}
