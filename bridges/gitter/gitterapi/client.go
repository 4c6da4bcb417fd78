package gitterapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configures a Client. Zero values pick the defaults noted.
type Options struct {
	// APIURL is the REST base, e.g. "https://api.gitter.im/".
	APIURL string
	// StreamURL is the streaming base, e.g. "https://stream.gitter.im/".
	StreamURL string
	// FayeURL is the Faye websocket endpoint, e.g. "wss://ws.gitter.im/faye".
	FayeURL string
	// HTTPClient is used for REST calls and streams; default: a client
	// without a global timeout (REST calls get RequestTimeout each, streams
	// are watched by StreamIdle instead).
	HTTPClient *http.Client
	// UserAgent is sent on every request; default "isthmus-gitter".
	UserAgent string
	// RequestTimeout bounds one REST call; default 30 s.
	RequestTimeout time.Duration
	// MaxRetries is how often a call is retried after 429, or after a 5xx
	// or network error when the call is idempotent; default 4.
	MaxRetries int
	// RetryBase is the first backoff after a 5xx or a 429 without timing
	// headers; it doubles each time up to a minute. Default 1 s.
	RetryBase time.Duration
	// StreamIdle is how long a stream may stay silent (no message and no
	// keep-alive) before it is taken as dead; default 90 s.
	StreamIdle time.Duration
}

// Client talks to one Gitter server with one user's token.
type Client struct {
	opts    Options
	api     *url.URL
	stream  *url.URL
	faye    string
	token   string
	limiter rateLimiter
}

// New checks the base URLs and returns a client. It does no I/O.
func New(opts Options, token string) (*Client, error) {
	if token == "" {
		return nil, errors.New("gitter: empty token")
	}
	api, err := parseBase("api_url", opts.APIURL)
	if err != nil {
		return nil, err
	}
	stream, err := parseBase("stream_url", opts.StreamURL)
	if err != nil {
		return nil, err
	}
	if opts.FayeURL != "" {
		u, err := url.Parse(opts.FayeURL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, fmt.Errorf("gitter: faye_url %q must be a ws:// or wss:// URL", opts.FayeURL)
		}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "isthmus-gitter"
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 4
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.StreamIdle <= 0 {
		opts.StreamIdle = 90 * time.Second
	}
	return &Client{opts: opts, api: api, stream: stream, faye: opts.FayeURL, token: token, limiter: newRateLimiter()}, nil
}

func parseBase(key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitter: %s %q must be an http:// or https:// URL", key, raw)
	}
	// Resolve "v1/..." below the base, whether or not it ends in "/".
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// String names the server, never the token, so a Client printed by
// mistake leaks nothing.
func (c *Client) String() string { return "gitterapi.Client(" + c.api.Host + ")" }

// GoString keeps %#v from printing the token field.
func (c *Client) GoString() string { return c.String() }

// pathOf joins escaped segments into "v1/a/b".
func pathOf(segments ...string) string {
	parts := make([]string, len(segments))
	for i, s := range segments {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func (c *Client) newRequest(ctx context.Context, base *url.URL, method, path string, query url.Values, body []byte, contentType string) (*http.Request, error) {
	// path is already escaped (pathOf); keep that escaping so an ID with
	// a "/" stays one segment.
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return nil, fmt.Errorf("%s /%s: %w", method, path, err)
	}
	u := *base
	u.Path = base.Path + unescaped
	u.RawPath = base.EscapedPath() + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	// Headers from 01.REST-API.md, "Structure of an API request".
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
}

// call does one REST call with JSON in and out, waiting out rate limits
// and retrying what can be retried.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, "/"+path, err)
		}
	}
	return c.send(ctx, method, path, query, body, "application/json", out)
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte, contentType string, out any) error {
	backoff := c.opts.RetryBase
	for attempt := 0; ; attempt++ {
		if err := c.limiter.wait(ctx); err != nil {
			return err
		}
		resp, err := c.once(ctx, method, path, query, body, contentType, out)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		retry := false
		wait := backoff
		switch {
		case ctx.Err() != nil:
			return err
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
			// The server did not act on the request, so even a POST is
			// safe to send again once the limiter allows it.
			retry = true
			if c.limiter.blockedFor(time.Now()) > 0 {
				wait = 0 // limiter.wait does the waiting
			}
		case errors.As(err, &apiErr):
			retry = apiErr.Status >= 500 && idempotent(method)
		case resp == nil:
			// Network error: the request may or may not have arrived.
			retry = idempotent(method)
		}
		if !retry || attempt >= c.opts.MaxRetries {
			return err
		}
		if wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			backoff = min(backoff*2, time.Minute)
		}
	}
}

// once does a single round trip. It returns the response (closed) when one
// arrived, so send can tell network errors from API errors.
func (c *Client) once(ctx context.Context, method, path string, query url.Values, body []byte, contentType string, out any) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, c.api, method, path, query, body, contentType)
	if err != nil {
		return nil, err
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s /%s: %w", method, path, scrubURLError(err))
	}
	defer resp.Body.Close()
	c.limiter.observe(resp.Header, resp.StatusCode, time.Now())
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, c.apiError(method, path, resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp, fmt.Errorf("%s /%s: decode: %w", method, path, err)
	}
	return resp, nil
}

// apiError reads a short error text from the body. The token is cut out
// of it in case a server ever echoes the Authorization header back.
func (c *Client) apiError(method, path string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	msg := strings.TrimSpace(string(raw))
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		msg = body.Error
		if body.Message != "" {
			msg = body.Message
		}
	}
	msg = strings.ReplaceAll(msg, c.token, "[token]")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return &APIError{Method: method, Path: "/" + path, Status: resp.StatusCode, Message: msg}
}

// scrubURLError drops the URL from a *url.Error: it holds no token today,
// but the query string could hold anything a caller passed.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
