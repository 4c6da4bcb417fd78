package ircproto_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

func TestParseModes(t *testing.T) {
	s := ircproto.NewISupport()
	s.ApplyTokens("PREFIX=(qaohv)~&@%+", "CHANMODES=beI,k,l,imnpst")
	tests := []struct {
		name   string
		modes  string
		params []string
		want   []ircproto.ModeChange
	}{
		{
			name: "prefix and list modes each take a parameter", modes: "+ov-b",
			params: []string{"alice", "bob", "*!*@spam"},
			want: []ircproto.ModeChange{
				{Add: true, Mode: 'o', Param: "alice"},
				{Add: true, Mode: 'v', Param: "bob"},
				{Add: false, Mode: 'b', Param: "*!*@spam"},
			},
		},
		{
			name: "a type C mode takes a parameter only when set", modes: "+l-l",
			params: []string{"50"},
			want:   []ircproto.ModeChange{{Add: true, Mode: 'l', Param: "50"}, {Add: false, Mode: 'l'}},
		},
		{
			name: "a type B mode takes a parameter when unset too", modes: "-k+k",
			params: []string{"old", "new"},
			want:   []ircproto.ModeChange{{Add: false, Mode: 'k', Param: "old"}, {Add: true, Mode: 'k', Param: "new"}},
		},
		{
			name: "type D modes never take a parameter", modes: "+mnt-i",
			want: []ircproto.ModeChange{{Add: true, Mode: 'm'}, {Add: true, Mode: 'n'}, {Add: true, Mode: 't'}, {Add: false, Mode: 'i'}},
		},
		{
			name: "a mode string without a sign starts as adding", modes: "o",
			params: []string{"alice"},
			want:   []ircproto.ModeChange{{Add: true, Mode: 'o', Param: "alice"}},
		},
		{
			name: "parameters are consumed in order across types", modes: "+kml-o+bv",
			params: []string{"key", "10", "carol", "*!*@x", "dave"},
			want: []ircproto.ModeChange{
				{Add: true, Mode: 'k', Param: "key"},
				{Add: true, Mode: 'm'},
				{Add: true, Mode: 'l', Param: "10"},
				{Add: false, Mode: 'o', Param: "carol"},
				{Add: true, Mode: 'b', Param: "*!*@x"},
				{Add: true, Mode: 'v', Param: "dave"},
			},
		},
		{
			name: "an unknown mode takes no parameter", modes: "+Xo",
			params: []string{"alice"},
			want:   []ircproto.ModeChange{{Add: true, Mode: 'X'}, {Add: true, Mode: 'o', Param: "alice"}},
		},
		{
			name: "extra parameters are ignored", modes: "+v",
			params: []string{"alice", "extra"},
			want:   []ircproto.ModeChange{{Add: true, Mode: 'v', Param: "alice"}},
		},
		{
			name: "halfop and owner come from PREFIX", modes: "+qh",
			params: []string{"a", "b"},
			want:   []ircproto.ModeChange{{Add: true, Mode: 'q', Param: "a"}, {Add: true, Mode: 'h', Param: "b"}},
		},
		{
			name: "an empty mode string gives no changes", modes: "",
			want: []ircproto.ModeChange{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ParseModes(tt.modes, tt.params)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseModesReportsAMissingParameter(t *testing.T) {
	s := ircproto.NewISupport()
	got, err := s.ParseModes("+ob", []string{"alice"})
	assert.ErrorIs(t, err, ircproto.ErrModeParamMissing)
	assert.Equal(t, []ircproto.ModeChange{{Add: true, Mode: 'o', Param: "alice"}, {Add: true, Mode: 'b'}}, got,
		"what could be parsed is still returned")
}

func TestParseModesFromAMessage(t *testing.T) {
	s := ircproto.NewISupport()
	m := mustParse(t, ":op!o@h MODE #chan +ov-b nick1 nick2 mask!*@*")
	require.NoError(t, ircproto.CheckParams(m))
	got, err := s.ParseModes(m.Params[1], m.Params[2:])
	require.NoError(t, err)
	parts := make([]string, len(got))
	for i, c := range got {
		parts[i] = c.String()
	}
	assert.Equal(t, "+o nick1, +v nick2, -b mask!*@*", strings.Join(parts, ", "))
}

func TestParseModeMessage(t *testing.T) {
	s := ircproto.NewISupport()
	tests := []struct {
		name   string
		line   string
		target string
		want   []ircproto.ModeChange
	}{
		{
			name: "a channel MODE gives the channel and its changes", line: ":op!o@h MODE #chan +o-v alice bob",
			target: "#chan",
			want:   []ircproto.ModeChange{{Add: true, Mode: 'o', Param: "alice"}, {Add: false, Mode: 'v', Param: "bob"}},
		},
		{
			name: "a 324 reply skips the client nick", line: ":srv 324 me #chan +ntkl secret 50",
			target: "#chan",
			want: []ircproto.ModeChange{
				{Add: true, Mode: 'n'}, {Add: true, Mode: 't'},
				{Add: true, Mode: 'k', Param: "secret"}, {Add: true, Mode: 'l', Param: "50"},
			},
		},
		{
			name: "a MODE on a nick is user modes", line: ":me MODE me :+iw",
			target: "me",
			want:   []ircproto.ModeChange{{Add: true, Mode: 'i'}, {Add: true, Mode: 'w'}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, got, err := s.ParseModeMessage(mustParse(t, tt.line))
			require.NoError(t, err)
			assert.Equal(t, tt.target, target)
			assert.Equal(t, tt.want, got)
		})
	}

	_, _, err := s.ParseModeMessage(mustParse(t, ":srv 324 me #chan"))
	assert.ErrorIs(t, err, ircproto.ErrNeedMoreParams)
	_, _, err = s.ParseModeMessage(mustParse(t, ":n!u@h PRIVMSG #chan +o"))
	assert.Error(t, err)
}

func TestParseUserModes(t *testing.T) {
	assert.Equal(t, []ircproto.ModeChange{{Add: true, Mode: 'i'}, {Add: true, Mode: 'w'}, {Add: false, Mode: 'x'}},
		ircproto.ParseUserModes("+iw-x"))
}

func TestModeType(t *testing.T) {
	s := ircproto.NewISupport()
	for mode, want := range map[byte]ircproto.ModeType{
		'b': ircproto.ModeTypeA, 'k': ircproto.ModeTypeB, 'l': ircproto.ModeTypeC,
		'm': ircproto.ModeTypeD, 'o': ircproto.ModePrefix, 'Z': ircproto.ModeUnknown,
	} {
		assert.Equal(t, want, s.ModeType(mode), string(mode))
	}
}

func TestParseNames(t *testing.T) {
	s := ircproto.NewISupport()
	s.ApplyTokens("PREFIX=(qaohv)~&@%+")
	tests := []struct {
		name string
		line string
		want ircproto.NamesReply
	}{
		{
			name: "single prefixes map to their modes",
			line: ":srv 353 me = #chan :@alice +bob carol",
			want: ircproto.NamesReply{Symbol: '=', Channel: "#chan", Members: []ircproto.Member{
				{Nick: "alice", Modes: "o"}, {Nick: "bob", Modes: "v"}, {Nick: "carol"},
			}},
		},
		{
			name: "multi-prefix gives every mode in rank order",
			line: ":srv 353 me @ #secret :+@alice ~&@%+owner",
			want: ircproto.NamesReply{Symbol: '@', Channel: "#secret", Members: []ircproto.Member{
				{Nick: "alice", Modes: "ov"}, {Nick: "owner", Modes: "qaohv"},
			}},
		},
		{
			name: "userhost-in-names gives user and host",
			line: ":srv 353 me * #priv :@alice!a@host.example bob!~b@1.2.3.4",
			want: ircproto.NamesReply{Symbol: '*', Channel: "#priv", Members: []ircproto.Member{
				{Nick: "alice", User: "a", Host: "host.example", Modes: "o"},
				{Nick: "bob", User: "~b", Host: "1.2.3.4"},
			}},
		},
		{
			name: "an RFC 1459 reply without a symbol still parses",
			line: ":srv 353 me #old :@op user",
			want: ircproto.NamesReply{Channel: "#old", Members: []ircproto.Member{{Nick: "op", Modes: "o"}, {Nick: "user"}}},
		},
		{
			name: "doubled and trailing spaces and bare prefixes are skipped",
			line: ":srv 353 me = #chan :alice  @  bob ",
			want: ircproto.NamesReply{Symbol: '=', Channel: "#chan", Members: []ircproto.Member{{Nick: "alice"}, {Nick: "bob"}}},
		},
		{
			name: "unicode nicks pass through",
			line: ":srv 353 me = #chan :@Ünï",
			want: ircproto.NamesReply{Symbol: '=', Channel: "#chan", Members: []ircproto.Member{{Nick: "Ünï", Modes: "o"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ParseNames(mustParse(t, tt.line))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseNamesRejects(t *testing.T) {
	s := ircproto.NewISupport()
	_, err := s.ParseNames(mustParse(t, ":srv 366 me #chan :End"))
	assert.Error(t, err, "only 353 is a NAMES reply")
	_, err = s.ParseNames(mustParse(t, ":srv 353 me :names"))
	assert.ErrorIs(t, err, ircproto.ErrNeedMoreParams)
}

func TestMemberHighestMode(t *testing.T) {
	assert.Equal(t, byte('o'), ircproto.Member{Modes: "ov"}.HighestMode())
	assert.Zero(t, ircproto.Member{}.HighestMode())
}

func TestCheckParams(t *testing.T) {
	tests := []struct {
		name string
		line string
		ok   bool
	}{
		{"a full PRIVMSG passes", ":n!u@h PRIVMSG #a :hi", true},
		{"a PRIVMSG without text fails", ":n!u@h PRIVMSG #a", false},
		{"a KICK without a nick fails", ":n!u@h KICK #a", false},
		{"a KICK without a reason passes", ":n!u@h KICK #a bob", true},
		{"a QUIT without a reason passes", ":n!u@h QUIT", true},
		{"a 353 without names fails", ":srv 353 me =", false},
		{"a 433 with the nick passes", ":srv 433 * bridge :Nickname is already in use", true},
		{"a 333 without the time fails", ":srv 333 me #a setter", false},
		{"an unknown command passes whatever it has", ":srv FOO", true},
		{"an unknown numeric passes", ":srv 999", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ircproto.CheckParams(mustParse(t, tt.line))
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ircproto.ErrNeedMoreParams)
			}
		})
	}
}

func TestMinParams(t *testing.T) {
	n, ok := ircproto.MinParams(ircproto.RPL_TOPICWHOTIME)
	assert.True(t, ok)
	assert.Equal(t, 4, n)
	_, ok = ircproto.MinParams("NOSUCH")
	assert.False(t, ok)
}

func TestNumericHelpers(t *testing.T) {
	assert.True(t, ircproto.IsNumeric(ircproto.RPL_WELCOME))
	assert.False(t, ircproto.IsNumeric("PRIVMSG"))
	assert.True(t, ircproto.IsError(ircproto.ERR_NICKNAMEINUSE))
	assert.True(t, ircproto.IsError(ircproto.ERR_USERSDONTMATCH))
	assert.False(t, ircproto.IsError(ircproto.RPL_SASLSUCCESS))
	assert.False(t, ircproto.IsError("NOTICE"))
}
