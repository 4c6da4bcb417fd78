package ircproto_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

func TestCasemapping(t *testing.T) {
	tests := []struct {
		name  string
		cm    ircproto.Casemapping
		a, b  string
		equal bool
	}{
		{"ascii folds letters", ircproto.CasemapASCII, "NiCk", "nick", true},
		{"ascii keeps brackets apart from braces", ircproto.CasemapASCII, "[a]", "{a}", false},
		{"ascii keeps tilde apart from caret", ircproto.CasemapASCII, "a~", "a^", false},
		{"rfc1459 folds letters", ircproto.CasemapRFC1459, "NICK", "nick", true},
		{"rfc1459 folds brackets to braces", ircproto.CasemapRFC1459, "[away]", "{away}", true},
		{"rfc1459 folds backslash to pipe", ircproto.CasemapRFC1459, `a\b`, "a|b", true},
		{"rfc1459 folds tilde to caret", ircproto.CasemapRFC1459, "a~", "a^", true},
		{"rfc1459 folds all four at once", ircproto.CasemapRFC1459, `[]\~`, "{}|^", true},
		{"strict-rfc1459 folds brackets and backslash", ircproto.CasemapStrictRFC1459, `[]\`, "{}|", true},
		{"strict-rfc1459 keeps tilde apart from caret", ircproto.CasemapStrictRFC1459, "a~", "a^", false},
		{"no casemapping folds non-ASCII bytes byte-wise", ircproto.CasemapRFC1459, "É", "é", false},
		{"the unicode casemapping folds non-ASCII letters", ircproto.CasemapUnicode, "Élan", "élan", true},
		{"different lengths are never equal", ircproto.CasemapRFC1459, "nick", "nick_", false},
		{"different letters are not equal", ircproto.CasemapRFC1459, "alice", "alicf", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.equal, tt.cm.EqualFold(tt.a, tt.b))
			assert.Equal(t, tt.equal, tt.cm.Fold(tt.a) == tt.cm.Fold(tt.b), "Fold must agree with EqualFold")
		})
	}
}

func TestCasemappingFold(t *testing.T) {
	assert.Equal(t, "{nick}|^", ircproto.CasemapRFC1459.Fold(`[NICK]\~`))
	assert.Equal(t, "{nick}|~", ircproto.CasemapStrictRFC1459.Fold(`[NICK]\~`))
	assert.Equal(t, `[nick]\~`, ircproto.CasemapASCII.Fold(`[NICK]\~`))
	assert.Equal(t, "#chän", ircproto.CasemapRFC1459.Fold("#CHän"), "non-ASCII bytes are left alone")
	assert.Equal(t, "ünï", ircproto.CasemapUnicode.Fold("ÜNÏ"))
	folded := "already{folded}"
	assert.Equal(t, folded, ircproto.CasemapRFC1459.Fold(folded))
}

func TestParseCasemapping(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  ircproto.Casemapping
		known bool
	}{
		{"rfc1459 is known", "rfc1459", ircproto.CasemapRFC1459, true},
		{"strict-rfc1459 is known", "strict-rfc1459", ircproto.CasemapStrictRFC1459, true},
		{"ascii is known", "ascii", ircproto.CasemapASCII, true},
		{"values are case-insensitive", "ASCII", ircproto.CasemapASCII, true},
		{"rfc8265 maps to unicode", "rfc8265", ircproto.CasemapUnicode, true},
		{"an unknown value falls back to rfc1459", "klingon", ircproto.CasemapRFC1459, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := ircproto.ParseCasemapping(tt.value)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.known, known)
			if known {
				back, _ := ircproto.ParseCasemapping(got.String())
				assert.Equal(t, got, back, "String must name the same casemapping")
			}
		})
	}
}

func mustParse(t testing.TB, line string) *ircproto.Message {
	t.Helper()
	m, err := ircproto.Parse(line)
	require.NoError(t, err)
	return m
}

func TestISupportDefaults(t *testing.T) {
	s := ircproto.NewISupport()
	assert.Equal(t, "#&", s.ChanTypes())
	modes, prefixes := s.Prefix()
	assert.Equal(t, "ov", modes)
	assert.Equal(t, "@+", prefixes)
	assert.Equal(t, ircproto.ChanModes{A: "beI", B: "k", C: "l", D: "imnpst", Prefix: "ov"}, s.ChanModes())
	assert.Equal(t, ircproto.CasemapRFC1459, s.Casemapping())
	assert.Equal(t, 9, s.NickLen())
	assert.Equal(t, 200, s.ChannelLen())
	assert.Equal(t, 512, s.LineLen())
	assert.Equal(t, 3, s.Modes())
	assert.Zero(t, s.TopicLen())
	assert.Zero(t, s.AwayLen())
	assert.Empty(t, s.Network())
	_, known := s.TargMax("PRIVMSG")
	assert.False(t, known)
	assert.True(t, s.IsChannel("&local"))
	assert.False(t, s.IsChannel("nick"))
	assert.False(t, s.IsChannel(""))
}

func TestISupportApply(t *testing.T) {
	s := ircproto.NewISupport()
	s.Apply(mustParse(t, ":srv 005 me CHANTYPES=# PREFIX=(qaohv)~&@%+ CHANMODES=beIq,k,lf,imnpstrRcCz CASEMAPPING=ascii :are supported by this server"))
	s.Apply(mustParse(t, ":srv 005 me NICKLEN=30 CHANNELLEN=64 TOPICLEN=390 AWAYLEN=200 LINELEN=2048 MODES=4 NETWORK=Example\\x20Net STATUSMSG=@+ TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:,KICK:1 :are supported by this server"))

	assert.Equal(t, "#", s.ChanTypes())
	assert.False(t, s.IsChannel("&local"), "& is not a channel once CHANTYPES=#")
	modes, prefixes := s.Prefix()
	assert.Equal(t, "qaohv", modes)
	assert.Equal(t, "~&@%+", prefixes)
	assert.Equal(t, ircproto.ChanModes{A: "beIq", B: "k", C: "lf", D: "imnpstrRcCz", Prefix: "qaohv"}, s.ChanModes())
	assert.Equal(t, ircproto.CasemapASCII, s.Casemapping())
	assert.False(t, s.EqualFold("[a]", "{a}"))
	assert.True(t, s.EqualFold("Nick", "nICK"))
	assert.Equal(t, "nick", s.Fold("NICK"))
	assert.Equal(t, 30, s.NickLen())
	assert.Equal(t, 64, s.ChannelLen())
	assert.Equal(t, 390, s.TopicLen())
	assert.Equal(t, 200, s.AwayLen())
	assert.Equal(t, 2048, s.LineLen())
	assert.Equal(t, ircproto.Limits{LineBytes: 2048}, s.Limits())
	assert.Equal(t, 4, s.Modes())
	assert.Equal(t, "Example Net", s.Network(), "\\x20 is unescaped")
	assert.Equal(t, "@+", s.StatusMsg())

	for _, tc := range []struct {
		cmd   string
		limit int
		known bool
	}{{"PRIVMSG", 4, true}, {"privmsg", 4, true}, {"JOIN", 0, true}, {"KICK", 1, true}, {"PART", 0, false}} {
		limit, known := s.TargMax(tc.cmd)
		assert.Equal(t, tc.limit, limit, tc.cmd)
		assert.Equal(t, tc.known, known, tc.cmd)
	}

	v, ok := s.Get("network")
	assert.True(t, ok)
	assert.Equal(t, "Example Net", v)
}

func TestISupportTokens(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		check  func(t *testing.T, s *ircproto.ISupport)
	}{
		{
			name:   "a removed token goes back to its default",
			tokens: []string{"NICKLEN=30", "CASEMAPPING=ascii", "-NICKLEN", "-CASEMAPPING"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, 9, s.NickLen())
				assert.Equal(t, ircproto.CasemapRFC1459, s.Casemapping())
				_, ok := s.Get("NICKLEN")
				assert.False(t, ok)
			},
		},
		{
			name:   "a removed PREFIX keeps CHANMODES and the other way round",
			tokens: []string{"PREFIX=(qo)~@", "CHANMODES=b,k,l,n", "-PREFIX"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, ircproto.ChanModes{A: "b", B: "k", C: "l", D: "n", Prefix: "ov"}, s.ChanModes())
				s.ApplyTokens("PREFIX=(qo)~@", "-CHANMODES")
				assert.Equal(t, ircproto.ChanModes{A: "beI", B: "k", C: "l", D: "imnpst", Prefix: "qo"}, s.ChanModes())
			},
		},
		{
			name:   "a malformed PREFIX keeps the previous one",
			tokens: []string{"PREFIX=(qao)~@", "PREFIX=ov@+"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				modes, prefixes := s.Prefix()
				assert.Equal(t, "ov", modes)
				assert.Equal(t, "@+", prefixes)
			},
		},
		{
			name:   "an empty PREFIX means no membership prefixes",
			tokens: []string{"PREFIX="},
			check: func(t *testing.T, s *ircproto.ISupport) {
				modes, prefixes := s.Prefix()
				assert.Empty(t, modes)
				assert.Empty(t, prefixes)
			},
		},
		{
			name:   "a CHANMODES with fewer than four groups is ignored",
			tokens: []string{"CHANMODES=b,k,l"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, "imnpst", s.ChanModes().D)
			},
		},
		{
			name:   "a CHANMODES with extra groups keeps the first four",
			tokens: []string{"CHANMODES=b,k,l,imnt,XYZ"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, "imnt", s.ChanModes().D)
			},
		},
		{
			name:   "an empty CHANTYPES means no channels",
			tokens: []string{"CHANTYPES="},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.False(t, s.IsChannel("#a"))
			},
		},
		{
			name:   "MODES without a value means no limit",
			tokens: []string{"MODES"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Zero(t, s.Modes())
			},
		},
		{
			name:   "a number that does not parse is ignored",
			tokens: []string{"NICKLEN=lots"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, 9, s.NickLen())
			},
		},
		{
			name:   "an unknown casemapping falls back to rfc1459",
			tokens: []string{"CASEMAPPING=ascii", "CASEMAPPING=whatever"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, ircproto.CasemapRFC1459, s.Casemapping())
			},
		},
		{
			name:   "escapes other than \\xHH are kept as they are",
			tokens: []string{`NETWORK=a\x2Gb\x41\`},
			check: func(t *testing.T, s *ircproto.ISupport) {
				assert.Equal(t, `a\x2GbA\`, s.Network())
			},
		},
		{
			name:   "tokens without a value are stored empty",
			tokens: []string{"WHOX", "EXCEPTS"},
			check: func(t *testing.T, s *ircproto.ISupport) {
				v, ok := s.Get("WHOX")
				assert.True(t, ok)
				assert.Empty(t, v)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ircproto.NewISupport()
			s.ApplyTokens(tt.tokens...)
			tt.check(t, s)
		})
	}
}

func TestISupportApplyKeepsALastTokenWithoutText(t *testing.T) {
	s := ircproto.NewISupport()
	s.Apply(mustParse(t, ":srv 005 me CHANTYPES=# NICKLEN=31"))
	assert.Equal(t, 31, s.NickLen(), "a server that leaves out the text must not lose its last token")
	s.Apply(mustParse(t, ":srv 005 me -NICKLEN"))
	assert.Equal(t, 9, s.NickLen())
	s.Apply(mustParse(t, ":srv 001 me NICKLEN=50 :not 005"))
	assert.Equal(t, 9, s.NickLen(), "other numerics are ignored")
}

func TestISupportCloneIsIndependent(t *testing.T) {
	s := ircproto.NewISupport()
	s.ApplyTokens("TARGMAX=PRIVMSG:4", "NETWORK=A")
	c := s.Clone()
	c.ApplyTokens("TARGMAX=PRIVMSG:1", "NETWORK=B")
	limit, _ := s.TargMax("PRIVMSG")
	assert.Equal(t, 4, limit)
	assert.Equal(t, "A", s.Network())
	v, _ := s.Get("NETWORK")
	assert.Equal(t, "A", v)
}

func TestISupportPrefixLookups(t *testing.T) {
	s := ircproto.NewISupport()
	s.ApplyTokens("PREFIX=(qaohv)~&@%+")
	p, ok := s.PrefixForMode('h')
	assert.True(t, ok)
	assert.Equal(t, byte('%'), p)
	m, ok := s.ModeForPrefix('~')
	assert.True(t, ok)
	assert.Equal(t, byte('q'), m)
	_, ok = s.ModeForPrefix('!')
	assert.False(t, ok)
	_, ok = s.PrefixForMode('b')
	assert.False(t, ok)
	assert.Equal(t, 0, s.Rank('q'))
	assert.Equal(t, 4, s.Rank('v'))
	assert.Equal(t, -1, s.Rank('b'))
}
