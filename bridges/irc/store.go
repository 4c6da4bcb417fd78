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

// puppetRow is what is remembered of one Matrix user's IRC identity. None
// of it is the nick the connection has: a nick taken by someone else makes
// the connection take another for a while, and that is never stored.
type puppetRow struct {
	// Nick is the nick the puppet wants: the chosen one, else the one the
	// template gave it last (it stands in after a restart until Matrix says
	// the display name again).
	Nick   string
	Chosen bool // the user picked the nick with "login"; display names do not change it
	// Account is what Password logs in to, with SASL or NickServ: the nick
	// given with "login". The "nick" command does not change it.
	Account  string
	Password string // secret
}

// account is the name the password logs in to.
func (r puppetRow) account() string {
	if r.Account != "" {
		return r.Account
	}
	return r.Nick
}

const (
	getPuppetQuery = `SELECT nick, chosen, account, password FROM irc_puppet WHERE network=$1 AND mxid=$2`
	// A template nick is saved as the puppet comes to want it; a chosen
	// nick, the account and the password only change through "login" and
	// "nick", so a late save never overwrites a choice.
	saveNickQuery = `
		INSERT INTO irc_puppet (network, mxid, nick) VALUES ($1, $2, $3)
		ON CONFLICT (network, mxid) DO UPDATE SET nick=excluded.nick WHERE NOT irc_puppet.chosen`
	saveLoginQuery = `
		INSERT INTO irc_puppet (network, mxid, nick, chosen, account, password) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (network, mxid) DO UPDATE
		SET nick=excluded.nick, chosen=excluded.chosen, account=excluded.account, password=excluded.password`
)

const (
	getChannelsQuery   = `SELECT channel FROM irc_puppet_channel WHERE network=$1 AND mxid=$2`
	addChannelQuery    = `INSERT INTO irc_puppet_channel (network, mxid, channel) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	removeChannelQuery = `DELETE FROM irc_puppet_channel WHERE network=$1 AND mxid=$2 AND channel=$3`
	clearChannelsQuery = `DELETE FROM irc_puppet_channel WHERE network=$1 AND mxid=$2`
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
	err := s.db.QueryRow(ctx, getPuppetQuery, s.network, user).Scan(&r.Nick, &r.Chosen, &r.Account, &r.Password)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("read puppet of %s: %w", user, err)
	}
	return r, nil
}

// saveNick stores the template nick the puppet wants; a chosen nick stays.
func (s *store) saveNick(ctx context.Context, user id.UserID, nick string) error {
	if _, err := s.db.Exec(ctx, saveNickQuery, s.network, user, nick); err != nil {
		return fmt.Errorf("save nick of %s: %w", user, err)
	}
	return nil
}

func (s *store) saveLogin(ctx context.Context, user id.UserID, r puppetRow) error {
	if _, err := s.db.Exec(ctx, saveLoginQuery, s.network, user, r.Nick, r.Chosen, r.Account, r.Password); err != nil {
		return fmt.Errorf("save login of %s: %w", user, err)
	}
	return nil
}

// channels returns the folded channels the user's puppet belongs in.
func (s *store) channels(ctx context.Context, user id.UserID) ([]string, error) {
	rows, err := s.db.Query(ctx, getChannelsQuery, s.network, user)
	if err != nil {
		return nil, fmt.Errorf("read channels of %s: %w", user, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ch string
		if err := rows.Scan(&ch); err != nil {
			return nil, fmt.Errorf("read channels of %s: %w", user, err)
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

func (s *store) setChannel(ctx context.Context, user id.UserID, channel string, in bool) error {
	q := removeChannelQuery
	if in {
		q = addChannelQuery
	}
	if _, err := s.db.Exec(ctx, q, s.network, user, channel); err != nil {
		return fmt.Errorf("save channel %s of %s: %w", channel, user, err)
	}
	return nil
}

func (s *store) clearChannels(ctx context.Context, user id.UserID) error {
	if _, err := s.db.Exec(ctx, clearChannelsQuery, s.network, user); err != nil {
		return fmt.Errorf("forget channels of %s: %w", user, err)
	}
	return nil
}

const (
	getCasemapQuery  = `SELECT casemapping FROM irc_network WHERE network=$1`
	saveCasemapQuery = `
		INSERT INTO irc_network (network, casemapping) VALUES ($1, $2)
		ON CONFLICT (network) DO UPDATE SET casemapping=excluded.casemapping`
)

// casemap returns the CASEMAPPING last seen on the network, "" for none.
func (s *store) casemap(ctx context.Context) (string, error) {
	var cm string
	err := s.db.QueryRow(ctx, getCasemapQuery, s.network).Scan(&cm)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read casemapping of %s: %w", s.network, err)
	}
	return cm, nil
}

func (s *store) saveCasemap(ctx context.Context, cm string) error {
	if _, err := s.db.Exec(ctx, saveCasemapQuery, s.network, cm); err != nil {
		return fmt.Errorf("save casemapping of %s: %w", s.network, err)
	}
	return nil
}
