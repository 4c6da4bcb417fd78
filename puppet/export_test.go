package puppet

import "context"

// SetDiscovery replaces .well-known discovery, which needs HTTPS on port
// 443, with a lookup table for tests.
func SetDiscovery(dp *DoublePuppets, discover func(ctx context.Context, serverName string) (string, error)) {
	dp.discover = discover
}
