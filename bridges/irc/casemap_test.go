package irc

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// nickGate stands between the bridge and an IRC server and holds back
// the connection registering as one nick until opened, letting every
// other through: the bot can be kept from registering while puppets do.
type nickGate struct {
	addr, target, nick string
	opened             chan struct{}
	openOnce           sync.Once
}

func startNickGate(t *testing.T, target, nick string) *nickGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &nickGate{addr: ln.Addr().String(), target: target, nick: nick, opened: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.pass(c, done)
		}
	}()
	return g
}

func (g *nickGate) open() { g.openOnce.Do(func() { close(g.opened) }) }

// pass reads the client's lines up to its NICK, waits when that is the
// held nick, then joins the client to the server, lines read included.
func (g *nickGate) pass(down net.Conn, done <-chan struct{}) {
	defer down.Close()
	r := bufio.NewReader(down)
	var head bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		head.WriteString(line)
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "NICK") {
			if strings.EqualFold(f[1], g.nick) {
				select {
				case <-g.opened:
				case <-done:
					return
				}
			}
			break
		}
	}
	up, err := net.DialTimeout("tcp", g.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := up.Write(head.Bytes()); err != nil {
		return
	}
	go func() {
		_, _ = io.Copy(up, r)
		_ = up.Close()
	}()
	_, _ = io.Copy(down, up)
}

// On a server whose casemapping is not rfc1459 (ngIRCd's is ascii), a
// puppet that registers before the bot and whose nick has brackets (the
// default "{displayname}[m]") is known by its nick once the bot is up:
// what the user says is not bridged back as a ghost's message, the puppet
// gets no ghost, and a configured channel with a bracket stays joined.
// InspIRCd (rfc1459) is the control.
func TestPuppetRegisteringBeforeTheBotFoldsTheServersWay(t *testing.T) {
	for _, kind := range irctest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv := irctest.Start(t, kind)
			gate := startNickGate(t, srv.Addr, "IsthmusBot")
			bob := srv.Connect(t, "bob")
			bob.Join("#cm[x]")
			tn := startNetwork(t, srv, func(c *Config) {
				c.Address = gate.addr
				c.Channels = []ChannelConfig{{Channel: "#bridged"}, {Channel: "#Cm[x]"}}
			})
			// The portal as an earlier run made it, folded by the server.
			ctx := testCtx(t)
			folds := map[irctest.Kind]bridge.ChatID{irctest.NgIRCd: "#cm[x]", irctest.InspIRCd: "#cm{x}"}
			key := bridge.PortalKey{Network: tn.id, Chat: folds[kind]}
			tn.core.addPortal(key)
			portal, err := tn.core.GetPortal(ctx, key)
			require.NoError(t, err)

			require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "before the bot"), "Alice"))
			m := bob.WaitFor("alice's message", irctest.IsText("PRIVMSG", "before the bot"))
			require.Equal(t, "Alice[m]", m.Nick())
			require.Nil(t, tn.bot.conn.current(), "the bot is still held back")

			gate.open()
			tn.waitBotIn(t, "#Cm[x]")
			tn.waitBotIn(t, "#bridged")
			require.NoError(t, tn.send(t, matrixMessage(portal, alice, "", "after the bot"), "Alice"))
			bob.WaitFor("alice's second message", irctest.IsText("PRIVMSG", "after the bot"))
			bob.Send("PRIVMSG #cm[x] :marker")
			from := 0
			tn.core.waitEvent(t, &from, "bob's marker", isMessage("marker"))

			ghost := tn.ghostID("Alice[m]")
			for _, ev := range tn.core.since(0) {
				if ev.Kind == bridge.RemoteMessage && ev.Content != nil {
					assert.NotContains(t, []string{"before the bot", "after the bot"}, ev.Content.Body, "alice's own message came back from IRC")
				}
				assert.False(t, ev.Sender.ID == ghost && ev.Sender.Matrix == "", "the puppet got a ghost: %s %+v", ev.Kind, ev.Sender)
				if ev.ChatInfo != nil {
					assert.NotContains(t, ev.ChatInfo.Members, tn.ghostSender("Alice[m]"), "the puppet is a ghost member")
				}
			}
			assert.NotContains(t, bob.Dump(), "Not bridged here", "the bot left a configured channel")
			assert.NotNil(t, tn.bot.channel("#CM[x]"), "the bot is in the configured channel")

			mxidOf := func(nick string) id.UserID {
				if p := tn.puppetByNick(nick); p != nil {
					return p.mxid
				}
				return ""
			}
			assert.Equal(t, alice, mxidOf("Alice[m]"))
			assert.Equal(t, alice, mxidOf("ALICE[M]"))
			if kind == irctest.NgIRCd {
				assert.Empty(t, mxidOf("alice{m}"), "on an ascii server alice{m} is someone else")
			} else {
				assert.Equal(t, alice, mxidOf("alice{m}"), "on an rfc1459 server alice{m} is alice[m]")
			}
			require.NoError(t, tn.existingPuppet(alice).Disconnect(ctx))
			assert.Empty(t, mxidOf("Alice[m]"), "a puppet that quit is nobody's nick")

			// restart stops the network and starts it again on the same
			// database, connecting to addr, with the core's portals.
			restart := func(t *testing.T, addr string, core *fakeCore) *Network {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				require.NoError(t, tn.Stop(sctx))
				cfg := tn.cfg
				cfg.Address = addr
				n, err := newNetwork(cfg, testDomain)
				require.NoError(t, err)
				require.NoError(t, n.start(ctx, core, newFakeMatrix(), tn.store.db, "http://matrix.test"))
				t.Cleanup(func() {
					sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = n.Stop(sctx)
				})
				return n
			}

			t.Run("a restart folds the server's way before anything registers", func(t *testing.T) {
				n := restart(t, "127.0.0.1:1", newFakeCore()) // nothing listens: nothing registers
				want := map[irctest.Kind]bridge.RemoteUserID{irctest.NgIRCd: "alice[m]", irctest.InspIRCd: "alice{m}"}[kind]
				assert.Equal(t, want, n.ghostID("Alice[m]"))
				assert.True(t, n.bot.isStatic("#cm[x]"), "the configured channel is known under the server's fold")
				chans, err := n.store.channels(ctx, alice)
				require.NoError(t, err)
				assert.Equal(t, []string{string(folds[kind])}, chans, "the puppet rejoins the channel it was in")
			})

			// A database from before the casemapping was kept: a puppet's
			// channel saved under rfc1459 while the bot was not up yet,
			// the portal as the bot made it, no casemapping.
			t.Run("the first start after an upgrade rejoins the right channels", func(t *testing.T) {
				db := tn.store.db
				_, err := db.Exec(ctx, `DELETE FROM irc_network`)
				require.NoError(t, err)
				_, err = db.Exec(ctx, `DELETE FROM irc_puppet_channel`)
				require.NoError(t, err)
				require.NoError(t, tn.store.setChannel(ctx, alice, "#cm{x}", true))
				core := newFakeCore()
				core.addPortal(key)
				gate := startNickGate(t, srv.Addr, "IsthmusBot")
				n := restart(t, gate.addr, core)
				bob.Skip()
				l, s, err := n.AutoSession(ctx, &bridge.User{MXID: alice})
				require.NoError(t, err)
				require.NotNil(t, l)
				s.Connect(ctx)
				bob.WaitFor("alice's puppet joining", irctest.IsCommand("JOIN", "Alice[m]"))

				gate.open()
				require.Eventually(t, func() bool {
					ch := n.bot.channel("#Cm[x]")
					return ch != nil && ch.isSynced()
				}, 15*time.Second, 10*time.Millisecond, "the bot did not join #Cm[x]")
				assert.NotContains(t, bob.Dump(), "Not bridged here", "the bot left a configured channel")
				chans, err := n.store.channels(ctx, alice)
				require.NoError(t, err)
				assert.Equal(t, []string{string(folds[kind])}, chans, "the puppet's channel is saved under the server's fold")
			})
		})
	}
}
