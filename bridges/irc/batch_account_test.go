package irc

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// TestBatchesAndAccounts plays what neither test server sends (InspIRCd 3
// offers batch, extended-join and account-notify but has no second
// server to split from and no services; ngIRCd offers none of them) from
// the scripted server: netsplit and netjoin batches, and accounts from
// extended-join and ACCOUNT used by the "identified" PM policy.
func TestBatchesAndAccounts(t *testing.T) {
	srv := startScripted(t, script{caps: "batch extended-join account-notify"})
	tn, c := identifiedPuppet(t, srv, func(c *Config) {
		c.Channels = []ChannelConfig{{Channel: "#chan"}}
		c.Membership.NetsplitDelay = Duration(100 * time.Millisecond)
	})
	key := tn.channelKey("#chan")
	tn.core.addPortal(key)
	me := c.Nick()
	srv.waitLine(t, "JOIN #chan")
	bot := tn.bot.conn.current()
	require.NotNil(t, bot)
	for _, capName := range []string{"batch", "extended-join", "account-notify"} {
		require.True(t, bot.HasCap(capName), "the bot asks for %s", capName)
	}
	require.False(t, c.HasCap("account-tag"), "the puppet has no account-tag, so the bot's view or WHOIS must answer")
	toBot := func(format string, args ...any) { srv.to(bot.Nick(), fmt.Sprintf(format, args...)) }
	toBot(":%s!b@h JOIN #chan * :bot", bot.Nick())
	toBot(":fake 353 %s = #chan :%s @op", bot.Nick(), bot.Nick())
	toBot(":fake 366 %s #chan :End of NAMES", bot.Nick())
	tn.waitBotIn(t, "#chan")
	from := 0
	tn.core.waitEvent(t, &from, "the first sync", func(ev *bridge.RemoteEvent) bool {
		return ev.Portal == key && ev.ChatInfo != nil && ev.ChatInfo.Members != nil
	})

	// marker is a channel line from op: the bot handles lines in order, so
	// whatever came before it has been handled once it is seen.
	markers := 0
	marker := func(t *testing.T) int {
		markers++
		text := fmt.Sprintf("marker %d", markers)
		toBot(":op!o@host PRIVMSG #chan :%s", text)
		at := from
		tn.core.waitEvent(t, &at, text, isMessage(text))
		return at
	}
	pm := func(src, text string) { srv.to(me, fmt.Sprintf(":%s PRIVMSG %s :%s", src, me, text)) }
	const refusal = "only accepts private messages from users identified"

	toBot(":acct!a@host JOIN #chan acctname :Has An Account")
	toBot(":anon!n@host JOIN #chan * :Has None")
	from = marker(t)

	t.Run("a sender whose extended-join named an account is accepted without WHOIS", func(t *testing.T) {
		at := tn.core.end()
		pm("acct!a@host", "hello from an account")
		tn.core.waitEvent(t, &at, "the PM", isMessage("hello from an account"))
		assert.Zero(t, srv.count("WHOIS acct"))
	})

	t.Run("a sender whose extended-join named none is refused without WHOIS", func(t *testing.T) {
		pm("anon!n@host", "buy now")
		srv.waitLine(t, "NOTICE anon :"+me+" "+refusal)
		assert.Zero(t, srv.count("WHOIS anon"))
	})

	t.Run("ACCOUNT follows logins and logouts", func(t *testing.T) {
		toBot(":anon!n@host ACCOUNT anonacct")
		toBot(":acct!a@host ACCOUNT *")
		from = marker(t)
		at := tn.core.end()
		pm("anon!n@host", "logged in now")
		tn.core.waitEvent(t, &at, "anon's PM", isMessage("logged in now"))
		pm("acct!a@host", "logged out now")
		srv.waitLine(t, "NOTICE acct :"+me+" "+refusal)
		assert.Zero(t, srv.count("WHOIS acct")+srv.count("WHOIS anon"))
	})

	t.Run("another user@host under an account holder's nick is asked about with WHOIS", func(t *testing.T) {
		pm("anon!impostor@elsewhere", "trust me")
		srv.waitLine(t, "WHOIS anon")
		srv.waitLine(t, "NOTICE anon :"+me+" "+refusal)
	})

	t.Run("a sender the bot knows only from NAMES is asked about with WHOIS", func(t *testing.T) {
		pm("op!o@host", "who am I")
		srv.waitLine(t, "WHOIS op")
		srv.waitLine(t, "NOTICE op :"+me+" "+refusal)
	})

	// burst sends lines in a batch of kind, checks that no event of
	// notKind came of them, and returns the reconcile that follows.
	burst := func(t *testing.T, kind string, notKind bridge.RemoteEventKind, lines ...string) *bridge.RemoteEvent {
		t.Helper()
		start := from
		toBot(":fake BATCH +%s1 %s hub.test leaf.test", kind, kind)
		for _, l := range lines {
			toBot("@batch=%s1 %s", kind, l)
		}
		toBot(":fake BATCH -%s1", kind)
		from = marker(t)
		for _, ev := range tn.core.since(start) {
			assert.NotEqual(t, notKind, ev.Kind, "none per user before the burst settled")
		}
		return tn.core.waitEvent(t, &from, "the reconcile", func(ev *bridge.RemoteEvent) bool {
			return ev.Portal == key && ev.ChatInfo != nil && ev.ChatInfo.Members != nil
		})
	}

	t.Run("QUITs in a netsplit batch are no leaves, whatever their reason, and are reconciled once", func(t *testing.T) {
		ev := burst(t, batchNetsplit, bridge.RemoteLeave,
			":acct!a@host QUIT :Connection closed", ":anon!n@host QUIT :Connection closed")
		assert.Equal(t, []bridge.Sender{tn.ghostSender("op")}, ev.ChatInfo.Members)
		_, known := tn.bot.knownAccount(ircproto.Prefix{Name: "acct", User: "a", Host: "host"})
		assert.False(t, known, "the bot no longer follows the account of someone who left")
	})

	t.Run("JOINs in a netjoin batch are one reconcile, not a join each", func(t *testing.T) {
		ev := burst(t, batchNetjoin, bridge.RemoteJoin,
			":acct!a@host JOIN #chan acctname :Has An Account", ":anon!n@host JOIN #chan * :Has None")
		assert.ElementsMatch(t, []bridge.Sender{tn.ghostSender("op"), tn.ghostSender("acct"), tn.ghostSender("anon")}, ev.ChatInfo.Members)
		account, known := tn.bot.knownAccount(ircproto.Prefix{Name: "acct", User: "a", Host: "host"})
		assert.True(t, known)
		assert.Equal(t, "acctname", account)
	})

	t.Run("once the batch is closed, the same QUIT is an ordinary leave", func(t *testing.T) {
		toBot("@batch=netsplit1 :anon!n@host QUIT :Connection closed")
		ev := tn.core.waitEvent(t, &from, "the leave", isKind(bridge.RemoteLeave))
		assert.Equal(t, bridge.RemoteUserID("anon"), ev.Member.ID)
	})
}
