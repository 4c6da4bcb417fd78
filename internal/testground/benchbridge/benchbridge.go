// Package benchbridge runs the whole bridge against the fake homeserver
// for adapter benchmarks, so each measures its network's path to Matrix
// and not a database-backed homeserver.
package benchbridge

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/internal/fakehs"
	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// Domain is the fake homeserver's server name.
const Domain = "fake"

// Start starts a fake homeserver and a bridge with the networks on the
// database engine typ, both stopped when the benchmark ends.
func Start(tb testing.TB, typ storage.Type, nets ...bridge.Network) (*bridge.Bridge, *fakehs.Server) {
	tb.Helper()
	hs := fakehs.New()
	tb.Cleanup(hs.Close)
	cfg := bridge.DefaultConfig()
	cfg.Homeserver.Address, cfg.Homeserver.Domain = hs.URL, Domain
	cfg.Appservice.ASToken, cfg.Appservice.HSToken = "as-token-for-bench", "hs-token-for-bench"
	cfg.Database = storagetest.Config(tb, typ)
	br, err := bridge.New(cfg, zerolog.Nop(), nets)
	require.NoError(tb, err)
	require.NoError(tb, br.Start(context.Background(), bridge.Options{}))
	tb.Cleanup(func() { _ = br.Stop(context.Background()) })
	return br, hs
}
