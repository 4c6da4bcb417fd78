// Package storagetest gives tests a fresh database on each engine the bridge
// supports: SQLite in a temporary directory and PostgreSQL in a database
// created for the test and dropped afterwards.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.mau.fi/util/dbutil"

	"github.com/isthmus-bridge/isthmus/storage"
)

// PostgresAdminURI is where tests create their databases. ISTHMUS_TEST_POSTGRES
// overrides it; "off" skips the PostgreSQL half (it is never skipped in CI).
func PostgresAdminURI() string {
	if v := os.Getenv("ISTHMUS_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Each runs fn once per engine as a subtest named after the engine.
func Each(t *testing.T, fn func(t *testing.T, db *dbutil.Database)) {
	t.Helper()
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		t.Run(string(typ), func(t *testing.T) {
			fn(t, Open(t, typ))
		})
	}
}

// Config returns a config for a fresh, empty database of the given type,
// removed when the test ends.
func Config(t testing.TB, typ storage.Type) storage.Config {
	t.Helper()
	switch typ {
	case storage.SQLite:
		return storage.Config{Type: storage.SQLite, URI: filepath.Join(t.TempDir(), "isthmus.db")}
	case storage.Postgres:
		admin := PostgresAdminURI()
		if admin == "off" {
			t.Skip("ISTHMUS_TEST_POSTGRES=off: PostgreSQL half skipped")
		}
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "isthmus_test_" + hex.EncodeToString(b[:])
		adm, err := sql.Open("pgx", admin)
		if err != nil {
			t.Fatalf("open postgres admin connection: %v", err)
		}
		if _, err := adm.Exec("CREATE DATABASE " + name); err != nil {
			_ = adm.Close()
			t.Fatalf("create test database (is PostgreSQL running at %s? set ISTHMUS_TEST_POSTGRES=off to skip): %v", admin, err)
		}
		t.Cleanup(func() {
			_, _ = adm.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			_ = adm.Close()
		})
		return storage.Config{Type: storage.Postgres, URI: fmt.Sprintf("postgres://postgres@127.0.0.1:5432/%s?sslmode=disable", name)}
	default:
		t.Fatalf("unknown database type %q", typ)
		return storage.Config{}
	}
}

// Open opens a fresh database of the given type, closed when the test ends.
func Open(t testing.TB, typ storage.Type) *dbutil.Database {
	t.Helper()
	db, err := storage.Open(context.Background(), Config(t, typ))
	if err != nil {
		t.Fatalf("open %s: %v", typ, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
