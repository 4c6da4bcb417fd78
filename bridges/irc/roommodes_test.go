package irc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"maunium.net/go/mautrix/event"

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
	s := func(cs []ircproto.ModeChange) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.String())
		}
		return out
	}
	assert.Equal(t, []string{"+o gina"}, s(rankDelta("", "gina", levelOp)))
	assert.Equal(t, []string{"+o gina"}, s(rankDelta("", "gina", 100)))
	assert.Equal(t, []string{"+v gina"}, s(rankDelta("", "gina", levelVoice)))
	assert.Equal(t, []string{"+v gina"}, s(rankDelta("", "gina", levelHalfop)))
	assert.Equal(t, []string{"-o gina", "+v gina"}, s(rankDelta("o", "gina", levelVoice)))
	assert.Equal(t, []string{"-o gina", "-v gina"}, s(rankDelta("ov", "gina", 0)))
	assert.Equal(t, []string{"+o gina"}, s(rankDelta("v", "gina", levelOp)), "a new op keeps their voice")
	assert.Equal(t, []string{}, s(rankDelta("ov", "gina", levelOp)))
	assert.Equal(t, []string{}, s(rankDelta("", "gina", 5)))
}
