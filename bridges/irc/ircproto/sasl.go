package ircproto

import (
	"encoding/base64"
	"strings"
)

// SASL mechanisms the negotiator speaks.
const (
	SASLPlain    = "PLAIN"
	SASLExternal = "EXTERNAL"
)

// authenticateChunk is the most base64 one AUTHENTICATE line may carry
// (IRCv3 sasl-3.1).
const authenticateChunk = 400

// SASLConfig holds credentials for SASL. Its fields are secrets: do not
// log the struct.
type SASLConfig struct {
	// Mechanism is SASLPlain (the default when empty) or SASLExternal
	// (a TLS client certificate).
	Mechanism string
	// Authzid is the identity to act as; usually empty, meaning the
	// same as Username.
	Authzid  string
	Username string
	Password string
	// Required makes failure fatal: the negotiator returns ErrSASLFailed
	// instead of registering unauthenticated (and, for example, getting
	// a guest nick or losing access to +r channels).
	Required bool
}

func (c *SASLConfig) mechanism() string {
	if c.Mechanism == "" {
		return SASLPlain
	}
	return strings.ToUpper(c.Mechanism)
}

func (c *SASLConfig) payload() string {
	if c.mechanism() == SASLExternal {
		if c.Authzid == "" {
			return ""
		}
		return base64.StdEncoding.EncodeToString([]byte(c.Authzid))
	}
	return SASLPlainPayload(c.Authzid, c.Username, c.Password)
}

// SASLPlainPayload encodes PLAIN credentials (RFC 4616):
// base64("authzid\0authcid\0password").
func SASLPlainPayload(authzid, authcid, password string) string {
	raw := make([]byte, 0, len(authzid)+len(authcid)+len(password)+2)
	raw = append(raw, authzid...)
	raw = append(raw, 0)
	raw = append(raw, authcid...)
	raw = append(raw, 0)
	raw = append(raw, password...)
	return base64.StdEncoding.EncodeToString(raw)
}

// AuthenticateLines splits a base64 payload into AUTHENTICATE lines of
// 400 bytes. A payload that is empty or an exact multiple of 400 ends
// with "AUTHENTICATE +", so the server knows nothing more is coming.
// The lines carry secrets; log them with Message.Redacted.
func AuthenticateLines(payload string) []*Message {
	out := make([]*Message, 0, len(payload)/authenticateChunk+1)
	for len(payload) >= authenticateChunk {
		out = append(out, NewMessage("AUTHENTICATE", payload[:authenticateChunk]))
		payload = payload[authenticateChunk:]
	}
	if payload == "" {
		payload = "+"
	}
	return append(out, NewMessage("AUTHENTICATE", payload))
}
