package slack

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix/id"
)

// The cursor of a conversation is the ts of the newest message a login
// queued to the core from it. It moves only after the core journaled the
// event, so catch-up after a crash re-reads at most what the message map
// then drops as duplicates. Cursors are kept in memory and written every
// cursorFlush, before each catch-up and when the session stops: one write
// per conversation and period instead of one per message (a round trip
// per message on PostgreSQL); a crash costs a re-read of at most that
// period's messages, which the message map drops.

const (
	getCursorQuery = `SELECT last_ts FROM slack_cursor WHERE user_mxid=$1 AND team_id=$2 AND channel=$3`
	// Cursors only move forward: Slack ts strings of one era compare as
	// numbers when their lengths match, which the CASE checks first.
	setCursorQuery = `INSERT INTO slack_cursor (user_mxid, team_id, channel, last_ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_mxid, team_id, channel) DO UPDATE SET last_ts = CASE
			WHEN length(excluded.last_ts) > length(slack_cursor.last_ts) THEN excluded.last_ts
			WHEN length(excluded.last_ts) = length(slack_cursor.last_ts) AND excluded.last_ts > slack_cursor.last_ts THEN excluded.last_ts
			ELSE slack_cursor.last_ts END`
	listCursorsQuery = `SELECT channel, last_ts FROM slack_cursor WHERE user_mxid=$1 AND team_id=$2`
	dropCursorsQuery = `DELETE FROM slack_cursor WHERE user_mxid=$1 AND team_id=$2`
)

func (n *Network) cursor(ctx context.Context, user id.UserID, team, channel string) (string, error) {
	var ts string
	err := n.db.QueryRow(ctx, getCursorQuery, user, team, channel).Scan(&ts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return ts, err
}

func (n *Network) setCursor(ctx context.Context, user id.UserID, team, channel, ts string) error {
	_, err := n.db.Exec(ctx, setCursorQuery, user, team, channel, ts)
	return err
}

func (n *Network) cursors(ctx context.Context, user id.UserID, team string) (map[string]string, error) {
	rows, err := n.db.Query(ctx, listCursorsQuery, user, team)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var ch, ts string
		if err := rows.Scan(&ch, &ts); err != nil {
			return nil, err
		}
		out[ch] = ts
	}
	return out, rows.Err()
}

func (n *Network) dropCursors(ctx context.Context, user id.UserID, team string) error {
	_, err := n.db.Exec(ctx, `DELETE FROM slack_cursor WHERE user_mxid=$1 AND team_id=$2`, user, team)
	return err
}

// cursorFlush is how often moved cursors are written.
const cursorFlush = 250 * time.Millisecond

// cursorBuffer holds the cursors moved since the last write.
type cursorBuffer struct {
	mu    sync.Mutex
	moved map[string]string // channel → ts
}

func newCursorBuffer() *cursorBuffer { return &cursorBuffer{moved: map[string]string{}} }

// move records a conversation's cursor; it only goes forward.
func (b *cursorBuffer) move(channel, ts string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tsAfter(ts, b.moved[channel]) {
		b.moved[channel] = ts
	}
}

// flushCursors writes the moved cursors of a session. It runs on the
// session's own goroutine and detaches from its context: what was
// journaled must have its cursor written even while the session stops.
func (s *Session) flushCursors(ctx context.Context) {
	s.cursors.mu.Lock()
	moved := s.cursors.moved
	if len(moved) == 0 {
		s.cursors.mu.Unlock()
		return
	}
	s.cursors.moved = map[string]string{}
	s.cursors.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	for ch, ts := range moved {
		if err := s.net.setCursor(ctx, s.user.MXID, s.md.TeamID, ch, ts); err != nil {
			zerolog.Ctx(ctx).Err(err).Str("channel", ch).Msg("Failed to store Slack cursor")
			s.cursors.move(ch, ts) // try again with the next batch
		}
	}
}
