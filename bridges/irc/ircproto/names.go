package ircproto

import (
	"fmt"
	"strings"
)

// NamesReply is one RPL_NAMREPLY (353) line. A channel's member list is
// the union of all 353 lines up to RPL_ENDOFNAMES (366).
type NamesReply struct {
	// Symbol is '=' (public), '*' (private) or '@' (secret); 0 when an
	// RFC 1459 server left it out.
	Symbol  byte
	Channel string
	Members []Member
}

// Member is one entry of a NAMES reply.
type Member struct {
	Nick string
	// User and Host are set with userhost-in-names.
	User string
	Host string
	// Modes are the membership modes in rank order ("ov"); with
	// multi-prefix there may be several, without it only the highest.
	Modes string
}

// HighestMode returns the member's highest membership mode, or 0.
func (m Member) HighestMode() byte {
	if m.Modes == "" {
		return 0
	}
	return m.Modes[0]
}

// ParseNames parses an RPL_NAMREPLY message. Entries may carry several
// prefixes ("@+nick", multi-prefix) and a full mask ("nick!user@host",
// userhost-in-names); empty entries from doubled spaces are skipped.
func (s *ISupport) ParseNames(m *Message) (NamesReply, error) {
	if m.Command != RPL_NAMREPLY {
		return NamesReply{}, fmt.Errorf("parse names: %s is not %s", m.Command, RPL_NAMREPLY)
	}
	if err := CheckParams(m); err != nil {
		return NamesReply{}, fmt.Errorf("parse names: %w", err)
	}
	var r NamesReply
	rest := m.Params[1:]
	// "<client> <symbol> <channel> :names"; RFC 1459 had no symbol.
	if len(rest) >= 3 && len(rest[0]) == 1 && strings.IndexByte("=*@", rest[0][0]) >= 0 {
		r.Symbol, rest = rest[0][0], rest[1:]
	}
	r.Channel = rest[0]
	names := rest[len(rest)-1]
	r.Members = make([]Member, 0, strings.Count(names, " ")+1)
	for item := range strings.FieldsSeq(names) {
		if mem, ok := s.ParseMember(item); ok {
			r.Members = append(r.Members, mem)
		}
	}
	return r, nil
}

// ParseMember parses one NAMES entry ("@+nick!user@host"). It returns
// false for an entry that is only prefixes.
func (s *ISupport) ParseMember(item string) (Member, bool) {
	i := 0
	for i < len(item) && strings.IndexByte(s.prefixChars, item[i]) >= 0 {
		i++
	}
	prefixes := item[:i]
	p := ParsePrefix(item[i:])
	if p.Name == "" {
		return Member{}, false
	}
	return Member{Nick: p.Name, User: p.User, Host: p.Host, Modes: s.modesForPrefixes(prefixes)}, true
}

// modesForPrefixes turns prefix characters into mode letters sorted by
// rank, dropping duplicates, whatever order the server sent them in.
func (s *ISupport) modesForPrefixes(prefixes string) string {
	switch len(prefixes) {
	case 0:
		return ""
	case 1:
		m, _ := s.ModeForPrefix(prefixes[0])
		return string(m)
	}
	var b strings.Builder
	for i := 0; i < len(s.prefixChars); i++ {
		if strings.IndexByte(prefixes, s.prefixChars[i]) >= 0 {
			b.WriteByte(s.prefixModes[i])
		}
	}
	return b.String()
}
