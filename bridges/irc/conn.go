package irc

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// connConfig says how to open one connection. Password and SASL are
// secrets: the config is never logged.
type connConfig struct {
	addr       string
	tls        bool
	skipVerify bool
	reg        ircproto.Registration
	sasl       *ircproto.SASLConfig
	caps       []string
	// altNick returns the nick to try after the server refused tried
	// during registration; "" gives up.
	altNick     func(tried string, attempt int) string
	linesPerSec float64
	lineBurst   int
	// pingInterval is how long a silent connection waits before sending
	// PING; twice that without anything read closes it.
	pingInterval    time.Duration
	registerTimeout time.Duration
	// fenceTimeout, when set and not 0, replaces the package's
	// fenceTimeout (nanoseconds); read at each fence, so tests may shorten
	// it while a connection is up.
	fenceTimeout *atomic.Int64
	// handler runs on the reader goroutine for every line from 001 on,
	// in order. It may block; the server's PINGs wait meanwhile.
	handler func(c *Conn, m *ircproto.Message)
	ident   *identServer
	// keepCaps keeps the capability negotiator after registration, for
	// CAP NEW/DEL; puppets drop it to stay small.
	keepCaps bool
	// shared, when set, returns one ISUPPORT for every connection that
	// got the same tokens, so a thousand puppets hold one copy.
	shared func(key string, is *ircproto.ISupport) *ircproto.ISupport
	log    *zerolog.Logger
	who    string // for logs: "bot" or the Matrix user
}

// Conn is one registered IRC connection. Whoever calls dial and then
// serve is its reader: that goroutine owns the capability negotiator and
// runs the handler. Everything other goroutines read (nick, ISUPPORT,
// enabled caps) is behind mu or swapped whole. One goroutine per
// connection keeps an idle puppet cheap.
type Conn struct {
	cfg    *connConfig
	nc     net.Conn
	r      *bufio.Reader
	bucket *tokenBucket
	wmu    sync.Mutex

	mu       sync.Mutex
	nick     string
	userhost string // user@host from RPL_WELCOME, for the prefix length
	caps     string // enabled capabilities, " "-separated with spaces around
	authed   bool   // SASL succeeded
	refusal  string // the server's words refusing our SASL credentials

	// isupport is replaced, never changed in place, so readers may use
	// what they loaded without a lock.
	isupport atomic.Pointer[ircproto.ISupport]

	// Reader-owned registration state.
	negotiator *ircproto.CapNegotiator
	tokens     strings.Builder // ISUPPORT tokens seen, the key for sharing
	welcomed   bool
	ready      bool
	nickTries  int
	closeText  string // the server's ERROR text, the best reason we get

	closing   atomic.Bool // we sent QUIT: whatever the server says next, we closed it
	done      chan struct{}
	closeOnce sync.Once
	err       error // why the connection ended; set before done closes

	lastRead  atomic.Int64 // unix nanoseconds
	pingTimer *time.Timer

	// fences are the PINGs fence is waiting on, by token, under mu; nil
	// while there are none, as on an idle puppet.
	fences   map[string]chan struct{}
	fenceSeq atomic.Uint64
}

// dial connects and registers, reading on the caller's goroutine until
// the server has sent its welcome, ISUPPORT and MOTD. The caller must then
// call serve (usually on the same goroutine) to keep reading.
func dial(ctx context.Context, cfg *connConfig) (*Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 5 * time.Minute}
	nc, err := d.DialContext(ctx, "tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.addr, err)
	}
	cfg.ident.add(nc, cfg.reg.Username)
	timeout := cfg.registerTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if cfg.tls {
		host, _, _ := net.SplitHostPort(cfg.addr)
		tc := tls.Client(nc, &tls.Config{ServerName: host, InsecureSkipVerify: cfg.skipVerify, MinVersion: tls.VersionTLS12}) //nolint:gosec // skip-verify is an explicit test option
		// A server that takes the connection and never answers the
		// handshake would otherwise hold the connector for good.
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			cfg.ident.remove(nc)
			_ = nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", cfg.addr, err)
		}
		nc = tc
	}
	c := &Conn{
		cfg:    cfg,
		nc:     nc,
		bucket: newTokenBucket(cfg.linesPerSec, cfg.lineBurst),
		nick:   cfg.reg.Nick,
		done:   make(chan struct{}),
	}
	c.isupport.Store(ircproto.NewISupport())
	c.lastRead.Store(time.Now().UnixNano())
	// The timer exists, stopped, before any other goroutine may touch it.
	c.pingTimer = time.AfterFunc(time.Hour, c.keepalive)
	c.pingTimer.Stop()
	c.negotiator = ircproto.NewCapNegotiator(ircproto.CapConfig{Want: cfg.caps, SASL: cfg.sasl})
	lines, err := cfg.reg.Lines(c.negotiator)
	if err != nil {
		c.closeWith(err)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.closeWith(ctx.Err()) })
	defer stop()
	for _, m := range lines {
		if err := c.writeNow(m); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(timeout)
	_ = nc.SetReadDeadline(deadline)
	// A small buffer: most lines fit, and an idle puppet should cost as
	// little as possible. Longer lines are gathered in readLine.
	c.r = bufio.NewReaderSize(nc, 512)
	for !c.ready {
		if err := c.readOne(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.welcomed && time.Now().Before(deadline) {
					break // no MOTD end came: take what we have
				}
				err = ErrRegisterTimeout
			}
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			c.closeWith(err)
			return nil, c.err
		}
	}
	_ = nc.SetReadDeadline(time.Time{})
	if cfg.shared != nil {
		c.isupport.Store(cfg.shared(c.tokens.String(), c.isupport.Load()))
	}
	c.tokens = strings.Builder{}
	if !cfg.keepCaps {
		c.negotiator = nil
	}
	c.pingTimer.Reset(c.pingInterval())
	return c, nil
}

// serve reads until the connection ends and returns why.
func (c *Conn) serve() error {
	for {
		if err := c.readOne(); err != nil {
			return c.Err()
		}
	}
}

func (c *Conn) pingInterval() time.Duration {
	if c.cfg.pingInterval > 0 {
		return c.cfg.pingInterval
	}
	return 90 * time.Second
}

// maxLineBytes bounds what the reader accepts: tags plus a line.
const maxLineBytes = ircproto.MaxTagBytes + 4096

// readOne reads and handles one line. A read deadline during registration
// comes back as the net.Error it is, without closing; any other error
// closes the connection.
func (c *Conn) readOne() error {
	line, err := readLine(c.r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !c.ready {
			return err
		}
		if c.closing.Load() {
			err = ErrClosed
		} else if c.closeText != "" {
			err = classifyClose(c.closeText, c.welcomed, c.cfg.reg.Password != "")
		} else if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			err = ErrServerClosed
		}
		c.closeWith(err)
		return err
	}
	c.lastRead.Store(time.Now().UnixNano())
	m, err := c.isupport.Load().Limits().Parse(line)
	if err != nil {
		if !errors.Is(err, ircproto.ErrEmptyLine) {
			c.cfg.log.Debug().Err(err).Str("irc_conn", c.cfg.who).Msg("Dropping unparsable IRC line")
		}
		return nil
	}
	if err := ircproto.CheckParams(m); err != nil {
		c.cfg.log.Debug().Err(err).Str("irc_conn", c.cfg.who).Str("command", m.Command).Msg("Dropping IRC line with too few parameters")
		return nil
	}
	if c.cfg.log.GetLevel() <= zerolog.TraceLevel {
		c.cfg.log.Trace().Str("irc_conn", c.cfg.who).Str("line", m.Redacted()).Msg("IRC <-")
	}
	switch m.Command {
	case "PING":
		_ = c.writeNow(ircproto.NewMessage("PONG", m.Params...))
		return nil
	case "PONG":
		c.endFence(m.Trailing())
		return nil
	case "ERROR":
		c.closeText = m.Trailing()
		return nil
	case ircproto.RPL_ISUPPORT:
		is := c.isupport.Load().Clone()
		is.Apply(m)
		c.isupport.Store(is)
		if !c.ready {
			for _, tok := range m.Params[1:] {
				c.tokens.WriteString(tok)
				c.tokens.WriteByte(0)
			}
		}
	case ircproto.RPL_ENDOFMOTD, ircproto.ERR_NOMOTD:
		c.ready = c.welcomed
	case "NICK":
		c.mu.Lock()
		if c.isupport.Load().EqualFold(m.Nick(), c.nick) {
			c.nick = strings.Clone(m.Params[0])
		}
		c.mu.Unlock()
	case "CAP":
		if c.negotiator == nil {
			return nil
		}
		out, _ := c.negotiator.Handle(m)
		c.writeAll(out)
		c.mu.Lock()
		c.caps = enabledSet(c.negotiator)
		c.mu.Unlock()
		return nil
	}
	if !c.welcomed {
		if err := c.handleRegistration(m); err != nil {
			return err
		}
		if !c.welcomed {
			return nil
		}
	}
	if c.cfg.handler != nil {
		c.cfg.handler(c, m)
	}
	return nil
}

func enabledSet(caps *ircproto.CapNegotiator) string {
	return " " + strings.Join(caps.EnabledCaps(), " ") + " "
}

// handleRegistration runs CAP/SASL and nick fallback until RPL_WELCOME.
// An error means the connection was closed.
func (c *Conn) handleRegistration(m *ircproto.Message) error {
	out, err := c.negotiator.Handle(m)
	if err != nil {
		_ = c.writeNow(ircproto.NewMessage("QUIT", "authentication failed"))
		c.closeWith(err)
		return err
	}
	c.writeAll(out)
	switch m.Command {
	case ircproto.RPL_WELCOME:
		c.mu.Lock()
		// Clones: a substring would keep the whole line alive.
		c.nick = strings.Clone(m.Params[0])
		if i := strings.LastIndexByte(m.Trailing(), '!'); i >= 0 {
			c.userhost = strings.Clone(m.Trailing()[i+1:])
		}
		c.caps = enabledSet(c.negotiator)
		c.authed = c.negotiator.Authenticated()
		c.refusal = c.negotiator.SASLRefusal()
		c.mu.Unlock()
		c.welcomed = true
		// Servers send ISUPPORT and the MOTD right after the welcome; a
		// server that never ends its MOTD is taken as ready a bit later.
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	case ircproto.ERR_NICKNAMEINUSE, ircproto.ERR_ERRONEUSNICKNAME, ircproto.ERR_NICKCOLLISION, ircproto.ERR_UNAVAILRESOURCE:
		c.nickTries++
		tried := m.Params[1]
		next := ""
		if c.cfg.altNick != nil && c.nickTries <= 10 {
			next = c.cfg.altNick(tried, c.nickTries)
		}
		if next == "" {
			err := fmt.Errorf("%w: %s (%s)", ErrNickUnavailable, tried, m.Trailing())
			c.closeWith(err)
			return err
		}
		c.mu.Lock()
		c.nick = next
		c.mu.Unlock()
		_ = c.writeNow(ircproto.NewMessage("NICK", next))
	case ircproto.ERR_PASSWDMISMATCH:
		err := &serverError{kind: ErrBadPassword, text: m.Trailing()}
		c.closeWith(err)
		return err
	case ircproto.ERR_YOUREBANNEDCREEP:
		err := &serverError{kind: ErrBanned, text: m.Trailing()}
		c.closeWith(err)
		return err
	}
	return nil
}

// readLine reads one line of any length up to maxLineBytes; longer lines
// are skipped whole so they cannot desynchronise the stream.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if err == nil {
		return string(line), nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	buf := append([]byte(nil), line...)
	for {
		line, err = r.ReadSlice('\n')
		if len(buf) < maxLineBytes {
			buf = append(buf, line...)
		}
		if err == nil {
			if len(buf) >= maxLineBytes {
				return "", nil // too long: parsed as empty and dropped
			}
			return string(buf), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

// keepalive pings a silent server and closes a dead connection.
func (c *Conn) keepalive() {
	select {
	case <-c.done:
		return
	default:
	}
	silent := time.Since(time.Unix(0, c.lastRead.Load()))
	interval := c.pingInterval()
	switch {
	case silent >= 2*interval:
		c.closeWith(ErrPingTimeout)
		return
	case silent >= interval:
		_ = c.writeNow(ircproto.NewMessage("PING", "isthmus"))
		c.pingTimer.Reset(interval)
	default:
		c.pingTimer.Reset(interval - silent)
	}
}

// Send queues one line behind the connection's token bucket. It blocks
// until the line is written, ctx ends or the connection closes.
func (c *Conn) Send(ctx context.Context, m *ircproto.Message) error {
	data, err := m.Bytes()
	if err != nil {
		return fmt.Errorf("build %s: %w", m.Command, err)
	}
	select {
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrNotConnected, c.err)
	default:
	}
	// A line given up on before its turn is not sent, even when the
	// budget has room.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.bucket.wait(ctx); err != nil {
		return err
	}
	return c.write(data, m)
}

// fenceTimeout bounds how long fence waits for its PONG, unless the
// connection's config says otherwise.
const fenceTimeout = 30 * time.Second

// fence returns once the server has handled every line sent before it.
// Servers handle a client's lines in order, so the replies those lines
// caused (a 404 for a PRIVMSG) have been read, and run through the
// handler, by the time the PONG of a PING sent after them comes back. The
// PING waits for the token bucket like any line. An error means it is not
// known whether the server got that far.
func (c *Conn) fence(ctx context.Context) error {
	token := fmt.Sprintf("isthmus-fence-%d", c.fenceSeq.Add(1))
	done := make(chan struct{})
	c.mu.Lock()
	if c.fences == nil {
		c.fences = map[string]chan struct{}{}
	}
	c.fences[token] = done
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.fences, token)
		if len(c.fences) == 0 {
			c.fences = nil
		}
		c.mu.Unlock()
	}()
	if err := c.Send(ctx, ircproto.NewMessage("PING", token)); err != nil {
		return err
	}
	wait := fenceTimeout
	if c.cfg.fenceTimeout != nil {
		wait = cmp.Or(time.Duration(c.cfg.fenceTimeout.Load()), fenceTimeout)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrNotConnected, c.err)
	case <-timer.C:
		// A server that answers nothing for that long is gone, or the
		// link is half open: what is written now goes nowhere, so the
		// connection is dropped and made again rather than waited for.
		c.closeWith(ErrPingTimeout)
		return fmt.Errorf("%w: no PONG within %s", ErrPingTimeout, wait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// endFence wakes the fence waiting on token, if any. Reader only.
func (c *Conn) endFence(token string) {
	c.mu.Lock()
	if done, ok := c.fences[token]; ok {
		close(done)
		delete(c.fences, token)
	}
	c.mu.Unlock()
}

// writeNow writes past the token bucket, for protocol replies (PONG, CAP)
// that must not wait behind chat lines.
func (c *Conn) writeNow(m *ircproto.Message) error {
	data, err := m.Bytes()
	if err != nil {
		return fmt.Errorf("build %s: %w", m.Command, err)
	}
	return c.write(data, m)
}

func (c *Conn) writeAll(ms []*ircproto.Message) {
	for _, m := range ms {
		_ = c.writeNow(m)
	}
}

func (c *Conn) write(data []byte, m *ircproto.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.cfg.log.GetLevel() <= zerolog.TraceLevel {
		c.cfg.log.Trace().Str("irc_conn", c.cfg.who).Str("line", m.Redacted()).Msg("IRC ->")
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(data); err != nil {
		c.closeWith(err)
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return nil
}

// Close sends QUIT with reason and closes the connection.
func (c *Conn) Close(reason string) {
	select {
	case <-c.done:
		return
	default:
	}
	c.closing.Store(true)
	if reason != "" {
		_ = c.writeNow(ircproto.NewMessage("QUIT", reason))
	}
	c.closeWith(ErrClosed)
}

func (c *Conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		c.pingTimer.Stop()
		c.cfg.ident.remove(c.nc)
		_ = c.nc.Close()
		close(c.done)
	})
}

// Done is closed when the connection ends; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Nick is the nick the server knows us by.
func (c *Conn) Nick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nick
}

// ISupport is the server's RPL_ISUPPORT; callers must not change it.
func (c *Conn) ISupport() *ircproto.ISupport { return c.isupport.Load() }

// HasCap reports whether a capability is enabled.
func (c *Conn) HasCap(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Contains(c.caps, " "+name+" ")
}

// Authenticated reports whether SASL logged us in.
func (c *Conn) Authenticated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed
}

// SASLRefusal is the server's words when it refused our SASL
// credentials, "" when it did not (see ircproto.CapNegotiator.SASLRefusal).
func (c *Conn) SASLRefusal() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusal
}

// TrySend sends a line only if the token bucket has room now, for
// courtesy replies that must never hold up the reader.
func (c *Conn) TrySend(m *ircproto.Message) bool {
	if !c.bucket.tryTake() {
		return false
	}
	data, err := m.Bytes()
	if err != nil {
		return false
	}
	return c.write(data, m) == nil
}

// IsMe reports whether nick is this connection's nick.
func (c *Conn) IsMe(nick string) bool {
	return c.ISupport().EqualFold(nick, c.Nick())
}

// prefixLen is the longest "nick!user@host" the server may put in front
// of our lines. The host can change (cloaks, CHGHOST), so the host part
// is always counted at its maximum.
func (c *Conn) prefixLen() int {
	c.mu.Lock()
	nick, uh := c.nick, c.userhost
	c.mu.Unlock()
	user, _, _ := strings.Cut(uh, "@")
	return max(len(nick), c.ISupport().NickLen()) + 1 + max(len(user), 11) + 1 + ircproto.MaxHostLen
}
