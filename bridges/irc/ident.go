package irc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// identServer answers RFC 1413 ident queries with the user name of the
// connection asked about, so an IRC operator sees (and can ban) one Matrix
// user instead of the whole bridge. One server serves every network that
// listens on its address (shareIdent): an ident port can be bound once.
type identServer struct {
	mu    sync.Mutex
	users map[identKey][]identUser
	ln    net.Listener
	log   zerolog.Logger

	// Kept by shareIdent under identServers.mu.
	addr string
	refs int
	stop context.CancelFunc
}

// identKey is a connection as the IRC server asks about it: our port and
// its port.
type identKey struct{ local, remote int }

// identUser is who holds a connection, and the server it goes to: two
// networks' connections may share both ports when their servers differ.
type identUser struct{ host, user string }

// identServers holds the ident servers in use, by listen address.
var identServers struct {
	mu     sync.Mutex
	byAddr map[string]*identServer
}

// shareIdent returns the ident server on addr, listening from the first
// network that asks until the last one releases it.
func shareIdent(log zerolog.Logger, addr string) (*identServer, error) {
	identServers.mu.Lock()
	defer identServers.mu.Unlock()
	if s := identServers.byAddr[addr]; s != nil {
		s.refs++
		return s, nil
	}
	s := newIdentServer(log)
	// The listener's life is the networks', not any one's context.
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.listen(ctx, addr); err != nil {
		cancel()
		return nil, err
	}
	s.addr, s.refs, s.stop = addr, 1, cancel
	if identServers.byAddr == nil {
		identServers.byAddr = map[string]*identServer{}
	}
	identServers.byAddr[addr] = s
	return s, nil
}

// release gives back a network's share of the server, closing it when
// it was the last; a nil server does nothing.
func (s *identServer) release() {
	if s == nil {
		return
	}
	identServers.mu.Lock()
	defer identServers.mu.Unlock()
	if s.refs--; s.refs > 0 {
		return
	}
	delete(identServers.byAddr, s.addr)
	s.stop()
	_ = s.ln.Close() // now, so the port is free once the network stopped
}

func newIdentServer(log zerolog.Logger) *identServer {
	return &identServer{users: map[identKey][]identUser{}, log: log}
}

func keyOf(nc net.Conn) (identKey, bool) {
	l, ok1 := nc.LocalAddr().(*net.TCPAddr)
	r, ok2 := nc.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return identKey{}, false
	}
	return identKey{local: l.Port, remote: r.Port}, true
}

// hostOf is the IP address at the other end of nc, "" when not TCP.
func hostOf(nc net.Conn) string {
	if r, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return r.IP.String()
	}
	return ""
}

// add records a connection's user name; a nil server does nothing.
func (s *identServer) add(nc net.Conn, user string) {
	if s == nil {
		return
	}
	if k, ok := keyOf(nc); ok {
		host := hostOf(nc)
		s.mu.Lock()
		s.users[k] = append(without(s.users[k], host), identUser{host: host, user: user})
		s.mu.Unlock()
	}
}

func (s *identServer) remove(nc net.Conn) {
	if s == nil {
		return
	}
	if k, ok := keyOf(nc); ok {
		s.mu.Lock()
		if rest := without(s.users[k], hostOf(nc)); len(rest) > 0 {
			s.users[k] = rest
		} else {
			delete(s.users, k)
		}
		s.mu.Unlock()
	}
}

// without returns us less the entry for host, as a new slice.
func without(us []identUser, host string) []identUser {
	var out []identUser
	for _, u := range us {
		if u.host != host {
			out = append(out, u)
		}
	}
	return out
}

// listen starts serving on addr until ctx ends.
func (s *identServer) listen(ctx context.Context, addr string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ident server: %w", err)
	}
	s.ln = ln
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return nil
}

func (s *identServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReaderSize(c, 128).ReadString('\n')
	if err != nil && line == "" {
		return
	}
	_, _ = c.Write([]byte(s.answer(line, hostOf(c))))
}

// answer builds the reply to one query line "local , remote" that came
// from host. A server asks from the address we connected to; when it does
// not (a multi-homed server), the one connection with those ports is
// still answered, but never a guess between several.
func (s *identServer) answer(query, from string) string {
	a, b, ok := strings.Cut(strings.TrimSpace(query), ",")
	local, err1 := strconv.Atoi(strings.TrimSpace(a))
	remote, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || local < 1 || local > 65535 || remote < 1 || remote > 65535 {
		return "0, 0 : ERROR : INVALID-PORT\r\n"
	}
	s.mu.Lock()
	us := s.users[identKey{local: local, remote: remote}]
	user, found := "", len(us) == 1
	if found {
		user = us[0].user
	}
	for _, u := range us {
		if u.host == from {
			user, found = u.user, true
		}
	}
	s.mu.Unlock()
	if !found {
		return fmt.Sprintf("%d, %d : ERROR : NO-USER\r\n", local, remote)
	}
	return fmt.Sprintf("%d, %d : USERID : UNIX : %s\r\n", local, remote, user)
}
