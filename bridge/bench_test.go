package bridge_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/internal/fakehs"
	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// sinkNetwork is a network with no remote side: the benchmark queues its
// events directly.
type sinkNetwork struct{}

func (sinkNetwork) Info() bridge.NetworkInfo {
	return bridge.NetworkInfo{ID: "sink", Kind: "sink", DisplayName: "Sink", GhostTemplate: "sink_{id}"}
}
func (sinkNetwork) Start(context.Context, *bridge.Bridge) error { return nil }
func (sinkNetwork) Stop(context.Context) error                  { return nil }
func (sinkNetwork) Login(context.Context, *bridge.User, []string) (*bridge.Login, bridge.Session, error) {
	return nil, nil, bridge.ErrNotSupported
}
func (sinkNetwork) LoadSession(context.Context, *bridge.User, *bridge.Login) (bridge.Session, error) {
	return nil, bridge.ErrNotSupported
}

func benchConfig(hsURL string, db storage.Config) *bridge.Config {
	cfg := bridge.DefaultConfig()
	cfg.Homeserver.Address = hsURL
	cfg.Homeserver.Domain = "fake"
	cfg.Appservice.ASToken, cfg.Appservice.HSToken = "as-token-for-bench", "hs-token-for-bench"
	cfg.Database = db
	return cfg
}

func startBench(b *testing.B, typ storage.Type) (*bridge.Bridge, *fakehs.Server) {
	hs := fakehs.New()
	b.Cleanup(hs.Close)
	br, err := bridge.New(benchConfig(hs.URL, storagetest.Config(b, typ)), zerolog.Nop(), []bridge.Network{sinkNetwork{}})
	require.NoError(b, err)
	require.NoError(b, br.Start(context.Background(), bridge.Options{}))
	b.Cleanup(func() { _ = br.Stop(context.Background()) })
	return br, hs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRouteRemoteMessages measures remote messages → Matrix through
// the journal, the per-portal queues, ghosts and the message map, against a
// fast fake homeserver, spread over 50 portals and 200 remote users.
func BenchmarkRouteRemoteMessages(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) {
			br, hs := startBench(b, typ)
			ctx := context.Background()
			const portals, users = 50, 200
			// Warm up: create the portals and ghosts outside the timed part.
			for i := 0; i < users; i++ {
				queue(b, br, i%portals, i, fmt.Sprintf("warm-%d", i))
			}
			waitSent(b, hs, users)
			b.ResetTimer()
			cpu0, t0 := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				queue(b, br, i%portals, i%users, fmt.Sprintf("m-%d", i))
			}
			waitSent(b, hs, int64(users+b.N))
			elapsed, cpu := time.Since(t0), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
			_ = ctx
		})
	}
}

func queue(b *testing.B, br *bridge.Bridge, portal, user int, id string) {
	err := br.QueueRemoteEvent(context.Background(), &bridge.RemoteEvent{
		Kind:         bridge.RemoteMessage,
		Portal:       bridge.PortalKey{Network: "sink", Chat: bridge.ChatID(fmt.Sprintf("chat%d", portal))},
		Sender:       bridge.Sender{ID: bridge.RemoteUserID(fmt.Sprintf("user%d", user))},
		ID:           bridge.MessageID(id),
		Content:      &bridge.Content{Body: "hello " + id},
		CreatePortal: true,
	})
	if err != nil {
		b.Fatal(err)
	}
}

func waitSent(b *testing.B, hs *fakehs.Server, n int64) {
	deadline := time.Now().Add(5 * time.Minute)
	for hs.Sent() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages reached the homeserver", hs.Sent(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
