package irc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

func TestFirstRefusal(t *testing.T) {
	n, _ := offlineNetwork(t, "refusals", nil)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		key  string
		at   time.Time
		want bool
	}{
		{"a sender's first refusal is told", "spam@host off", t0, true},
		{"the same refusal within the hour is not", "spam@host off", t0.Add(59 * time.Minute), false},
		{"another reason is told", "spam@host busy", t0.Add(time.Minute), true},
		{"another sender is told", "other@host off", t0.Add(time.Minute), true},
		{"once the hour is over, it is told again", "spam@host off", t0.Add(refusalWindow), true},
		{"and not again for another hour", "spam@host off", t0.Add(refusalWindow + time.Minute), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, n.firstRefusal(tc.key, tc.at))
		})
	}
	t.Run("a full table drops the expired senders and keeps the rest", func(t *testing.T) {
		n, _ := offlineNetwork(t, "full", nil)
		for i := range maxRefusals - 1 {
			n.firstRefusal(fmt.Sprintf("old%d off", i), t0)
		}
		n.firstRefusal("recent off", t0.Add(refusalWindow))
		assert.True(t, n.firstRefusal("new off", t0.Add(refusalWindow+time.Minute)))
		assert.False(t, n.firstRefusal("recent off", t0.Add(refusalWindow+time.Minute)), "a sender told within the hour stays")
		assert.True(t, n.firstRefusal("old0 off", t0.Add(refusalWindow+time.Minute)), "expired senders were dropped")
		assert.Less(t, len(n.refused), 10)
	})
	t.Run("a telling that could not be sent does not count", func(t *testing.T) {
		n, _ := offlineNetwork(t, "unsent", nil)
		require.True(t, n.firstRefusal("spam@host off", t0))
		n.unrefuse("spam@host off", t0)
		assert.True(t, n.firstRefusal("spam@host off", t0.Add(time.Second)))
		n.unrefuse("spam@host off", t0)
		assert.False(t, n.firstRefusal("spam@host off", t0.Add(2*time.Second)), "only the telling that failed is taken back")
	})
}

// TestRefusalIsToldOnce has a spammer write to two Matrix users' puppets
// twice each while PMs are off: the spammer hears why once, not four times.
func TestRefusalIsToldOnce(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	tn := startNetwork(t, srv, func(c *Config) {
		c.Channels = nil
		c.PrivateMessages = PMConfig{Policy: PMOff, InvitesPerHour: 5}
	})
	const refusal = "does not accept private messages"
	spammer := srv.Connect(t, "spammer")
	var nicks []string
	for _, u := range []id.UserID{"@once_a:" + testDomain, "@once_b:" + testDomain} {
		_, c := tn.startPuppet(t, u)
		nicks = append(nicks, c.Nick())
	}
	for _, nick := range nicks {
		spammer.Send("PRIVMSG %s :buy now", nick)
		spammer.Send("PRIVMSG %s :buy now!", nick)
	}
	// roundTrip returns once the server has handled, and c has read,
	// everything before it.
	roundTrip := func(c *irctest.Client, token string) {
		c.Send("PING :%s", token)
		c.WaitFor("PONG "+token, func(m *ircproto.Message) bool { return m.Command == "PONG" && m.Trailing() == token })
	}
	roundTrip(spammer, "sent")
	// Each puppet answers a fence sender after the spammer's lines, and
	// its notices reach the server in order: once the fence is told, the
	// server holds whatever the puppet told the spammer.
	for i, nick := range nicks {
		fence := srv.Connect(t, fmt.Sprintf("fence%d", i))
		fence.Send("PRIVMSG %s :hello", nick)
		fence.WaitFor("the fence's refusal", irctest.IsText("NOTICE", refusal))
	}
	roundTrip(spammer, "done")
	assert.Equal(t, 1, strings.Count(spammer.Dump(), refusal), "told once over both puppets:\n%s", spammer.Dump())
}
