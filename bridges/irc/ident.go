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
// user instead of the whole bridge. One server serves every network.
type identServer struct {
	mu    sync.Mutex
	users map[identKey]string
	ln    net.Listener
	log   zerolog.Logger
}

// identKey is a connection as the IRC server asks about it: our port and
// its port.
type identKey struct{ local, remote int }

func newIdentServer(log zerolog.Logger) *identServer {
	return &identServer{users: map[identKey]string{}, log: log}
}

func keyOf(nc net.Conn) (identKey, bool) {
	l, ok1 := nc.LocalAddr().(*net.TCPAddr)
	r, ok2 := nc.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return identKey{}, false
	}
	return identKey{local: l.Port, remote: r.Port}, true
}

// add records a connection's user name; a nil server does nothing.
func (s *identServer) add(nc net.Conn, user string) {
	if s == nil {
		return
	}
	if k, ok := keyOf(nc); ok {
		s.mu.Lock()
		s.users[k] = user
		s.mu.Unlock()
	}
}

func (s *identServer) remove(nc net.Conn) {
	if s == nil {
		return
	}
	if k, ok := keyOf(nc); ok {
		s.mu.Lock()
		delete(s.users, k)
		s.mu.Unlock()
	}
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
	_, _ = c.Write([]byte(s.answer(line)))
}

// answer builds the reply to one query line "local , remote".
func (s *identServer) answer(query string) string {
	a, b, ok := strings.Cut(strings.TrimSpace(query), ",")
	local, err1 := strconv.Atoi(strings.TrimSpace(a))
	remote, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || local < 1 || local > 65535 || remote < 1 || remote > 65535 {
		return "0, 0 : ERROR : INVALID-PORT\r\n"
	}
	s.mu.Lock()
	user, found := s.users[identKey{local: local, remote: remote}]
	s.mu.Unlock()
	if !found {
		return fmt.Sprintf("%d, %d : ERROR : NO-USER\r\n", local, remote)
	}
	return fmt.Sprintf("%d, %d : USERID : UNIX : %s\r\n", local, remote, user)
}
