package ircproto

import "errors"

var (
	// ErrEmptyLine is returned by Parse for a line with nothing but spaces
	// and line terminators; readers usually skip such lines.
	ErrEmptyLine = errors.New("empty line")
	// ErrNoCommand is returned by Parse when tags or a source are not
	// followed by a command.
	ErrNoCommand = errors.New("missing command")
	// ErrInvalidCommand means a command is neither letters nor a
	// three-digit numeric.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrInvalidByte means a NUL, CR or LF sits where it would corrupt
	// framing: inside a received line, or anywhere in a message we build.
	// Refusing it is what stops "text\r\nQUIT" from becoming two commands.
	ErrInvalidByte = errors.New("invalid byte")
	// ErrTagsTooLong means the tag section exceeds the IRCv3 limit (8191
	// bytes with the leading '@' and the trailing space).
	ErrTagsTooLong = errors.New("message tags too long")
	// ErrLineTooLong means the part of a line after the tags exceeds the
	// limit (512 bytes with CRLF unless LINELEN says otherwise).
	ErrLineTooLong = errors.New("line too long")
	// ErrInvalidParam means a parameter cannot be serialised where it is:
	// only the last parameter may be empty, start with ':' or hold spaces.
	ErrInvalidParam = errors.New("invalid parameter")
	// ErrInvalidTag means a tag key is empty or holds a byte that would
	// break the tag section (space, ';', '=').
	ErrInvalidTag = errors.New("invalid tag")
	// ErrInvalidSource means a message source holds a space or a byte
	// that breaks framing.
	ErrInvalidSource = errors.New("invalid source")
	// ErrNeedMoreParams is returned by CheckParams when an inbound command
	// has fewer parameters than its handler relies on.
	ErrNeedMoreParams = errors.New("not enough parameters")
	// ErrModeParamMissing is returned by mode parsing when a mode that
	// takes a parameter has none left.
	ErrModeParamMissing = errors.New("mode parameter missing")
	// ErrSASLFailed is returned by the capability negotiator when SASL
	// authentication was required and did not succeed.
	ErrSASLFailed = errors.New("SASL authentication failed")
	// ErrInvalidRegistration means a nick, username or realname cannot be
	// sent during registration (empty, or with spaces where not allowed).
	ErrInvalidRegistration = errors.New("invalid registration")
	// ErrSplitBudget means the fixed part of a line (prefix, command,
	// target) leaves no room for text.
	ErrSplitBudget = errors.New("no room for text in line")
)
