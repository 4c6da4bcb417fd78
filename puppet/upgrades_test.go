package puppet_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"

	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

func TestUpgrade(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		require.NoError(t, puppet.Upgrade(ctx, db))
		t.Run("running it again is a no-op", func(t *testing.T) {
			require.NoError(t, puppet.Upgrade(ctx, db))
		})
		t.Run("the package keeps its own version table at the latest version", func(t *testing.T) {
			var version int
			require.NoError(t, db.QueryRow(ctx, "SELECT version FROM puppet_version").Scan(&version))
			assert.Equal(t, 2, version)
		})
		t.Run("both tables exist", func(t *testing.T) {
			for _, table := range []string{"ghost", "double_puppet"} {
				exists, err := db.TableExists(ctx, table)
				require.NoError(t, err)
				assert.True(t, exists, table)
			}
		})
		t.Run("a double puppet source other than secret or user is refused", func(t *testing.T) {
			_, err := db.Exec(ctx, "INSERT INTO double_puppet VALUES ('@x:example.org', 't', 'http://hs', 'stolen', 0)")
			assert.Error(t, err)
		})
	})
}
