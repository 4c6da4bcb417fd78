package ircproto_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

func TestParseCTCP(t *testing.T) {
	tests := []struct {
		name string
		text string
		want ircproto.CTCP
		ok   bool
	}{
		{"an ACTION splits into command and text", "\x01ACTION waves hello\x01", ircproto.CTCP{Command: "ACTION", Params: "waves hello"}, true},
		{"a request without params has empty params", "\x01VERSION\x01", ircproto.CTCP{Command: "VERSION"}, true},
		{"a missing closing delimiter is tolerated", "\x01ACTION waves", ircproto.CTCP{Command: "ACTION", Params: "waves"}, true},
		{"the command is upper-cased", "\x01action waves\x01", ircproto.CTCP{Command: "ACTION", Params: "waves"}, true},
		{"an empty ACTION keeps empty params", "\x01ACTION \x01", ircproto.CTCP{Command: "ACTION"}, true},
		{"params keep inner spaces", "\x01PING 123  456\x01", ircproto.CTCP{Command: "PING", Params: "123  456"}, true},
		{"plain text is not CTCP", "hello", ircproto.CTCP{}, false},
		{"a delimiter in the middle is not CTCP", "hi \x01ACTION x\x01", ircproto.CTCP{}, false},
		{"a lone delimiter is not CTCP", "\x01", ircproto.CTCP{}, false},
		{"two delimiters without a command are not CTCP", "\x01\x01", ircproto.CTCP{}, false},
		{"a delimiter then a space is not CTCP", "\x01 x\x01", ircproto.CTCP{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ircproto.ParseCTCP(tt.text)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.ok, ircproto.IsCTCP(tt.text))
		})
	}
}

func TestEncodeCTCP(t *testing.T) {
	assert.Equal(t, "\x01ACTION waves\x01", ircproto.Action("waves"))
	assert.Equal(t, "\x01VERSION\x01", ircproto.EncodeCTCP("version", ""))
	assert.Equal(t, "\x01ACTION breaks out\x01", ircproto.Action("breaks\x01 out"), "a delimiter inside is dropped")
	got, ok := ircproto.ParseCTCP(ircproto.Action("dances"))
	require.True(t, ok)
	assert.Equal(t, ircproto.CTCP{Command: "ACTION", Params: "dances"}, got)
}

func TestMessageCTCP(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		ok     bool
		action bool
	}{
		{"an ACTION in a PRIVMSG is a CTCP action", ":n!u@h PRIVMSG #a :\x01ACTION waves\x01", true, true},
		{"a VERSION reply in a NOTICE is CTCP but no action", ":n!u@h NOTICE me :\x01VERSION isthmus\x01", true, false},
		{"a plain PRIVMSG is not CTCP", ":n!u@h PRIVMSG #a :hello", false, false},
		{"CTCP framing in a TOPIC is not CTCP", ":n!u@h TOPIC #a :\x01ACTION x\x01", false, false},
		{"a PRIVMSG without text is not CTCP", ":n!u@h PRIVMSG #a", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.line)
			_, ok := m.CTCP()
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.action, m.IsAction())
		})
	}
}

func TestServerTime(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  time.Time
	}{
		{"milliseconds and Z parse", "2011-10-19T16:40:51.620Z", time.Date(2011, 10, 19, 16, 40, 51, 620_000_000, time.UTC)},
		{"no fraction parses", "2011-10-19T16:40:51Z", time.Date(2011, 10, 19, 16, 40, 51, 0, time.UTC)},
		{"microseconds parse", "2011-10-19T16:40:51.620123Z", time.Date(2011, 10, 19, 16, 40, 51, 620_123_000, time.UTC)},
		{"an offset is converted to UTC", "2011-10-19T18:40:51.620+02:00", time.Date(2011, 10, 19, 16, 40, 51, 620_000_000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ircproto.ParseServerTime(tt.value)
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got), "got %v", got)
			assert.Equal(t, time.UTC, got.Location())
		})
	}
	for _, bad := range []string{"", "yesterday", "1318963251", "2011-10-19 16:40:51"} {
		t.Run("a malformed value "+`"`+bad+`"`+" is an error", func(t *testing.T) {
			_, err := ircproto.ParseServerTime(bad)
			assert.Error(t, err)
		})
	}
}

func TestFormatServerTime(t *testing.T) {
	ts := time.Date(2011, 10, 19, 18, 40, 51, 620_999_999, time.FixedZone("x", 2*3600))
	assert.Equal(t, "2011-10-19T16:40:51.620Z", ircproto.FormatServerTime(ts))
}

func TestMessageTime(t *testing.T) {
	got, ok := mustParse(t, "@time=2011-10-19T16:40:51.620Z :n!u@h PRIVMSG #a :hi").Time()
	assert.True(t, ok)
	assert.Equal(t, time.Date(2011, 10, 19, 16, 40, 51, 620_000_000, time.UTC), got)
	_, ok = mustParse(t, ":n!u@h PRIVMSG #a :hi").Time()
	assert.False(t, ok, "no tag, no time")
	_, ok = mustParse(t, "@time=garbage :n!u@h PRIVMSG #a :hi").Time()
	assert.False(t, ok, "a bad tag is as good as none")
}
