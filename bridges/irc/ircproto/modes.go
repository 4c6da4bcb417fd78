package ircproto

import (
	"fmt"
	"strings"
)

// ModeChange is one mode set or unset by a MODE line.
type ModeChange struct {
	Add   bool
	Mode  byte
	Param string
}

// String gives the change back as "+o nick" or "-m".
func (c ModeChange) String() string {
	sign := "-"
	if c.Add {
		sign = "+"
	}
	if c.Param == "" {
		return sign + string(c.Mode)
	}
	return sign + string(c.Mode) + " " + c.Param
}

// Type tells how a mode letter takes its parameter. Prefix modes are
// checked first: a server that lists 'o' in both PREFIX and CHANMODES
// still means a nick.
func (cm ChanModes) Type(mode byte) ModeType {
	switch {
	case strings.IndexByte(cm.Prefix, mode) >= 0:
		return ModePrefix
	case strings.IndexByte(cm.A, mode) >= 0:
		return ModeTypeA
	case strings.IndexByte(cm.B, mode) >= 0:
		return ModeTypeB
	case strings.IndexByte(cm.C, mode) >= 0:
		return ModeTypeC
	case strings.IndexByte(cm.D, mode) >= 0:
		return ModeTypeD
	}
	return ModeUnknown
}

// takesParam reports whether a mode consumes a parameter: list, always
// and prefix modes always; type C only when set; type D and unknown
// modes never.
func (t ModeType) takesParam(add bool) bool {
	switch t {
	case ModeTypeA, ModeTypeB, ModePrefix:
		return true
	case ModeTypeC:
		return add
	}
	return false
}

// Parse splits a channel mode string and its parameters into changes:
// "+ov-b" with ["alice", "bob", "*!*@spam"] gives +o alice, +v bob,
// -b *!*@spam. A mode string without a leading sign starts as '+'.
//
// If a mode needs a parameter and none is left, the change is still
// returned with an empty Param, together with an error wrapping
// ErrModeParamMissing, so the caller can apply what is certain and log
// the rest. Extra parameters are ignored.
func (cm ChanModes) Parse(modes string, params []string) ([]ModeChange, error) {
	changes := make([]ModeChange, 0, len(modes))
	add := true
	var err error
	for i := 0; i < len(modes); i++ {
		switch c := modes[i]; c {
		case '+':
			add = true
		case '-':
			add = false
		default:
			ch := ModeChange{Add: add, Mode: c}
			if cm.Type(c).takesParam(add) {
				if len(params) > 0 {
					ch.Param, params = params[0], params[1:]
				} else if err == nil {
					err = fmt.Errorf("%w: %s", ErrModeParamMissing, ch)
				}
			}
			changes = append(changes, ch)
		}
	}
	return changes, err
}

// ParseModes parses a channel MODE with the server's CHANMODES and
// PREFIX. For user modes (MODE on a nick) use ParseUserModes.
func (s *ISupport) ParseModes(modes string, params []string) ([]ModeChange, error) {
	return s.chanModes.Parse(modes, params)
}

// ParseModeMessage parses the changes in a MODE message or an
// RPL_CHANNELMODEIS (324) reply, returning the target they apply to. A
// MODE on a nick is parsed as user modes. Other messages, or ones too
// short to carry a mode string, give an error wrapping ErrNeedMoreParams.
func (s *ISupport) ParseModeMessage(m *Message) (target string, changes []ModeChange, err error) {
	first := 0
	switch m.Command {
	case "MODE":
	case RPL_CHANNELMODEIS:
		first = 1 // the client nick comes first
	default:
		return "", nil, fmt.Errorf("parse modes: %s is neither MODE nor %s", m.Command, RPL_CHANNELMODEIS)
	}
	if len(m.Params) < first+2 {
		return "", nil, fmt.Errorf("parse modes: %w: %s has %d", ErrNeedMoreParams, m.Command, len(m.Params))
	}
	target, modes, args := m.Params[first], m.Params[first+1], m.Params[first+2:]
	if !s.IsChannel(target) {
		return target, ParseUserModes(modes), nil
	}
	changes, err = s.ParseModes(modes, args)
	return target, changes, err
}

// ParseUserModes parses a user mode string ("+iw-x"); user modes take no
// parameters in anything the bridge needs.
func ParseUserModes(modes string) []ModeChange {
	changes, _ := ChanModes{}.Parse(modes, nil)
	return changes
}
