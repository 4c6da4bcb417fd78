package ircproto

import "strings"

// Casemapping is how a server decides that two nicks or channel names are
// the same, announced as CASEMAPPING in RPL_ISUPPORT. Getting it wrong
// means two ghosts for one IRC user, or a message to the wrong one.
type Casemapping int

const (
	// CasemapRFC1459 folds A–Z and also []\~ to {}|^, because RFC 1459
	// came from a Scandinavian charset where those are letter pairs. It is
	// the default when a server says nothing.
	CasemapRFC1459 Casemapping = iota
	// CasemapStrictRFC1459 folds A–Z and []\ to {}|, but not ~ to ^.
	CasemapStrictRFC1459
	// CasemapASCII folds A–Z only.
	CasemapASCII
	// CasemapUnicode stands for the PRECIS-based mappings (rfc8265,
	// rfc7613) some servers announce for UTF-8 nicks. It is approximated
	// by ASCII folding plus Unicode lower-casing, which agrees with PRECIS
	// on the nicks such servers accept in practice.
	CasemapUnicode
)

// ParseCasemapping maps a CASEMAPPING value to a Casemapping. Unknown
// values give CasemapRFC1459 and false: folding more than the server does
// could at worst merge two rare nicks, folding less would split one user
// in two every time they change case.
func ParseCasemapping(s string) (Casemapping, bool) {
	switch strings.ToLower(s) {
	case "rfc1459":
		return CasemapRFC1459, true
	case "strict-rfc1459":
		return CasemapStrictRFC1459, true
	case "ascii":
		return CasemapASCII, true
	case "rfc8265", "rfc7613", "precis":
		return CasemapUnicode, true
	}
	return CasemapRFC1459, false
}

// String returns the CASEMAPPING token value.
func (c Casemapping) String() string {
	switch c {
	case CasemapStrictRFC1459:
		return "strict-rfc1459"
	case CasemapASCII:
		return "ascii"
	case CasemapUnicode:
		return "rfc8265"
	}
	return "rfc1459"
}

// FoldByte folds one byte. Bytes >= 0x80 are left alone (CasemapUnicode
// folds them in Fold).
func (c Casemapping) FoldByte(b byte) byte {
	switch {
	case b >= 'A' && b <= 'Z':
		return b + ('a' - 'A')
	case c == CasemapASCII || c == CasemapUnicode:
		return b
	case b == '[' || b == ']' || b == '\\':
		return b + ('{' - '[')
	case b == '~' && c == CasemapRFC1459:
		return '^'
	}
	return b
}

// Fold returns the canonical (lower-case) form of a nick or channel name,
// for use as a map key. It does not allocate when s is already folded.
func (c Casemapping) Fold(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c.FoldByte(s[i]) != s[i] || (s[i] >= 0x80 && c == CasemapUnicode) {
			break
		}
	}
	if i == len(s) {
		return s
	}
	if c == CasemapUnicode {
		return strings.ToLower(s)
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		b[i] = c.FoldByte(b[i])
	}
	return string(b)
}

// EqualFold reports whether a and b are the same name under c.
func (c Casemapping) EqualFold(a, b string) bool {
	if c == CasemapUnicode {
		return c.Fold(a) == c.Fold(b)
	}
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && c.FoldByte(a[i]) != c.FoldByte(b[i]) {
			return false
		}
	}
	return true
}
