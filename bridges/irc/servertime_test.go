package irc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// TestServerTimeIsTheEventTime has a scripted server send channel lines
// with server-time tags: a line the server stamped long ago (as a
// bouncer's playback or a lagging link does) keeps that time in Matrix.
func TestServerTimeIsTheEventTime(t *testing.T) {
	srv := startScripted(t, script{})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, nil)
	srv.waitLine(t, "JOIN #bridged")
	srv.to("IsthmusBot", ":IsthmusBot!bot@host JOIN #bridged")
	srv.to("IsthmusBot", ":fake 353 IsthmusBot = #bridged :IsthmusBot carol")
	srv.to("IsthmusBot", ":fake 366 IsthmusBot #bridged :End of /NAMES list.")
	tn.waitBotIn(t, "#bridged")

	for _, tc := range []struct {
		name, tag string
		want      time.Time // zero: the time the line came
	}{
		{"a line stamped in the past keeps its time, to the millisecond", "@time=2021-03-04T05:06:07.890Z ",
			time.Date(2021, 3, 4, 5, 6, 7, 890_000_000, time.UTC)},
		{"a stamp without milliseconds is read too", "@time=2019-12-31T23:59:59Z ",
			time.Date(2019, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"a line without a stamp gets the time it came", "", time.Time{}},
		{"a stamp that is no time is ignored", "@time=yesterday ", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := tn.core.end()
			body := "said " + tc.name
			before := time.Now()
			srv.to("IsthmusBot", tc.tag+":carol!c@host PRIVMSG #bridged :"+body)
			ev := tn.core.waitEvent(t, &from, "carol's message", isMessage(body))
			after := time.Now()
			assert.Equal(t, bridge.RemoteUserID("carol"), ev.Sender.ID)
			if tc.want.IsZero() {
				assert.False(t, ev.Timestamp.Before(before) || ev.Timestamp.After(after),
					"timestamp %s not between sending (%s) and receiving (%s)", ev.Timestamp, before, after)
				return
			}
			assert.True(t, tc.want.Equal(ev.Timestamp), "timestamp %s, want %s", ev.Timestamp, tc.want)
		})
	}
}
