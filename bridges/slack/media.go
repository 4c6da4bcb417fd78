package slack

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

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
