package slack

import (
	"context"
	"database/sql"
	"errors"

	"maunium.net/go/mautrix/id"
)

// The cursor of a conversation is the ts of the newest message a login
// queued to the core from it. It moves only after the core journaled the
// event, so catch-up after a crash re-reads at most what the message map
// then drops as duplicates.

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
