package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"

	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

func TestOpenRejectsUnknownType(t *testing.T) {
	_, err := storage.Open(context.Background(), storage.Config{Type: "mysql"})
	assert.ErrorIs(t, err, storage.ErrUnknownType)
	assert.ErrorContains(t, err, `"mysql"`)
}

func TestSameSQLOnBothEngines(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		_, err := db.Exec(ctx, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")
		require.NoError(t, err)
		_, err = db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v=excluded.v", "a", 1)
		require.NoError(t, err)
		_, err = db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v=excluded.v", "a", 2)
		require.NoError(t, err)
		var v int64
		require.NoError(t, db.QueryRow(ctx, "SELECT v FROM kv WHERE k=$1", "a").Scan(&v))
		assert.Equal(t, int64(2), v)
	})
}
