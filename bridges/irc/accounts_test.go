package irc

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
)

// scriptedServer is a minimal IRC server for what the real test servers
// cannot show: services accounts. It registers any client without caps,
// answers WHOIS from a script, and writes lines to a client on request.
type scriptedServer struct {
	t     *testing.T
	addr  string
	whois map[string][]string // nick → numeric lines before 318, "%s" for the asker

	mu    sync.Mutex
	cond  *sync.Cond
	conns map[string]net.Conn // by lowercased nick
	got   []string            // "nick: line" of everything clients sent
}

func startScripted(t *testing.T, whois map[string][]string) *scriptedServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &scriptedServer{t: t, addr: ln.Addr().String(), whois: whois, conns: map[string]net.Conn{}}
	s.cond = sync.NewCond(&s.mu)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptedServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	nick := ""
	write := func(format string, args ...any) { _, _ = fmt.Fprintf(c, format+"\r\n", args...) }
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		s.mu.Lock()
		s.got = append(s.got, nick+": "+line)
		s.cond.Broadcast()
		s.mu.Unlock()
		switch strings.ToUpper(fields[0]) {
		case "CAP":
			if len(fields) > 1 && fields[1] == "LS" {
				write(":fake CAP * LS :")
			}
		case "NICK":
			nick = fields[1]
			s.mu.Lock()
			s.conns[strings.ToLower(nick)] = c
			s.mu.Unlock()
		case "USER":
			write(":fake 001 %s :Welcome", nick)
			write(":fake 376 %s :End of MOTD", nick)
		case "PING":
			write(":fake PONG fake %s", fields[len(fields)-1])
		case "WHOIS":
			for _, l := range s.whois[fields[1]] {
				write(":fake "+l, nick)
			}
			write(":fake 318 %s %s :End of /WHOIS list.", nick, fields[1])
		}
	}
}

// to writes a line to the client registered as nick.
func (s *scriptedServer) to(nick, line string) {
	s.mu.Lock()
	c := s.conns[strings.ToLower(nick)]
	s.mu.Unlock()
	require.NotNil(s.t, c, "no client %s", nick)
	_, err := fmt.Fprintf(c, "%s\r\n", line)
	require.NoError(s.t, err)
}

// count returns how many lines clients sent that hold substr.
func (s *scriptedServer) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.got {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// waitLine waits until a client sent a line holding substr.
func (s *scriptedServer) waitLine(t *testing.T, substr string) {
	t.Helper()
	require.Eventually(t, func() bool { return s.count(substr) > 0 }, 15e9, 1e7, "no line with %q", substr)
}

func TestIdentifiedPolicyWithoutAccountTag(t *testing.T) {
	srv := startScripted(t, map[string][]string{
		"known":  {"330 %s known knownacct :is logged in as"},
		"regged": {"307 %s regged :is a registered nick"},
	})
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
