package puppet

import (
	"context"
	"embed"
	"fmt"

	"go.mau.fi/util/dbutil"
)

//go:embed upgrades/*.sql
var upgradeFS embed.FS

// versionTable is this package's own migration version table.
const versionTable = "puppet_version"

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgradeFS, "upgrades").Finish()

// child is the package's view of the shared database, with its own version
// table and migrations.
func child(db *dbutil.Database) *dbutil.Database {
	return db.Child(versionTable, upgradeTable, nil)
}

// Upgrade creates or migrates the ghost and double_puppet tables. Call it once
// at start-up, before NewGhosts or NewDoublePuppets are used.
func Upgrade(ctx context.Context, db *dbutil.Database) error {
	if err := child(db).Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade puppet tables: %w", err)
	}
	return nil
}
