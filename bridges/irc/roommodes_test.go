package irc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

func TestRoomModeInfo(t *testing.T) {
	for _, tc := range []struct {
		modes  string
		rule   event.JoinRule
		listed bool
		talk   int
	}{
		{"", event.JoinRulePublic, true, 0},
		{"nt", event.JoinRulePublic, true, 0},
		{"i", event.JoinRuleInvite, true, 0},
		{"k", event.JoinRuleInvite, true, 0},
		{"s", event.JoinRulePublic, false, 0},
		{"p", event.JoinRulePublic, false, 0},
		{"m", event.JoinRulePublic, true, levelVoice},
		{"ikspm", event.JoinRuleInvite, false, levelVoice},
	} {
		flags := map[byte]bool{}
		for i := range len(tc.modes) {
			flags[tc.modes[i]] = true
		}
		info := roomModeInfo(flags)
		assert.Equal(t, tc.rule, info.JoinRule, tc.modes)
		assert.Equal(t, tc.listed, *info.Listed, tc.modes)
		assert.Equal(t, tc.talk, *info.EventsDefault, tc.modes)
	}
}

func TestApplyRoomModes(t *testing.T) {
	is := ircproto.NewISupport()
	ch := &channel{}
	parse := func(modes string, params ...string) []ircproto.ModeChange {
		c, err := is.ParseModes(modes, params)
		assert.NoError(t, err)
		return c
	}
	assert.True(t, applyRoomModes(ch, is, parse("+nt"), true), "a 324 reply always counts")
	assert.False(t, applyRoomModes(ch, is, parse("+o", "bob"), false))
	assert.False(t, applyRoomModes(ch, is, parse("-t"), false), "+t is not seen in Matrix")
	assert.True(t, applyRoomModes(ch, is, parse("+ik", "secret"), false))
	assert.False(t, applyRoomModes(ch, is, parse("+i"), false), "already set")
	assert.True(t, applyRoomModes(ch, is, parse("-i"), false))
	assert.Equal(t, event.JoinRuleInvite, roomModeInfo(ch.flags).JoinRule, "still +k")
	assert.True(t, applyRoomModes(ch, is, parse("-k", "secret"), false))
	assert.Equal(t, event.JoinRulePublic, roomModeInfo(ch.flags).JoinRule)
	assert.True(t, applyRoomModes(ch, is, parse("+m"), true))
	assert.False(t, ch.flags['n'] || ch.flags['k'], "a 324 reply replaces what was known")
}

func TestRankDelta(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modes  string
		level  int
		halfop bool
		want   []string
	}{
		{"op level gives op", "", levelOp, true, []string{"+o gina"}},
		{"admin level is op too", "", 100, true, []string{"+o gina"}},
		{"voice level gives voice", "", levelVoice, true, []string{"+v gina"}},
		{"halfop level gives halfop where the server has it", "", levelHalfop, true, []string{"+h gina"}},
		{"halfop level is voice where the server has no halfop", "", levelHalfop, false, []string{"+v gina"}},
		{"between halfop and op is halfop", "", levelOp - 1, true, []string{"+h gina"}},
		{"an op taken to halfop loses op", "o", levelHalfop, true, []string{"-o gina", "+h gina"}},
		{"a halfop taken to voice loses halfop", "h", levelVoice, true, []string{"-h gina", "+v gina"}},
		{"a voiced member made halfop keeps their voice", "v", levelHalfop, true, []string{"+h gina"}},
		{"a halfop made op keeps halfop", "hv", levelOp, true, []string{"+o gina"}},
		{"an op taken to voice", "o", levelVoice, true, []string{"-o gina", "+v gina"}},
		{"below voice loses everything", "ohv", 0, true, []string{"-o gina", "-h gina", "-v gina"}},
		{"a new op keeps their voice", "v", levelOp, true, []string{"+o gina"}},
		{"an op with voice at op level needs nothing", "ov", levelOp, true, []string{}},
		{"a halfop at halfop level needs nothing", "h", levelHalfop, true, []string{}},
		{"below voice with nothing needs nothing", "", 5, true, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []string{}
			for _, c := range rankDelta(tc.modes, "gina", tc.level, tc.halfop) {
				got = append(got, c.String())
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMayChangeRanks(t *testing.T) {
	voice := []ircproto.ModeChange{{Add: true, Mode: 'v', Param: "gina"}, {Add: false, Mode: 'v', Param: "ivy"}}
	halfop := []ircproto.ModeChange{{Add: true, Mode: 'h', Param: "gina"}}
	op := []ircproto.ModeChange{{Add: false, Mode: 'v', Param: "ivy"}, {Add: true, Mode: 'o', Param: "gina"}}
	for _, tc := range []struct {
		name    string
		level   int
		changes []ircproto.ModeChange
		refusal string // "" for allowed
	}{
		{"an op may give ops", levelOp, op, ""},
		{"an op may give halfop", levelOp, halfop, ""},
		{"an op may give voice", levelOp, voice, ""},
		{"a halfop may give and take voice", levelHalfop, voice, ""},
		{"a halfop may not give halfop", levelHalfop, halfop, "half-operator in #c on IRC, so you can give or take voice there but not ops"},
		{"a halfop may not give ops, even with voice changes beside", levelHalfop, op, "half-operator"},
		{"a voiced member may not give voice", levelVoice, voice, "not a channel operator in #c"},
		{"a plain member may not give anything", 0, voice, "not a channel operator in #c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mayChangeRanks(tc.level, "me", "#c", tc.changes)
			if tc.refusal == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, bridge.ErrRefused)
			assert.ErrorContains(t, err, tc.refusal)
		})
	}
}

func TestModeLines(t *testing.T) {
	o := func(add bool, mode byte, nick string) ircproto.ModeChange {
		return ircproto.ModeChange{Add: add, Mode: mode, Param: nick}
	}
	for _, tc := range []struct {
		name    string
		changes []ircproto.ModeChange
		per     int
		lineLen int
		want    []string
	}{
		{"one change is one line", []ircproto.ModeChange{o(true, 'h', "gina")}, 3, 0, []string{"MODE #c +h gina"}},
		{"a member's changes share a line and their signs", []ircproto.ModeChange{o(false, 'o', "gina"), o(true, 'h', "gina")}, 3, 0,
			[]string{"MODE #c -o+h gina gina"}},
		{"like signs are written once", []ircproto.ModeChange{o(false, 'o', "a"), o(false, 'h', "a"), o(false, 'v', "a")}, 3, 0,
			[]string{"MODE #c -ohv a a a"}},
		{"past MODES, a new line", []ircproto.ModeChange{o(true, 'v', "a"), o(true, 'v', "b"), o(true, 'o', "c")}, 2, 0,
			[]string{"MODE #c +vv a b", "MODE #c +o c"}},
		{"a MODES of 0 is no limit", []ircproto.ModeChange{o(true, 'v', "a"), o(true, 'v', "b"), o(true, 'v', "c"), o(true, 'v', "d")}, 0, 0,
			[]string{"MODE #c +vvvv a b c d"}},
		// ":" + 10-byte prefix + " MODE #c " + CRLF is 22 bytes; each "v nickname1" 11 more, 12 with its sign.
		{"without MODES, the line length still splits", []ircproto.ModeChange{o(true, 'v', "nickname1"), o(true, 'v', "nickname2"), o(true, 'v', "nickname3")}, 0, 50,
			[]string{"MODE #c +vv nickname1 nickname2", "MODE #c +v nickname3"}},
		{"a change longer than the line still goes alone", []ircproto.ModeChange{o(true, 'o', strings.Repeat("n", 40))}, 0, 30,
			[]string{"MODE #c +o " + strings.Repeat("n", 40)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []string{}
			for _, m := range modeLines("#c", tc.changes, tc.per, tc.lineLen, 10) {
				got = append(got, m.String())
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
