package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Credentials are what a login stores to act as its user. They are
// secrets: nothing here may reach a log line or an error.
type Credentials struct {
	Token  string `json:"token"`
	Cookie string `json:"cookie,omitempty"` // the "d" cookie of an xoxc- token
}

// String keeps credentials out of any %v that reaches them by accident.
func (Credentials) String() string { return "[credentials]" }

// GoString does the same for %#v.
func (Credentials) GoString() string { return "[credentials]" }

// httpDoer is the HTTP client every Slack call goes through. It adds the d
// cookie that browser-session tokens need (slack-go has no option for it),
// and waits out HTTP 429 answers for as long as Retry-After says, in place,
// so the calls of one portal stay in order
// (https://api.slack.com/apis/rate-limits).
type httpDoer struct {
	client   *http.Client
	cookie   string
	maxWait  time.Duration
	sleep    func(ctx context.Context, d time.Duration) error
	attempts int
}

func newHTTPDoer(cookie string, maxWait time.Duration) *httpDoer {
	return &httpDoer{
		client:   &http.Client{Timeout: 60 * time.Second},
		cookie:   cookie,
		maxWait:  maxWait,
		sleep:    sleepCtx,
		attempts: 10,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errRateLimited is returned when Slack keeps answering 429 past maxWait.
var errRateLimited = errors.New("slack rate limit: gave up waiting")

func (d *httpDoer) Do(req *http.Request) (*http.Response, error) {
	if d.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "d", Value: d.cookie})
	}
	var body []byte
	if req.Body != nil && req.GetBody == nil {
		// Keep the body so the request can be sent again after a 429.
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Body, _ = req.GetBody()
	}
	waited := time.Duration(0)
	for attempt := 1; ; attempt++ {
		resp, err := d.client.Do(req)
		if err != nil {
			return nil, scrubURLError(err)
		}
		if resp.StatusCode != http.StatusTooManyRequests || attempt >= d.attempts {
			return resp, nil
		}
		wait := retryAfter(resp.Header.Get("Retry-After"))
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if waited+wait > d.maxWait {
			return nil, fmt.Errorf("%w after %s (Retry-After %s)", errRateLimited, waited, wait)
		}
		if err := d.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		waited += wait
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// retryAfter reads Retry-After seconds; a missing or odd value waits one
// second rather than hammering.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return time.Second
	}
	return time.Duration(n) * time.Second
}

// scrubURLError keeps the query string out of transport errors: file
// downloads never carry a token there, but no URL detail is worth the risk.
func scrubURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return fmt.Errorf("slack request: %w", inner)
		}
	}
	return err
}

// newClient builds a slack-go client for one login.
func newClient(cfg Config, creds Credentials) *slack.Client {
	return slack.New(creds.Token,
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(newHTTPDoer(creds.Cookie, cfg.MaxRetryAfter)),
	)
}

// slackCode is the error code of a failed Web API call ("is_archived"),
// or the error's text when it is no Slack answer.
func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return err.Error()
}

// authError tells apart the Slack errors that mean the login is gone
// (https://api.slack.com/methods/auth.test, "Errors").
func authError(err error) bool {
	switch slackCode(err) {
	case "invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired", "org_login_required":
		return true
	}
	return false
}
