package irc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// authPayload returns the decoded SASL PLAIN payload nick sent the
// scripted server: authzid, authcid and password.
func (s *scriptedServer) authPayload(t *testing.T, nick string) []string {
	t.Helper()
	for _, l := range s.lines(nick + ": AUTHENTICATE ") {
		if arg := strings.TrimPrefix(l, nick+": AUTHENTICATE "); arg != "PLAIN" {
			return plainParts(arg)
		}
	}
	t.Fatalf("%s sent no SASL payload", nick)
	return nil
}

// upInChannel connects a puppet that is to be in channel: it joins it
// on connecting, after identifying to NickServ if it does, so the JOIN
// is the sign that it decided.
func upInChannel(t *testing.T, p *Puppet, channel string) *Conn {
	t.Helper()
	p.enterChannel(testCtx(t), channel, false)
	c, err := p.up(testCtx(t))
	require.NoError(t, err)
	return c
}

func TestSASL(t *testing.T) {
	const secret, wrong, botSecret = "s3cret-pw", "wr0ng-pw", "b0t-pw"
	srv := startScripted(t, script{
		accounts: map[string]string{"AliceChosen": secret, "isthmusbot": botSecret},
		saslAnswer: map[string][]string{"CarolChosen": {
			"908 %s EXTERNAL :are available SASL mechanisms", "904 %s :SASL authentication failed",
		}},
	})
	logs := &logBuffer{}
	tn := startNetworkLogging(t, &irctest.Server{Addr: srv.addr}, func(c *Config) {
		c.Channels = nil
		c.SASL = &SASLConfig{Username: "isthmusbot", Password: botSecret}
	}, logs)
	ctx := testCtx(t)

	t.Run("the bot logs in to the account in its config", func(t *testing.T) {
		c, err := tn.bot.conn.wait(ctx)
		require.NoError(t, err)
		assert.True(t, c.Authenticated())
		assert.Equal(t, []string{"", "isthmusbot", botSecret}, srv.authPayload(t, c.Nick()))
	})

	t.Run("a user's stored password logs their puppet in with SASL PLAIN, and NickServ is not needed", func(t *testing.T) {
		_, s, err := tn.Login(ctx, &bridge.User{MXID: alice}, []string{"AliceChosen", secret})
		require.NoError(t, err)
		c := upInChannel(t, s.(*Puppet), "#after-identify")
		assert.True(t, c.Authenticated())
		assert.Equal(t, []string{"", "AliceChosen", secret}, srv.authPayload(t, "AliceChosen"))
		assert.Equal(t, "as AliceChosen", s.State().Message)
		srv.waitLine(t, "AliceChosen: JOIN #after-identify")
		assert.Zero(t, srv.count("IDENTIFY"))
	})

	t.Run("a refused password is told in the management room, without the password, and not tried on NickServ", func(t *testing.T) {
		bob := id.UserID("@bob:" + testDomain)
		_, s, err := tn.Login(ctx, &bridge.User{MXID: bob}, []string{"BobChosen", wrong})
		require.NoError(t, err)
		c := upInChannel(t, s.(*Puppet), "#after-identify")
		assert.False(t, c.Authenticated())
		assert.Equal(t, []string{"", "BobChosen", wrong}, srv.authPayload(t, "BobChosen"))
		notice := tn.core.waitNotice(t, bob, "refused your account login as BobChosen")
		assert.Contains(t, notice, "(SASL authentication failed)", "the server's words")
		assert.Contains(t, notice, "login test BobChosen <password>")
		assert.NotContains(t, notice, wrong)
		assert.Equal(t, "as BobChosen, not identified: SASL authentication failed", s.State().Message)
		srv.waitLine(t, "BobChosen: JOIN #after-identify")
		assert.Zero(t, srv.count("IDENTIFY"), "the refused password did not go to NickServ")
	})

	t.Run("a SASL failure before the password was sent is no refusal: the password goes to NickServ", func(t *testing.T) {
		carol := id.UserID("@carol:" + testDomain)
		_, s, err := tn.Login(ctx, &bridge.User{MXID: carol}, []string{"CarolChosen", secret})
		require.NoError(t, err)
		c := upInChannel(t, s.(*Puppet), "#after-identify")
		assert.False(t, c.Authenticated())
		assert.Empty(t, c.SASLRefusal())
		assert.Equal(t, "as CarolChosen", s.State().Message)
		srv.waitLine(t, "CarolChosen: PRIVMSG NickServ :IDENTIFY")
		tn.core.mu.Lock()
		notices := tn.core.notices[carol]
		tn.core.mu.Unlock()
		for _, n := range notices {
			assert.NotContains(t, n, "refused your account login")
		}
	})

	t.Run("no log line holds a password", func(t *testing.T) {
		assert.GreaterOrEqual(t, logs.count("AUTHENTICATE <redacted>"), 3, "the IRC lines were logged, payloads hidden")
		for _, pw := range []string{secret, wrong, botSecret} {
			assert.Zero(t, logs.count(pw), "a log line holds %q", pw)
		}
	})
}
