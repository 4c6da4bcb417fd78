package gitter

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
)

//go:embed upgrades/*.sql
var upgradeFS embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgradeFS, "upgrades").Finish()

// store holds the adapter's own tables. One per network; rows are keyed by
// network so several Gitter networks share the tables.
type store struct {
	db      *dbutil.Database
	network bridge.NetworkID
}

const (
	getPositionQuery = `SELECT message_id FROM gitter_position WHERE network=$1 AND login_user=$2 AND room_id=$3`
	// Positions only move forward: Gitter IDs sort in time order, and a
	// late write from a slow goroutine must not rewind the cursor.
	setPositionQuery = `
		INSERT INTO gitter_position (network, login_user, room_id, message_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (network, login_user, room_id) DO UPDATE SET message_id=excluded.message_id
		WHERE gitter_position.message_id < excluded.message_id`
	deletePositionsQuery = `DELETE FROM gitter_position WHERE network=$1 AND login_user=$2`
)

func (s *store) upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade gitter tables: %w", err)
	}
	return nil
}

// position returns the last message ID handed to the core for a room, ""
// when the room was never synced.
func (s *store) position(ctx context.Context, user id.UserID, room string) (string, error) {
	var msgID string
	err := s.db.QueryRow(ctx, getPositionQuery, s.network, user, room).Scan(&msgID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read position of %s: %w", room, err)
	}
	return msgID, nil
}

func (s *store) setPosition(ctx context.Context, user id.UserID, room, msgID string) error {
	if _, err := s.db.Exec(ctx, setPositionQuery, s.network, user, room, msgID); err != nil {
		return fmt.Errorf("save position of %s: %w", room, err)
	}
	return nil
}

// forget drops a login's positions, when it logs out.
func (s *store) forget(ctx context.Context, user id.UserID) error {
	if _, err := s.db.Exec(ctx, deletePositionsQuery, s.network, user); err != nil {
		return fmt.Errorf("forget positions: %w", err)
	}
	return nil
}
