package gitterapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Faye is Gitter's realtime endpoint: the Bayeux protocol (the Bayeux 1.0
// specification, cometd.org) spoken over a websocket, with the channels of
// 06.Faye-endpoint.md. The token goes in the handshake's ext.token (as in
// gitterHQ/gitter-faye-client). Data messages on resource channels carry
// {operation, model} with operation create, update, patch or remove (the
// operations gitterHQ/realtime-client applies to its collections); the
// room channel carries presence notifications (08.Presence.md).

// Bayeux meta channels (Bayeux 1.0, section 4).
const (
	MetaHandshake   = "/meta/handshake"
	MetaConnect     = "/meta/connect"
	MetaSubscribe   = "/meta/subscribe"
	MetaUnsubscribe = "/meta/unsubscribe"
	MetaDisconnect  = "/meta/disconnect"
)

// Channel names from 06.Faye-endpoint.md.

// RoomChannel carries presence of a room's users (08.Presence.md).
func RoomChannel(roomID string) string { return "/api/v1/rooms/" + roomID }

// RoomMessagesChannel carries a room's chat message operations.
func RoomMessagesChannel(roomID string) string { return "/api/v1/rooms/" + roomID + "/chatMessages" }

// RoomUsersChannel carries a room's member operations.
func RoomUsersChannel(roomID string) string { return "/api/v1/rooms/" + roomID + "/users" }

// UserRoomsChannel carries operations on a user's room list.
func UserRoomsChannel(userID string) string { return "/api/v1/user/" + userID + "/rooms" }

// FayeMessage is one Bayeux message (Bayeux 1.0, section 3, "Message Field
// Definitions"). Successful is a pointer so requests leave it out and
// responses can say false.
type FayeMessage struct {
	Channel                  string          `json:"channel"`
	ID                       string          `json:"id,omitempty"`
	ClientID                 string          `json:"clientId,omitempty"`
	Version                  string          `json:"version,omitempty"`
	MinimumVersion           string          `json:"minimumVersion,omitempty"`
	SupportedConnectionTypes []string        `json:"supportedConnectionTypes,omitempty"`
	ConnectionType           string          `json:"connectionType,omitempty"`
	Subscription             string          `json:"subscription,omitempty"`
	Successful               *bool           `json:"successful,omitempty"`
	Error                    string          `json:"error,omitempty"`
	Advice                   *FayeAdvice     `json:"advice,omitempty"`
	Data                     json.RawMessage `json:"data,omitempty"`
	Ext                      json.RawMessage `json:"ext,omitempty"`
}

// OK reports a successful response.
func (m *FayeMessage) OK() bool { return m.Successful != nil && *m.Successful }

// FayeAdvice tells the client how to go on (Bayeux 1.0, section 3.6).
type FayeAdvice struct {
	Reconnect string `json:"reconnect,omitempty"` // "retry", "handshake" or "none"
	Interval  int    `json:"interval,omitempty"`  // ms to wait before the next connect
	Timeout   int    `json:"timeout,omitempty"`   // ms the server may hold a connect
}

// FayeHandshakeExt is the handshake's ext: Gitter reads the token there.
type FayeHandshakeExt struct {
	Token string `json:"token"`
}

// FayeEvent is the data of a message on a Gitter resource channel: either
// an operation on a model, or a presence notification.
type FayeEvent struct {
	Operation string          `json:"operation,omitempty"`
	Model     json.RawMessage `json:"model,omitempty"`
	// Presence (08.Presence.md): notification "presence", the user, and
	// status "in" or "out".
	Notification string `json:"notification,omitempty"`
	UserID       string `json:"userId,omitempty"`
	Status       string `json:"status,omitempty"`
}

// Operations on models, as gitterHQ/realtime-client names them.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpPatch  = "patch"
	OpRemove = "remove"
)

// fayeErrorCode reads the code of a Bayeux error string "code:args:text"
// (Bayeux 1.0, section 3.14).
func fayeErrorCode(s string) int {
	code, _, _ := strings.Cut(s, ":")
	n, _ := strconv.Atoi(code)
	return n
}

// FayeConn is one handshaken Faye client. Run reads; Subscribe may be
// called from any goroutine while Run runs.
type FayeConn struct {
	conn     *websocket.Conn
	clientID string
	grace    time.Duration

	wmu    sync.Mutex
	nextID atomic.Uint64

	pmu     sync.Mutex
	pending map[string]chan *FayeMessage
	closed  bool

	advice atomic.Pointer[FayeAdvice]
}

// fayeDefaultTimeout is assumed when the server gives no timeout advice.
const fayeDefaultTimeout = 45 * time.Second

// DialFaye connects to faye_url and handshakes with the token. A refused
// token gives ErrUnauthorized.
func (c *Client) DialFaye(ctx context.Context) (*FayeConn, error) {
	if c.faye == "" {
		return nil, errors.New("gitter: no faye_url configured")
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, c.faye, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == 401 {
			return nil, fmt.Errorf("faye dial: %w", ErrUnauthorized)
		}
		return nil, fmt.Errorf("faye dial: %w", err)
	}
	f := &FayeConn{conn: conn, pending: map[string]chan *FayeMessage{}, grace: c.opts.StreamIdle}
	ext, _ := json.Marshal(FayeHandshakeExt{Token: c.token})
	hs := &FayeMessage{
		Channel:                  MetaHandshake,
		Version:                  "1.0",
		SupportedConnectionTypes: []string{"websocket"},
		Ext:                      ext,
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(deadline)
	} else {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	if err := f.write(hs); err != nil {
		conn.Close()
		return nil, fmt.Errorf("faye handshake: %w", err)
	}
	// The handshake is answered before anything else can arrive: nothing
	// is subscribed yet.
	msgs, err := f.read()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("faye handshake: %w", err)
	}
	for _, m := range msgs {
		if m.Channel != MetaHandshake {
			continue
		}
		if !m.OK() {
			conn.Close()
			if fayeErrorCode(m.Error) == 401 {
				return nil, fmt.Errorf("faye handshake: %w", ErrUnauthorized)
			}
			return nil, fmt.Errorf("faye handshake refused: %s", m.Error)
		}
		f.clientID = m.ClientID
		f.setAdvice(m.Advice)
		return f, nil
	}
	conn.Close()
	return nil, errors.New("faye handshake: no answer")
}

// ClientID is the Bayeux client ID, which the presence API calls socketId.
func (f *FayeConn) ClientID() string { return f.clientID }

func (f *FayeConn) setAdvice(a *FayeAdvice) {
	if a != nil {
		cp := *a
		f.advice.Store(&cp)
	}
}

func (f *FayeConn) timeout() time.Duration {
	if a := f.advice.Load(); a != nil && a.Timeout > 0 {
		return time.Duration(a.Timeout) * time.Millisecond
	}
	return fayeDefaultTimeout
}

func (f *FayeConn) interval() time.Duration {
	if a := f.advice.Load(); a != nil && a.Interval > 0 {
		return time.Duration(a.Interval) * time.Millisecond
	}
	return 0
}

// write sends messages as one JSON array, the framing Faye's websocket
// transport uses.
func (f *FayeConn) write(msgs ...*FayeMessage) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_ = f.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return f.conn.WriteJSON(msgs)
}

// read returns the messages of one frame, which may be an array or, from
// lenient servers, a single object.
func (f *FayeConn) read() ([]*FayeMessage, error) {
	_, data, err := f.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	return DecodeFayeFrame(data)
}

// DecodeFayeFrame decodes one websocket frame of Bayeux messages.
func DecodeFayeFrame(data []byte) ([]*FayeMessage, error) {
	var msgs []*FayeMessage
	if err := json.Unmarshal(data, &msgs); err == nil {
		return msgs, nil
	}
	var one FayeMessage
	if err := json.Unmarshal(data, &one); err != nil {
		return nil, fmt.Errorf("faye frame: %w", err)
	}
	return []*FayeMessage{&one}, nil
}

func (f *FayeConn) newID() string { return strconv.FormatUint(f.nextID.Add(1), 10) }

// Subscribe subscribes to a channel and waits for the answer, which Run
// reads: call it while Run is running.
func (f *FayeConn) Subscribe(ctx context.Context, channel string) error {
	return f.request(ctx, &FayeMessage{Channel: MetaSubscribe, Subscription: channel})
}

// Unsubscribe stops a subscription; like Subscribe it needs Run running.
func (f *FayeConn) Unsubscribe(ctx context.Context, channel string) error {
	return f.request(ctx, &FayeMessage{Channel: MetaUnsubscribe, Subscription: channel})
}

func (f *FayeConn) request(ctx context.Context, m *FayeMessage) error {
	m.ID = f.newID()
	m.ClientID = f.clientID
	ch := make(chan *FayeMessage, 1)
	f.pmu.Lock()
	if f.closed {
		f.pmu.Unlock()
		return errClosed(m)
	}
	f.pending[m.ID] = ch
	f.pmu.Unlock()
	defer func() {
		f.pmu.Lock()
		delete(f.pending, m.ID)
		f.pmu.Unlock()
	}()
	if err := f.write(m); err != nil {
		return fmt.Errorf("faye %s %s: %w", m.Channel, m.Subscription, err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return errClosed(m)
		}
		if !resp.OK() {
			if fayeErrorCode(resp.Error) == 401 {
				return fmt.Errorf("faye %s %s: %w", m.Channel, m.Subscription, ErrUnauthorized)
			}
			return fmt.Errorf("faye %s %s refused: %s", m.Channel, m.Subscription, resp.Error)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func errClosed(m *FayeMessage) error {
	return fmt.Errorf("faye %s %s: connection closed", m.Channel, m.Subscription)
}

// Run keeps the connection alive with /meta/connect and hands every data
// message to fn, in order, on Run's goroutine. It returns when ctx ends
// (ctx.Err()), the connection breaks or stays silent past the advised
// timeout plus a grace period, or the server asks for a new handshake
// (ErrRehandshake). The connection is closed when Run returns.
func (f *FayeConn) Run(ctx context.Context, fn func(channel string, data json.RawMessage)) error {
	defer f.shutdown()
	stop := context.AfterFunc(ctx, func() { f.conn.Close() })
	defer stop()
	connect := func() error {
		return f.write(&FayeMessage{Channel: MetaConnect, ClientID: f.clientID, ConnectionType: "websocket", ID: f.newID()})
	}
	if err := connect(); err != nil {
		return f.runErr(ctx, err)
	}
	for {
		_ = f.conn.SetReadDeadline(time.Now().Add(f.timeout() + f.grace))
		msgs, err := f.read()
		if err != nil {
			return f.runErr(ctx, err)
		}
		for _, m := range msgs {
			switch m.Channel {
			case MetaConnect:
				f.setAdvice(m.Advice)
				if !m.OK() {
					if m.Advice != nil && m.Advice.Reconnect == "none" {
						if fayeErrorCode(m.Error) == 401 {
							return fmt.Errorf("faye connect: %w", ErrUnauthorized)
						}
						return fmt.Errorf("faye connect refused: %s", m.Error)
					}
					return fmt.Errorf("faye connect: %w", ErrRehandshake)
				}
				if m.Advice != nil && m.Advice.Reconnect == "handshake" {
					return fmt.Errorf("faye connect: %w", ErrRehandshake)
				}
				if d := f.interval(); d > 0 {
					if err := sleep(ctx, d); err != nil {
						return err
					}
				}
				if err := connect(); err != nil {
					return f.runErr(ctx, err)
				}
			case MetaSubscribe, MetaUnsubscribe:
				// Send under the lock that shutdown closes channels under,
				// so a Close from another goroutine cannot race the send.
				f.pmu.Lock()
				if ch := f.pending[m.ID]; ch != nil {
					ch <- m // buffered for the one answer
					delete(f.pending, m.ID)
				}
				f.pmu.Unlock()
			case MetaHandshake, MetaDisconnect:
			default:
				if m.Data != nil && !strings.HasPrefix(m.Channel, "/meta/") {
					fn(m.Channel, m.Data)
				}
			}
		}
	}
}

func (f *FayeConn) runErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("faye: %w", err)
}

// shutdown fails pending requests and closes the socket.
func (f *FayeConn) shutdown() {
	f.pmu.Lock()
	if !f.closed {
		f.closed = true
		for id, ch := range f.pending {
			close(ch)
			delete(f.pending, id)
		}
	}
	f.pmu.Unlock()
	f.conn.Close()
}

// Close says goodbye (best effort) and closes the connection, ending Run.
func (f *FayeConn) Close() error {
	_ = f.write(&FayeMessage{Channel: MetaDisconnect, ClientID: f.clientID, ID: f.newID()})
	f.shutdown()
	return nil
}
