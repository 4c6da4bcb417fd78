package slack

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// maxFileSize bounds what is copied between Slack and Matrix in memory.
const maxFileSize = 512 << 20

// FetchMedia downloads a Slack file (url_private) with the credentials of
// a login of the file's workspace: Slack serves files only to members
// (https://api.slack.com/types/file#authentication), so the core's plain
// GET of Media.URL cannot fetch them; the core calls this instead
// (bridge.MediaFetcher). The workspace is in the URL path
// ("/files-pri/TEAM-FILE/").
func (n *Network) FetchMedia(ctx context.Context, media *bridge.Media) ([]byte, string, error) {
	u, err := url.Parse(media.URL)
	if err != nil {
		return nil, "", fmt.Errorf("%w: bad file URL", bridge.ErrPermanent)
	}
	_, rest, _ := strings.Cut(u.Path, "/files-pri/")
	team, _, _ := strings.Cut(rest, "-")
	s := n.teamSession(team)
	if s == nil {
		return nil, "", fmt.Errorf("%w: no login of workspace %q to fetch the file with", bridge.ErrPermanent, team)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, media.URL, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.md.Token)
	resp, err := newHTTPDoer(s.md.Cookie, n.cfg.MaxRetryAfter).Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("download slack file: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("download slack file: HTTP %d", resp.StatusCode)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "text/html" {
		// Slack answers a sign-in page, not an error, when the token may
		// not read the file.
		return nil, "", fmt.Errorf("%w: Slack did not hand out the file", bridge.ErrPermanent)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxFileSize))
	if err != nil {
		return nil, "", fmt.Errorf("download slack file: %w", err)
	}
	return data, firstOf(media.MimeType, ct), nil
}

// uploadSet holds the Matrix messages of files uploaded to Slack whose
// sharing message has not come back yet, by workspace and file ID (see
// sendFile). It belongs to the network, not to a session: every login in
// the channel sees the sharing message, and whichever sees it first maps
// it while the others leave it alone.
type uploadSet struct {
	mu      sync.Mutex
	ttl     time.Duration
	pending map[string]*pendingUpload
}

type pendingUpload struct {
	msg     *bridge.MatrixMessage
	since   time.Time
	claimed bool
}

func newUploadSet(ttl time.Duration) *uploadSet {
	return &uploadSet{ttl: ttl, pending: map[string]*pendingUpload{}}
}

func uploadKey(team, fileID string) string { return team + "/" + fileID }

func (u *uploadSet) add(team, fileID string, msg *bridge.MatrixMessage) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	expire(u.pending, now, u.ttl, func(p *pendingUpload) time.Time { return p.since })
	u.pending[uploadKey(team, fileID)] = &pendingUpload{msg: msg, since: now}
}

// forget drops an upload that failed.
func (u *uploadSet) forget(team, fileID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.pending, uploadKey(team, fileID))
}

// claim looks a shared file up: known says it is an upload from Matrix
// (its message is not to be bridged back); msg is its Matrix message for
// the first caller only, who maps it.
func (u *uploadSet) claim(team, fileID string) (msg *bridge.MatrixMessage, known bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.pending[uploadKey(team, fileID)]
	if p == nil || time.Since(p.since) > u.ttl {
		return nil, false
	}
	if p.claimed {
		return nil, true
	}
	p.claimed = true
	return p.msg, true
}

// expire drops the entries of m older than ttl at now; the sets above
// call it when they grow, so they stay as small as what is in flight.
func expire[V any](m map[string]V, now time.Time, ttl time.Duration, at func(V) time.Time) {
	for k, v := range m {
		if now.Sub(at(v)) > ttl {
			delete(m, k)
		}
	}
}
