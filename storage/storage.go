// Package storage opens the bridge's one database (embedded SQLite by default,
// PostgreSQL for production) and hands out dbutil handles that each package
// uses with its own version table and numbered migrations.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"go.mau.fi/util/dbutil"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Type names a supported database engine as written in config.yaml.
type Type string

const (
	SQLite   Type = "sqlite"
	Postgres Type = "postgres"
)

// ErrUnknownType is returned for a database type other than sqlite or postgres.
var ErrUnknownType = errors.New("unknown database type")

// Config is the database section of config.yaml.
type Config struct {
	Type Type   `yaml:"type"`
	URI  string `yaml:"uri"`
	// MaxOpenConns caps the pool; 0 picks a default per engine.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Open connects to the database and checks that it answers. It does not run
// migrations: each owner runs its own with Upgrade on its child handle.
func Open(ctx context.Context, cfg Config) (*dbutil.Database, error) {
	var (
		driver string
		dsn    string
		conns  = cfg.MaxOpenConns
	)
	switch cfg.Type {
	case SQLite, "":
		driver, dsn = "sqlite", sqliteDSN(cfg.URI)
		if conns == 0 {
			// WAL allows concurrent readers, but SQLite has one writer; a
			// small pool keeps "database is locked" waits short.
			conns = 4
		}
	case Postgres:
		driver, dsn = "pgx", cfg.URI
		if conns == 0 {
			conns = 20
		}
	default:
		return nil, fmt.Errorf("%w %q (want sqlite or postgres)", ErrUnknownType, cfg.Type)
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", cfg.Type, err)
	}
	raw.SetMaxOpenConns(conns)
	raw.SetMaxIdleConns(conns)
	if err := raw.PingContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("connect to %s database: %w", cfg.Type, err)
	}
	db, err := dbutil.NewWithDB(raw, driver)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("wrap %s database: %w", cfg.Type, err)
	}
	return db, nil
}

// sqliteDSN adds the pragmas every connection needs: WAL for concurrent
// readers, a busy timeout instead of immediate SQLITE_BUSY, foreign keys on,
// and immediate write transactions so two writers never deadlock on upgrade.
func sqliteDSN(uri string) string {
	if uri == "" {
		uri = "isthmus.db"
	}
	path, query, _ := strings.Cut(uri, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		q = url.Values{}
	}
	have := strings.Join(q["_pragma"], ",")
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		name, _, _ := strings.Cut(p, "(")
		if !strings.Contains(have, name) {
			q.Add("_pragma", p)
		}
	}
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	return path + "?" + q.Encode()
}
