package ircproto

import (
	"fmt"
	"time"
)

// ServerTimeFormat is the layout of the IRCv3 server-time tag: UTC with
// millisecond precision, "2011-10-19T16:40:51.620Z".
const ServerTimeFormat = "2006-01-02T15:04:05.000Z"

// ParseServerTime parses a server-time tag value. It accepts any RFC 3339
// time, with or without fractional seconds, since not every server pads
// to milliseconds; the result is in UTC.
func ParseServerTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse server-time %q: %w", v, err)
	}
	return t.UTC(), nil
}

// FormatServerTime formats t as a server-time tag value.
func FormatServerTime(t time.Time) string {
	return t.UTC().Format(ServerTimeFormat)
}

// Time returns the time from the message's server-time tag, and false
// when there is none or it does not parse; the caller then uses the time
// of receipt.
func (m *Message) Time() (time.Time, bool) {
	v, ok := m.Tags["time"]
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseServerTime(v)
	return t, err == nil
}
