package irc

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// identifiedPuppet starts a network with the "identified" PM policy on
// srv and alice's puppet; edit may change the config further.
func identifiedPuppet(t *testing.T, srv *scriptedServer, edit func(*Config)) (*testNet, *Conn) {
	t.Helper()
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) {
		c.Channels = nil
		c.PrivateMessages = PMConfig{Policy: PMIdentified}
		if edit != nil {
			edit(c)
		}
	})
	_, c := tn.startPuppet(t, alice)
	return tn, c
}

func TestIdentifiedPolicyWithoutAccountTag(t *testing.T) {
	srv := startScripted(t, script{whois: map[string][]string{
		"known":  {"330 %s known knownacct :is logged in as"},
		"regged": {"307 %s regged :is a registered nick"},
	}})
	tn, c := identifiedPuppet(t, srv, nil)
	require.False(t, c.HasCap("account-tag"), "the server offers no account-tag, so WHOIS must answer")
	pm := func(from, text string) {
		srv.to(c.Nick(), fmt.Sprintf(":%s PRIVMSG %s :%s", from, c.Nick(), text))
	}
	delivered := func(t *testing.T, from *int, text string) *bridge.RemoteEvent {
		return tn.core.waitEvent(t, from, "the PM", isMessage(text))
	}

	t.Run("a sender WHOIS names an account for is accepted", func(t *testing.T) {
		from := tn.core.end()
		pm("known!k@known.host", "hello from an account")
		ev := delivered(t, &from, "hello from an account")
		assert.Equal(t, tn.dmKey("known", alice), ev.Portal)
		assert.Equal(t, 1, srv.count("WHOIS known"))
	})

	t.Run("the answer is kept a while: the next PM costs no WHOIS", func(t *testing.T) {
		from := tn.core.end()
		pm("known!k@known.host", "and again")
		delivered(t, &from, "and again")
		assert.Equal(t, 1, srv.count("WHOIS known"))
	})

	t.Run("the same nick from another user@host is asked about again", func(t *testing.T) {
		from := tn.core.end()
		pm("known!k@known.host", "first")
		delivered(t, &from, "first")
		pm("known!other@elsewhere", "nick taken over")
		delivered(t, &from, "nick taken over")
		assert.Equal(t, 2, srv.count("WHOIS known"))
	})

	t.Run("a registered nick (307) is accepted", func(t *testing.T) {
		from := tn.core.end()
		pm("regged!r@host", "registered")
		delivered(t, &from, "registered")
	})

	t.Run("a sender WHOIS names no account for is refused and told", func(t *testing.T) {
		from := tn.core.end()
		pm("stranger!s@host", "buy now")
		pm("stranger!s@host", "really")
		srv.waitLine(t, "NOTICE stranger :"+c.Nick()+" only accepts private messages from users identified")
		pm("regged!r@host", "marker")
		delivered(t, &from, "marker")
		for _, ev := range tn.core.since(from) {
			assert.NotEqual(t, tn.dmKey("stranger", alice), ev.Portal, "nothing from the stranger was delivered")
		}
		assert.Equal(t, 1, srv.count("WHOIS stranger"), "two PMs, one WHOIS")
	})
}

func TestIdentifiedPolicyKeepsOrder(t *testing.T) {
	srv := startScripted(t, script{unanswered: map[string]bool{"slow": true}})
	tn, c := identifiedPuppet(t, srv, nil)
	me := c.Nick()
	from := tn.core.end()

	srv.to(me, ":slow!s@host PRIVMSG "+me+" :first")
	srv.waitLine(t, "WHOIS slow")
	// With the worker busy, the second PM and then the WHOIS answer are
	// read; the PING's PONG says the reader has handled both.
	entered, release := make(chan struct{}), make(chan struct{})
	tn.later(func() { close(entered); <-release })
	<-entered
	srv.to(me, ":slow!s@host PRIVMSG "+me+" :second")
	srv.to(me, ":fake 330 "+me+" slow slowacct :is logged in as")
	srv.to(me, ":fake 318 "+me+" slow :End of /WHOIS list.")
	srv.to(me, "PING :after-whois")
	srv.waitLine(t, "after-whois")
	close(release)

	tn.core.waitEvent(t, &from, "the second PM", isMessage("second"))
	var got []string
	for _, ev := range tn.core.since(0) {
		if ev.Kind == bridge.RemoteMessage && ev.Portal == tn.dmKey("slow", alice) {
			got = append(got, ev.Content.Body)
		}
	}
	assert.Equal(t, []string{"first", "second"}, got, "a sender's PMs are delivered in the order they came")
}

func TestNickChangeWaitsForTheOldNicksLookup(t *testing.T) {
	srv := startScripted(t, script{unanswered: map[string]bool{"slow": true}})
	tn, c := identifiedPuppet(t, srv, nil)
	me := c.Nick()
	oldKey, newKey := tn.dmKey("slow", alice), tn.dmKey("quick", alice)
	tn.core.addPortal(oldKey)
	from := tn.core.end()

	srv.to(me, ":slow!s@host PRIVMSG "+me+" :before the nick change")
	srv.waitLine(t, "WHOIS slow")
	srv.to(me, ":slow!s@host NICK quick")
	srv.to(me, ":quick!s@host PRIVMSG "+me+" :after the nick change")
	srv.to(me, "PING :nick-seen")
	srv.waitLine(t, "nick-seen")
	srv.to(me, ":fake 330 "+me+" slow slowacct :is logged in as")
	srv.to(me, ":fake 318 "+me+" slow :End of /WHOIS list.")

	tn.core.waitEvent(t, &from, "the PM after the nick change", isMessage("after the nick change"))
	var got []string
	for _, ev := range tn.core.since(0) {
		switch {
		case ev.Kind == bridge.RemoteMessage && (ev.Portal == oldKey || ev.Portal == newKey):
			got = append(got, string(ev.Portal.Chat)+": "+ev.Content.Body)
		case ev.Kind == bridge.RemoteChatMove && ev.Portal == oldKey:
			got = append(got, "moved to "+string(ev.NewChat))
		}
	}
	assert.Equal(t, []string{
		string(oldKey.Chat) + ": before the nick change",
		"moved to " + string(newKey.Chat),
		string(newKey.Chat) + ": after the nick change",
	}, got, "the DM moves after the PMs sent under the old nick, and the new nick's PMs follow it, accepted on the old nick's answer")
	assert.Zero(t, srv.count("WHOIS quick"), "the new nick is the same sender, already being asked about")
}

func TestIdentifiedPolicyBoundsLookups(t *testing.T) {
	unanswered := map[string]bool{"late": true}
	for i := 1; i <= 7; i++ {
		unanswered[fmt.Sprintf("spam%d", i)] = true
	}
	srv := startScripted(t, script{unanswered: unanswered})
	// A slow line budget, so that a WHOIS can be caught waiting in it.
	tn, c := identifiedPuppet(t, srv, func(c *Config) { c.Limits.LinesPerSecond, c.Limits.LineBurst = 5, 20 })
	me := c.Nick()
	refusal := "only accepts private messages from users identified"

	t.Run("spam from many nicks starts only a few WHOISes; the rest are refused", func(t *testing.T) {
		// Each from a host of its own: a sender is told why only once.
		for i := 1; i <= 6; i++ {
			srv.to(me, fmt.Sprintf(":spam%d!s@host%d PRIVMSG %s :buy now", i, i, me))
		}
		srv.waitLine(t, "NOTICE spam6 :"+me+" "+refusal)
		srv.waitLine(t, "NOTICE spam5 :"+me+" "+refusal)
		for i := 1; i <= 4; i++ {
			srv.waitLine(t, fmt.Sprintf("WHOIS spam%d", i))
		}
		assert.Equal(t, 4, srv.count("WHOIS spam"), "four lookups at a time")
	})

	t.Run("an answered lookup makes room for another", func(t *testing.T) {
		srv.to(me, ":fake 318 "+me+" spam1 :End of /WHOIS list.")
		srv.waitLine(t, "NOTICE spam1 :"+me+" "+refusal)
		srv.to(me, ":spam7!s@host7 PRIVMSG "+me+" :buy later")
		srv.waitLine(t, "WHOIS spam7")
		for i := 2; i <= 7; i++ {
			srv.to(me, fmt.Sprintf(":fake 318 %s spam%d :End of /WHOIS list.", me, i))
		}
		require.Eventually(t, func() bool {
			tn.accounts.mu.Lock()
			defer tn.accounts.mu.Unlock()
			return len(tn.accounts.pending) == 0
		}, 15e9, 1e7, "lookups did not end")
	})

	t.Run("a lookup that timed out does not send its WHOIS", func(t *testing.T) {
		for c.bucket.tryTake() {
		}
		srv.to(me, ":late!l@host PRIVMSG "+me+" :hello")
		require.Eventually(t, func() bool {
			tn.accounts.mu.Lock()
			defer tn.accounts.mu.Unlock()
			return tn.accounts.pending["late"] != nil
		}, 15e9, 1e7, "no lookup for late")
		tn.endLookup("late") // what its timeout does
		// The budget serves lines in the order they asked, so a WHOIS
		// still waiting would go out before this marker.
		require.NoError(t, c.Send(testCtx(t), ircproto.NewMessage("PRIVMSG", "marker", "after the timeout")))
		srv.waitLine(t, "PRIVMSG marker")
		assert.Zero(t, srv.count("WHOIS late"))
	})
}
