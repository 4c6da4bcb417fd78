package slack

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// maxFileSize bounds what is copied between Slack and Matrix in memory.
const maxFileSize = 512 << 20

// FetchMedia downloads a Slack file (url_private) with the credentials of
// a login of the file's workspace: Slack serves files only to members
// (https://api.slack.com/types/file#authentication), so the core's plain
// GET of Media.URL cannot fetch them. The core has no hook for this yet
// (AvatarFetcher is the avatar-only equivalent); this is what such a hook
// would call. The workspace is in the URL path ("/files-pri/TEAM-FILE/").
func (n *Network) FetchMedia(ctx context.Context, media *bridge.Media) ([]byte, string, error) {
	u, err := url.Parse(media.URL)
	if err != nil {
		return nil, "", fmt.Errorf("%w: bad file URL", bridge.ErrPermanent)
	}
	_, rest, _ := strings.Cut(u.Path, "/files-pri/")
	team, _, _ := strings.Cut(rest, "-")
	n.mu.Lock()
	s := n.teams[team]
	n.mu.Unlock()
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

// downloadMatrixMedia fetches an mxc:// file through the homeserver's
// media API. The core gives sessions no Matrix client, so this needs a
// media base URL the network was told about (see mediaBaseURL).
func (n *Network) downloadMatrixMedia(ctx context.Context, c *event.MessageEventContent) ([]byte, error) {
	if n.mediaBaseURL == "" {
		return nil, fmt.Errorf("%w: sending files to Slack is not set up on this bridge", bridge.ErrPermanent)
	}
	uri, err := c.URL.Parse()
	if err != nil {
		return nil, fmt.Errorf("%w: bad media URL", bridge.ErrPermanent)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		n.mediaBaseURL+"/_matrix/client/v1/media/download/"+uri.Homeserver+"/"+uri.FileID, nil)
	if err != nil {
		return nil, err
	}
	if n.mediaToken != "" {
		req.Header.Set("Authorization", "Bearer "+n.mediaToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download media: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download media: HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxFileSize))
}
