package irc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// waitNick waits until the puppet's connection has nick.
func waitNick(t *testing.T, p *Puppet, nick string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c := p.conn.current()
		return c != nil && c.Nick() == nick
	}, 15*time.Second, 10*time.Millisecond, "the puppet did not get %s", nick)
}

// storedRow reads the user's row as the next connection will.
func storedRow(t *testing.T, tn *testNet, user id.UserID) puppetRow {
	t.Helper()
	row, err := tn.store.puppet(testCtx(t), user)
	require.NoError(t, err)
	return row
}

// countNotices is how many notices to user hold substr.
func (c *fakeCore) countNotices(user id.UserID, substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.notices[user] {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// A user who logged in with a nick someone else holds (often their own
// ghost after a blip or a restart) is connected on a fallback for a
// while, keeps their choice, and gets it back once it is free.
func TestChosenNickIsTakenBack(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			srv := irctest.Start(t, kind)
			tn := startNetwork(t, srv, func(c *Config) { c.Channels = nil })
			// An hour: only seeing the holder go can bring the nick back.
			tn.regainWait = time.Hour
			ctx := testCtx(t)
			for i, tc := range []struct {
				name  string
				leave func(holder *irctest.Client, nick string)
			}{
				{"the holder quits", func(h *irctest.Client, _ string) { h.Send("QUIT :ping timeout") }},
				{"the holder changes nick", func(h *irctest.Client, nick string) { h.Send("NICK %s", nick+"x") }},
			} {
				t.Run(tc.name, func(t *testing.T) {
					nick := fmt.Sprintf("chosen%d", i)
					channel := fmt.Sprintf("#regain%d", i)
					user := id.UserID(fmt.Sprintf("@regain%d:%s", i, testDomain))
					holder := srv.Connect(t, nick)
					holder.Join(channel)
					_, s, err := tn.Login(ctx, &bridge.User{MXID: user}, []string{nick})
					require.NoError(t, err)
					p := s.(*Puppet)
					c := upInChannel(t, p, channel)

					assert.Equal(t, nick+"_", c.Nick(), "registered on a fallback")
					holder.WaitFor("the puppet in the channel", irctest.IsCommand("JOIN", nick+"_"))
					assert.Equal(t, puppetRow{Nick: nick, Chosen: true, Account: nick}, storedRow(t, tn, user), "the choice is kept")
					assert.Equal(t, fmt.Sprintf("as %s_ (%s is taken; asking for it again until it is free)", nick, nick), p.State().Message)
					notice := tn.core.waitNotice(t, user, "is taken")
					assert.Contains(t, notice, fmt.Sprintf("The IRC nick %s you chose is taken, so you are connected as %s_ for now", nick, nick))

					tc.leave(holder, nick)
					waitNick(t, p, nick)
					assert.Same(t, p, tn.puppetByNick(nick))
					assert.Nil(t, tn.puppetByNick(nick+"_"))
					require.Eventually(t, func() bool { return p.State().Message == "as "+nick }, 5*time.Second, 10*time.Millisecond)
					assert.Equal(t, puppetRow{Nick: nick, Chosen: true, Account: nick}, storedRow(t, tn, user))
				})
			}
		})
	}
}

// A holder the puppet shares no channel with leaves unseen; the puppet
// asks again on its timer, without telling the user every time.
func TestChosenNickIsAskedForAgain(t *testing.T) {
	srv := irctest.Start(t, irctest.InspIRCd)
	logs := &logBuffer{}
	tn := startNetworkLogging(t, srv, func(c *Config) { c.Channels = nil }, logs)
	tn.regainWait = 100 * time.Millisecond
	ctx := testCtx(t)
	holder := srv.Connect(t, "unseen")
	_, s, err := tn.Login(ctx, &bridge.User{MXID: alice}, []string{"unseen"})
	require.NoError(t, err)
	p := s.(*Puppet)
	c := upInChannel(t, p, "#elsewhere")
	assert.Equal(t, "unseen_", c.Nick())
	require.Eventually(t, func() bool { return logs.count("IRC ->", `"NICK unseen"`) >= 4 }, 15*time.Second, 10*time.Millisecond,
		"the puppet asks again while the nick is held (the first NICK was at registration)")
	assert.Equal(t, "unseen_", c.Nick())
	assert.Equal(t, 1, tn.core.countNotices(alice, "unseen"), "the user is told once, not at every try")
	holder.Close()
	waitNick(t, p, "unseen")
	assert.Equal(t, "unseen", storedRow(t, tn, alice).Nick)
}

// The password logs in to the account given at login, whatever nick the
// connection has: with SASL, or with NickServ where there is no SASL.
func TestAccountOutlivesAFallbackNick(t *testing.T) {
	const secret = "s3cret-pw"
	for _, tc := range []struct {
		name string
		sasl bool
	}{
		{"SASL", true},
		{"NickServ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := script{held: []string{"alice"}}
			if tc.sasl {
				sc.accounts = map[string]string{"alice": secret}
			}
			srv := startScripted(t, sc)
			tn := startNetwork(t, &irctest.Server{Addr: srv.addr}, func(c *Config) { c.Channels = nil })
			tn.regainWait = time.Hour
			ctx := testCtx(t)
			_, s, err := tn.Login(ctx, &bridge.User{MXID: alice}, []string{"alice", secret})
			require.NoError(t, err)
			p := s.(*Puppet)

			loggedIn := func(c *Conn, connection int) {
				t.Helper()
				assert.Equal(t, "alice_", c.Nick())
				if tc.sasl {
					payloads := srv.lines(": AUTHENTICATE ")
					var accounts []string
					for _, l := range payloads {
						if parts := plainParts(l[strings.LastIndexByte(l, ' ')+1:]); len(parts) == 3 {
							accounts = append(accounts, parts[1])
						}
					}
					assert.Equal(t, []string{"alice", "alice"}[:connection], accounts)
					assert.True(t, c.Authenticated())
					assert.Equal(t, "as alice_ (alice is taken; asking for it again until it is free)", p.State().Message)
					assert.Zero(t, srv.count("IDENTIFY"))
				} else {
					srv.waitLine(t, "alice_: PRIVMSG NickServ :IDENTIFY alice "+secret)
					assert.Equal(t, connection, srv.count("PRIVMSG NickServ :IDENTIFY alice "+secret))
				}
				assert.Zero(t, tn.core.countNotices(alice, "refused your account login"))
			}
			loggedIn(upInChannel(t, p, "#after-identify"), 1)
			srv.waitLine(t, "alice_: JOIN #after-identify")

			// A blip: the server drops the link, and the puppet comes back.
			srv.mu.Lock()
			first := srv.conns["alice_"]
			srv.mu.Unlock()
			_ = first.Close()
			require.Eventually(t, func() bool { return srv.count("NICK alice") == 4 }, 15*time.Second, 10*time.Millisecond,
				"the reconnect asks for alice, then alice_")
			c, err := p.up(ctx)
			require.NoError(t, err)
			srv.waitLine(t, "alice_: JOIN #after-identify") // both connections joined: the second decided about NickServ
			require.Eventually(t, func() bool { return srv.count("JOIN #after-identify") == 2 }, 15*time.Second, 10*time.Millisecond)
			loggedIn(c, 2)
			assert.Equal(t, []string{"*: NICK alice", "*: NICK alice_", "*: NICK alice", "*: NICK alice_"}, srv.lines("NICK alice"),
				"each connection asks for the chosen nick first")

			srv.release("alice")
			srv.to("alice_", ":alice!u@h QUIT :Ping timeout")
			waitNick(t, p, "alice")
			assert.Equal(t, puppetRow{Nick: "alice", Chosen: true, Account: "alice", Password: secret}, storedRow(t, tn, alice))
		})
	}
}

// A restart (a new Network over the same database) wants the chosen nick,
// not the fallback the last connection had.
func TestChosenNickSurvivesARestart(t *testing.T) {
	srv := irctest.Start(t, irctest.NgIRCd)
	holder := srv.Connect(t, "keeper")
	holder.Join("#restart")
	tn := startNetwork(t, srv, func(c *Config) { c.Channels = nil })
	ctx := testCtx(t)
	l, s, err := tn.Login(ctx, &bridge.User{MXID: alice}, []string{"keeper"})
	require.NoError(t, err)
	assert.Equal(t, "keeper_", upInChannel(t, s.(*Puppet), "#restart").Nick())
	holder.WaitFor("the puppet in the channel", irctest.IsCommand("JOIN", "keeper_"))
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, tn.Stop(sctx))

	again := restartNetwork(t, tn)
	p2, err := again.LoadSession(ctx, &bridge.User{MXID: alice}, l)
	require.NoError(t, err)
	p := p2.(*Puppet)
	c, err := p.up(ctx)
	require.NoError(t, err)
	assert.Equal(t, "keeper", c.cfg.reg.Nick, "the connection asks for the chosen nick")
	assert.Equal(t, "keeper_", c.Nick(), "and falls back while it is held")
	holder.WaitFor("the puppet back in the channel", irctest.IsCommand("JOIN", "keeper_"))
	holder.Send("QUIT :gone")
	waitNick(t, p, "keeper")
}

// restartNetwork starts a second Network like tn's over tn's database,
// as the bridge does after a restart.
func restartNetwork(t *testing.T, tn *testNet) *Network {
	t.Helper()
	n, err := newNetwork(tn.cfg, testDomain)
	require.NoError(t, err)
	require.NoError(t, n.start(tn.log.WithContext(context.Background()), tn.core, tn.mx, tn.store.db, "http://matrix.test"))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(sctx)
	})
	return n
}

// The schema before accounts had their own column: the chosen nick was
// the account, so it becomes the account; template nicks have none.
func TestAccountMigration(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := testCtx(t)
		v3 := db.Child("irc_version", upgradeTable[:3], nil)
		require.NoError(t, v3.Upgrade(ctx))
		_, err := v3.Exec(ctx, `INSERT INTO irc_puppet (network, mxid, nick, chosen, password) VALUES
			('test', '@alice:x', 'AliceChosen', true, 'pw'), ('test', '@bob:x', 'bob[m]', false, '')`)
		require.NoError(t, err)
		s := &store{db: db.Child("irc_version", upgradeTable, nil), network: "test"}
		require.NoError(t, s.upgrade(ctx))

		for _, tc := range []struct {
			user id.UserID
			want puppetRow
		}{
			{"@alice:x", puppetRow{Nick: "AliceChosen", Chosen: true, Account: "AliceChosen", Password: "pw"}},
			{"@bob:x", puppetRow{Nick: "bob[m]"}},
		} {
			row, err := s.puppet(ctx, tc.user)
			require.NoError(t, err)
			assert.Equal(t, tc.want, row)
		}

		t.Run("a nick saved later does not replace a chosen one", func(t *testing.T) {
			require.NoError(t, s.saveNick(ctx, "@alice:x", "AliceChosen_"))
			require.NoError(t, s.saveNick(ctx, "@bob:x", "bobby[m]"))
			row, err := s.puppet(ctx, "@alice:x")
			require.NoError(t, err)
			assert.Equal(t, "AliceChosen", row.Nick)
			row, err = s.puppet(ctx, "@bob:x")
			require.NoError(t, err)
			assert.Equal(t, "bobby[m]", row.Nick)
		})
	})
}

func TestRegainDelay(t *testing.T) {
	n := &Network{}
	for _, tc := range []struct {
		tries    int
		min, max time.Duration
	}{
		{0, 45 * time.Second, 75 * time.Second},
		{1, 90 * time.Second, 150 * time.Second},
		{3, 6 * time.Minute, 10 * time.Minute},
		{4, 7*time.Minute + 30*time.Second, 12*time.Minute + 30*time.Second},
		{100, 7*time.Minute + 30*time.Second, 12*time.Minute + 30*time.Second},
	} {
		for range 50 {
			d := n.regainDelay(tc.tries)
			assert.True(t, d >= tc.min && d <= tc.max, "after %d tries: %s", tc.tries, d)
		}
	}
}
