package slack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

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
	if !n.tokenHost(u) {
		// A file shared from elsewhere may point anywhere: the login's
		// token goes only to Slack.
		return nil, "", fmt.Errorf("%w: file URL host %q is not Slack's", bridge.ErrPermanent, u.Host)
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

// tokenHost says whether a URL may be sent a login's token: Slack's own
// https hosts, or the host of api_url (an emulator, a proxy).
func (n *Network) tokenHost(u *url.URL) bool {
	if api, err := url.Parse(n.cfg.APIURL); err == nil && u.Scheme == api.Scheme && u.Host == api.Host {
		return true
	}
	if u.Scheme != "https" {
		return false
	}
	h := strings.ToLower(u.Hostname())
	for _, d := range []string{"slack.com", "slack-files.com", "slack-edge.com"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// Uploads from Matrix: sendFile learns the file ID before the file is
// shared, and the message that shares it comes back later (over RTM, or in
// catch-up after a restart) carrying that ID. Until then a row of
// slack_pending_upload names the file's Matrix event, so that the message
// maps to it instead of being bridged back. The rows belong to the network,
// not to a session: every login in the channel sees the sharing message;
// whichever sees it first maps it (the UPDATE decides), and the others
// leave that message alone.

// uploadTTL is how long an upload waits for its sharing message: long
// enough for a restart or an outage in between, short enough that the
// table holds only what is in flight.
const uploadTTL = 24 * time.Hour

const (
	addUploadQuery = `INSERT INTO slack_pending_upload
		(team_id, file_id, chat_id, receiver, room_id, event_id, sender_mxid, event_ts, added_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (team_id, file_id) DO NOTHING`
	expireUploadsQuery = `DELETE FROM slack_pending_upload WHERE added_at < $1`
	forgetUploadQuery  = `DELETE FROM slack_pending_upload WHERE team_id=$1 AND file_id=$2`
	claimUploadQuery   = `UPDATE slack_pending_upload SET shared_ts=$3 WHERE team_id=$1 AND file_id=$2 AND shared_ts=''`
	getUploadQuery     = `SELECT chat_id, receiver, room_id, event_id, sender_mxid, event_ts, shared_ts
		FROM slack_pending_upload WHERE team_id=$1 AND file_id=$2`
)

// addUpload records a Matrix file about to be shared in Slack, and drops
// uploads whose message never came.
func (n *Network) addUpload(ctx context.Context, team, fileID string, msg *bridge.MatrixMessage) error {
	now := time.Now()
	if _, err := n.db.Exec(ctx, expireUploadsQuery, now.Add(-uploadTTL).UnixMilli()); err != nil {
		return fmt.Errorf("expire uploads: %w", err)
	}
	_, err := n.db.Exec(ctx, addUploadQuery, team, fileID, msg.Portal.Key.Chat, msg.Portal.Key.Receiver, msg.Portal.MXID,
		msg.Event.ID, msg.Sender.MXID, msg.Event.Timestamp, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("record upload: %w", err)
	}
	return nil
}

// forgetUpload drops an upload that failed.
func (n *Network) forgetUpload(ctx context.Context, team, fileID string) {
	if _, err := n.db.Exec(context.WithoutCancel(ctx), forgetUploadQuery, team, fileID); err != nil {
		zerolog.Ctx(ctx).Err(err).Str("file_id", fileID).Msg("Failed to forget a failed upload")
	}
}

// claimUpload looks up a file shared in the message at ts. known says the
// file was uploaded from Matrix and this message shares it (it is not to
// be bridged back); msg is then its Matrix message, to map to ts. The
// first message to claim the row is the sharing one (the same file shared
// again later is a new message). msg is given to every login that sees
// that message, again after a crash or a failed mapping: recording the
// mapping is idempotent (bridge.Core.RecordRemoteID inserts it once), so
// no login can claim it and leave it unmapped.
func (n *Network) claimUpload(ctx context.Context, team, fileID, ts string) (msg *bridge.MatrixMessage, known bool, err error) {
	if _, err := n.db.Exec(ctx, claimUploadQuery, team, fileID, ts); err != nil {
		return nil, false, fmt.Errorf("claim upload: %w", err)
	}
	var (
		chat, receiver, room, evt, sender, shared string
		evtTS                                     int64
	)
	err = n.db.QueryRow(ctx, getUploadQuery, team, fileID).Scan(&chat, &receiver, &room, &evt, &sender, &evtTS, &shared)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read upload: %w", err)
	}
	if shared != ts {
		// Shared again later, by someone else or elsewhere: a new message.
		return nil, false, nil
	}
	return &bridge.MatrixMessage{
		Portal: &bridge.Portal{Key: bridge.PortalKey{Network: networkID, Chat: bridge.ChatID(chat), Receiver: receiver}, MXID: id.RoomID(room)},
		Sender: &bridge.User{MXID: id.UserID(sender)},
		Event:  &event.Event{ID: id.EventID(evt), RoomID: id.RoomID(room), Sender: id.UserID(sender), Timestamp: evtTS},
	}, true, nil
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
