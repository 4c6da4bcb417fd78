package irc

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

// store holds the adapter's tables; rows are keyed by network so several
// IRC networks share them.
type store struct {
	db      *dbutil.Database
	network bridge.NetworkID
}

// puppetRow is what is remembered of one Matrix user's IRC identity.
type puppetRow struct {
	Nick     string
	Chosen   bool   // the user picked the nick with "login"; display names do not change it
	Password string // secret
}

const (
	getPuppetQuery = `SELECT nick, chosen, password FROM irc_puppet WHERE network=$1 AND mxid=$2`
	// The last nick is saved on every registration; the chosen flag and
	// the password only change through login.
	saveNickQuery = `
		INSERT INTO irc_puppet (network, mxid, nick) VALUES ($1, $2, $3)
		ON CONFLICT (network, mxid) DO UPDATE SET nick=excluded.nick`
	saveLoginQuery = `
		INSERT INTO irc_puppet (network, mxid, nick, chosen, password) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (network, mxid) DO UPDATE SET nick=excluded.nick, chosen=excluded.chosen, password=excluded.password`
)

func (s *store) upgrade(ctx context.Context) error {
	if err := s.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade irc tables: %w", err)
	}
	return nil
}

// puppet returns the stored row, or a zero row for a user never seen.
func (s *store) puppet(ctx context.Context, user id.UserID) (puppetRow, error) {
	var r puppetRow
	err := s.db.QueryRow(ctx, getPuppetQuery, s.network, user).Scan(&r.Nick, &r.Chosen, &r.Password)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("read puppet of %s: %w", user, err)
	}
	return r, nil
}

func (s *store) saveNick(ctx context.Context, user id.UserID, nick string) error {
	if _, err := s.db.Exec(ctx, saveNickQuery, s.network, user, nick); err != nil {
		return fmt.Errorf("save nick of %s: %w", user, err)
	}
	return nil
}

func (s *store) saveLogin(ctx context.Context, user id.UserID, r puppetRow) error {
	if _, err := s.db.Exec(ctx, saveLoginQuery, s.network, user, r.Nick, r.Chosen, r.Password); err != nil {
		return fmt.Errorf("save login of %s: %w", user, err)
	}
	return nil
}
