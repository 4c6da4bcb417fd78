package appservice

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/sqlstatestore"
)

// NewIntents builds the mautrix AppService the bridge uses for intents and
// clients only (ghosts, the bot, masquerading with user_id, ts massaging,
// ensure-registered and ensure-joined). Never call its Start or use its
// transaction handling: the Server in this package receives transactions.
//
// Its state store (membership, power levels, registrations) lives in the
// database, in mautrix's own tables with the mx_version table; NewIntents
// runs that store's migrations, the only I/O it does, so it blocks for
// them. The store learns room state only from what the bridge tells it: the
// bridge's HandleEvent should pass state events to mautrix.UpdateStateStore.
// The logger in ctx becomes the AppService's.
func NewIntents(ctx context.Context, hsAddress, domain string, cfg Config, db *dbutil.Database) (*mauas.AppService, error) {
	log := zerolog.Ctx(ctx).With().Str("component", "intents").Logger()
	store := sqlstatestore.NewSQLStateStore(db, dbutil.ZeroLogger(log.With().Str("db_section", "matrix_state").Logger()), true)
	as, err := mauas.CreateFull(mauas.CreateOpts{
		Registration: &mauas.Registration{
			ID:              cfg.ID,
			URL:             cfg.URL,
			AppToken:        cfg.ASToken,
			ServerToken:     cfg.HSToken,
			SenderLocalpart: cfg.Bot.Localpart,
		},
		HomeserverDomain: domain,
		HomeserverURL:    hsAddress,
		StateStore:       store,
	})
	if err != nil {
		return nil, fmt.Errorf("create appservice intents: %w", err)
	}
	as.Log = log
	as.DoublePuppetValue = cfg.ID
	if err := store.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("upgrade matrix state store: %w", err)
	}
	return as, nil
}
