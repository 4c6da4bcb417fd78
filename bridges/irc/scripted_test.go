package irc

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// scriptedServer is a minimal IRC server for what the real test servers
// cannot show: services accounts, and refusals other servers make. It
// registers any client (or refuses every one), logs in those
// who give an account's password with SASL PLAIN, answers WHOIS from a
// script, and writes lines to a client on request.
type scriptedServer struct {
	t    *testing.T
	addr string
	script

	mu    sync.Mutex
	conns map[string]net.Conn // by lowercased nick
	got   []string            // "nick: line" of everything clients sent
	held  map[string]bool     // lowercased nicks someone unseen holds
	deaf  map[string]bool     // lowercased nicks whose PINGs go unanswered
}

// script is what a scriptedServer answers.
type script struct {
	// whois holds, by nick, the numeric lines before 318 ("%s" for the
	// asker).
	whois map[string][]string
	// unanswered are nicks whose WHOIS gets no reply; the test writes
	// one with to when it wants.
	unanswered map[string]bool
	// accounts are the SASL PLAIN logins accepted, account → password;
	// without any, the server offers no capabilities.
	accounts map[string]string
	// saslAnswer holds, by nick, the numeric lines answering AUTHENTICATE
	// PLAIN instead of "+" ("%s" for the nick): a server that fails the
	// exchange before any password.
	saslAnswer map[string][]string
	// caps are the capabilities offered besides sasl ("batch
	// extended-join"); every one asked for is acknowledged.
	caps string
	// refusal, when set, answers every registration instead of the
	// welcome, and the server then closes the link: a server refusing
	// the connection password.
	refusal []string
	// held are nicks in use by someone no client sees, until release.
	held []string
}

// serveEach hands every connection ln accepts to handle, until the test
// ends and closes ln and the connections.
func serveEach(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			handle(c)
		}
	}()
}

func startScripted(t *testing.T, sc script) *scriptedServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &scriptedServer{t: t, addr: ln.Addr().String(), script: sc, conns: map[string]net.Conn{}, held: map[string]bool{}}
	for _, nick := range sc.held {
		s.held[strings.ToLower(nick)] = true
	}
	serveEach(t, ln, func(c net.Conn) { go s.serve(c) })
	return s
}

func (s *scriptedServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	nick := "*"
	// Registration waits for CAP END once a client started negotiating.
	negotiating, gotUser, welcomed := false, false, false
	write := func(format string, args ...any) { _, _ = fmt.Fprintf(c, format+"\r\n", args...) }
	welcome := func() {
		if s.refusal != nil {
			for _, l := range s.refusal {
				write("%s", l)
			}
			_ = c.Close()
			return
		}
		welcomed = true
		write(":fake 001 %s :Welcome", nick)
		write(":fake 376 %s :End of MOTD", nick)
	}
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
		s.mu.Unlock()
		switch strings.ToUpper(fields[0]) {
		case "CAP":
			switch sub := fields[1]; {
			case sub == "LS":
				negotiating = true
				offered := s.caps
				if s.accounts != nil {
					offered = strings.TrimSpace("sasl=PLAIN " + offered)
				}
				write(":fake CAP %s LS :%s", nick, offered)
			case sub == "REQ":
				write(":fake CAP %s ACK :%s", nick, strings.TrimPrefix(strings.Join(fields[2:], " "), ":"))
			case sub == "END":
				negotiating = false
				if gotUser {
					welcome()
				}
			}
		case "AUTHENTICATE":
			s.authenticate(fields[1], nick, write)
		case "NICK":
			s.mu.Lock()
			held := s.held[strings.ToLower(fields[1])]
			if !held {
				s.conns[strings.ToLower(fields[1])] = c
			}
			s.mu.Unlock()
			switch {
			case held:
				write(":fake 433 %s %s :Nickname is already in use", nick, fields[1])
			case welcomed:
				write(":%s!u@h NICK %s", nick, fields[1])
				nick = fields[1]
			default:
				nick = fields[1]
			}
		case "USER":
			gotUser = true
			if !negotiating {
				welcome()
			}
		case "PING":
			s.mu.Lock()
			deaf := s.deaf[strings.ToLower(nick)]
			s.mu.Unlock()
			if !deaf {
				write(":fake PONG fake %s", fields[len(fields)-1])
			}
		case "WHOIS":
			if s.unanswered[fields[1]] {
				continue
			}
			for _, l := range s.whois[fields[1]] {
				write(":fake "+l, nick)
			}
			write(":fake 318 %s %s :End of /WHOIS list.", nick, fields[1])
		}
	}
}

// authenticate answers one AUTHENTICATE line of a SASL PLAIN exchange.
func (s *scriptedServer) authenticate(arg, nick string, write func(string, ...any)) {
	if lines, ok := s.saslAnswer[nick]; ok && arg == "PLAIN" {
		for _, l := range lines {
			write(":fake "+l, nick)
		}
		return
	}
	if arg == "PLAIN" {
		write("AUTHENTICATE +")
		return
	}
	parts := plainParts(arg)
	if len(parts) == 3 && parts[2] != "" && s.accounts[parts[1]] == parts[2] {
		write(":fake 900 %s %s!u@h %s :You are now logged in as %s", nick, nick, parts[1], parts[1])
		write(":fake 903 %s :SASL authentication successful", nick)
		return
	}
	write(":fake 904 %s :SASL authentication failed", nick)
}

// plainParts decodes a SASL PLAIN payload into authzid, authcid and
// password; nil when it is not one.
func plainParts(payload string) []string {
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	return strings.Split(string(raw), "\x00")
}

// release frees a held nick, as its holder quitting would.
func (s *scriptedServer) release(nick string) {
	s.mu.Lock()
	delete(s.held, strings.ToLower(nick))
	s.mu.Unlock()
}

// deafen stops answering nick's PINGs, as a link gone half-open would,
// or (deaf false) starts again.
func (s *scriptedServer) deafen(nick string, deaf bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deaf == nil {
		s.deaf = map[string]bool{}
	}
	s.deaf[strings.ToLower(nick)] = deaf
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

// lines returns the "nick: line"s clients sent that hold substr.
func (s *scriptedServer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.got {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// count returns how many lines clients sent that hold substr.
func (s *scriptedServer) count(substr string) int { return len(s.lines(substr)) }

// waitLine waits until a client sent a line holding substr.
func (s *scriptedServer) waitLine(t *testing.T, substr string) {
	t.Helper()
	require.Eventually(t, func() bool { return s.count(substr) > 0 }, 15e9, 1e7, "no line with %q", substr)
}
