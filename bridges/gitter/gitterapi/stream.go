package gitterapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ErrStreamStalled means a stream sent nothing, not even a keep-alive, for
// longer than Options.StreamIdle; the connection is taken as dead.
var ErrStreamStalled = errors.New("gitter: stream stalled")

// StreamMessages follows a room's messages over the streaming API (GET
// {stream_url}/v1/rooms/:roomId/chatMessages, 07.Streaming-API.md and
// 09.Streaming-API.md). The docs say objects are separated by carriage
// returns and that extra newlines are sent as keep-alives (the example
// client in gitterHQ/gitter-node-stream treats " \n" as the heartbeat);
// a JSON decoder skips all of that as whitespace between values.
//
// onOpen, when not nil, runs once the server accepted the stream and
// before any message is handled: the caller catches up on missed messages
// there, so nothing falls into the gap between catching up and streaming
// (messages that arrive meanwhile wait in the connection's buffer and may
// repeat what the catch-up saw; callers drop repeats by ID).
//
// It returns when ctx ends (ctx.Err()), the stream ends or stalls, onOpen
// or fn fails, or the server refuses the stream (an *APIError; 401 matches
// ErrUnauthorized). It does not reconnect: the caller owns the policy.
func (c *Client) StreamMessages(ctx context.Context, roomID string, onOpen func(context.Context) error, fn func(*Message) error) error {
	path := pathOf("v1", "rooms", roomID, "chatMessages")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := c.limiter.wait(ctx); err != nil {
		return err
	}
	req, err := c.newRequest(ctx, c.stream, http.MethodGet, path, nil, nil, "")
	if err != nil {
		return err
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("stream /%s: %w", path, scrubURLError(err))
	}
	defer resp.Body.Close()
	c.limiter.observe(resp.Header, resp.StatusCode, time.Now())
	if resp.StatusCode != http.StatusOK {
		return c.apiError(http.MethodGet, path, resp)
	}
	if onOpen != nil {
		if err := onOpen(ctx); err != nil {
			return err
		}
	}

	body := newIdleReader(resp.Body, c.opts.StreamIdle, cancel)
	defer body.stop()
	dec := json.NewDecoder(body)
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			switch {
			case body.stalled():
				return fmt.Errorf("stream /%s: %w", path, ErrStreamStalled)
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, io.EOF):
				return fmt.Errorf("stream /%s: %w", path, io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("stream /%s: %w", path, err)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
}

// idleReader cancels the stream when no byte arrived for idle. Keep-alives
// count as bytes, which is their purpose.
type idleReader struct {
	r     io.Reader
	idle  time.Duration
	timer *time.Timer
	mu    sync.Mutex
	fired bool
}

func newIdleReader(r io.Reader, idle time.Duration, cancel context.CancelFunc) *idleReader {
	ir := &idleReader{r: r, idle: idle}
	ir.timer = time.AfterFunc(idle, func() {
		ir.mu.Lock()
		ir.fired = true
		ir.mu.Unlock()
		cancel()
	})
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.idle)
	}
	return n, err
}

func (ir *idleReader) stalled() bool {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	return ir.fired
}

func (ir *idleReader) stop() { ir.timer.Stop() }
