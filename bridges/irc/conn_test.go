package irc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

var nopLog = zerolog.Nop()

func testConnConfig(addr, nick string) *connConfig {
	return &connConfig{
		addr:        addr,
		reg:         ircproto.Registration{Nick: nick, Username: "test"},
		linesPerSec: 100,
		lineBurst:   10,
		altNick:     func(tried string, attempt int) string { return altNick(nick, attempt, 30) },
		log:         &nopLog,
	}
}

// dialServe dials and keeps reading in the background, as the
// connector's goroutine does.
func dialServe(ctx context.Context, cfg *connConfig) (*Conn, error) {
	c, err := dial(ctx, cfg)
	if err == nil {
		go func() { _ = c.serve() }()
	}
	return c, err
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnAgainstRealServers(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			ctx := testCtx(t)

			t.Run("registration negotiates caps and learns ISUPPORT", func(t *testing.T) {
				c, err := dialServe(ctx, testConnConfig(srv.Addr, "Registrar"))
				require.NoError(t, err)
				defer c.Close("done")
				assert.Equal(t, "Registrar", c.Nick())
				assert.Equal(t, 30, c.ISupport().NickLen())
				assert.True(t, c.HasCap("multi-prefix"), "both servers offer multi-prefix")
				if kind == irctest.InspIRCd {
					assert.True(t, c.HasCap("server-time"))
					assert.Equal(t, ircproto.CasemapRFC1459, c.ISupport().Casemapping())
				} else {
					assert.Equal(t, ircproto.CasemapASCII, c.ISupport().Casemapping())
				}
			})

			t.Run("a nick in use falls back to an alternative", func(t *testing.T) {
				first, err := dialServe(ctx, testConnConfig(srv.Addr, "Taken"))
				require.NoError(t, err)
				defer first.Close("done")
				second, err := dialServe(ctx, testConnConfig(srv.Addr, "taken"))
				require.NoError(t, err)
				defer second.Close("done")
				assert.Equal(t, "taken_", second.Nick())
			})

			t.Run("the token bucket spaces lines out and keeps their order", func(t *testing.T) {
				watcher := srv.Connect(t, "watcher")
				cfg := testConnConfig(srv.Addr, "flooder")
				cfg.linesPerSec, cfg.lineBurst = 20, 1
				c, err := dialServe(ctx, cfg)
				require.NoError(t, err)
				defer c.Close("done")
				start := time.Now()
				for i := range 6 {
					require.NoError(t, c.Send(ctx, ircproto.NewMessage("PRIVMSG", "watcher", "line "+string(rune('a'+i)))))
				}
				assert.GreaterOrEqual(t, time.Since(start), 240*time.Millisecond, "5 lines past the burst at 20/s")
				for i := range 6 {
					watcher.WaitFor("line", irctest.IsText("PRIVMSG", "line "+string(rune('a'+i))))
				}
			})

			t.Run("a silent connection pings and stays up", func(t *testing.T) {
				cfg := testConnConfig(srv.Addr, "pinger")
				cfg.pingInterval = 150 * time.Millisecond
				c, err := dialServe(ctx, cfg)
				require.NoError(t, err)
				defer c.Close("done")
				time.Sleep(700 * time.Millisecond)
				assert.NoError(t, c.Err())
			})

			t.Run("QUIT carries the reason to other users", func(t *testing.T) {
				watcher := srv.Connect(t, "quitwatch")
				watcher.Join("#quit")
				cfg := testConnConfig(srv.Addr, "quitter")
				var joined sync.WaitGroup
				joined.Add(1)
				cfg.handler = func(c *Conn, m *ircproto.Message) {
					if m.Command == ircproto.RPL_ENDOFNAMES {
						joined.Done()
					}
				}
				c, err := dialServe(ctx, cfg)
				require.NoError(t, err)
				require.NoError(t, c.Send(ctx, ircproto.NewMessage("JOIN", "#quit")))
				joined.Wait()
				c.Close("see you")
				m := watcher.WaitFor("quit", irctest.IsCommand("QUIT", "quitter"))
				assert.Contains(t, m.Trailing(), "see you")
				<-c.Done()
				assert.ErrorIs(t, c.Err(), ErrClosed)
			})

			t.Run("a KILL is reported as a kill and a K-line as a ban", func(t *testing.T) {
				oper := srv.Connect(t, "operator")
				oper.Oper()
				c, err := dialServe(ctx, testConnConfig(srv.Addr, "victim"))
				require.NoError(t, err)
				oper.Send("KILL victim :behave")
				select {
				case <-c.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the killed connection did not end")
				}
				assert.ErrorIs(t, c.Err(), ErrKilled)
				assert.Contains(t, c.Err().Error(), "behave")

				// ngIRCd prefixes unidentified user names with "~" and
				// takes nick!user@host masks; InspIRCd takes user@host.
				if kind == irctest.NgIRCd {
					oper.Send("KLINE *!*test@127.0.0.1 60 :no bridges")
				} else {
					oper.Send("KLINE *test@127.0.0.1 60 :no bridges")
				}
				// The oper gets no reply to wait for; a K-line takes effect
				// on the next connection, so try until it does.
				for range 20 {
					var c *Conn
					if c, err = dialServe(ctx, testConnConfig(srv.Addr, "banned")); err != nil {
						break
					}
					c.Close("retry")
					time.Sleep(100 * time.Millisecond)
				}
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrBanned), "want a ban, got %v", err)
			})
		})
	}
}

func TestConnOverTLS(t *testing.T) {
	srv := irctest.StartTLS(t)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name       string
		skipVerify bool
		wantErr    bool
	}{
		{"a self-signed certificate is refused by default", false, true},
		{"tls_skip_verify accepts it and registers", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConnConfig(srv.TLSAddr, "secure")
			cfg.tls, cfg.skipVerify = true, tc.skipVerify
			c, err := dialServe(ctx, cfg)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			defer c.Close("done")
			assert.Equal(t, "secure", c.Nick())
		})
	}
}
