package irc

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

func TestIdentifiedPolicyWithoutAccountTag(t *testing.T) {
	srv := startScripted(t, script{whois: map[string][]string{
		"known":  {"330 %s known knownacct :is logged in as"},
		"regged": {"307 %s regged :is a registered nick"},
	}})
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) {
		c.Channels = nil
		c.PrivateMessages = PMConfig{Policy: PMIdentified}
	})
	p, err := tn.puppetFor(testCtx(t), alice)
	require.NoError(t, err)
	p.conn.start()
	c, err := p.conn.wait(testCtx(t))
	require.NoError(t, err)
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
	tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) {
		c.Channels = nil
		c.PrivateMessages = PMConfig{Policy: PMIdentified}
	})
	p, err := tn.puppetFor(testCtx(t), alice)
	require.NoError(t, err)
	p.conn.start()
	c, err := p.conn.wait(testCtx(t))
	require.NoError(t, err)
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
