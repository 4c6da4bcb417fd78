package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// sink is the fake homeserver as seen by the benchmark.
type sink interface{ Sent() int64 }

// remoteSink is fakehs running as its own process, so the CPU time this
// process measures is the bridge's alone.
type remoteSink struct{ url string }

func (r remoteSink) Sent() int64 {
	resp, err := http.Get(r.url + "/_fakehs/sent")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var v struct{ Sent int64 }
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return v.Sent
}

var (
	fakeOnce sync.Once
	fakeBin  string
	fakeErr  error
)

// startSink starts fakehs in its own process (built once per run).
func startSink(b *testing.B) (string, sink) {
	fakeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakehs")
		if err != nil {
			fakeErr = err
			return
		}
		fakeBin = filepath.Join(dir, "fakehs")
		out, err := exec.Command("go", "build", "-o", fakeBin, "github.com/isthmus-bridge/isthmus/internal/fakehs/cmd/fakehs").CombinedOutput()
		if err != nil {
			fakeErr = fmt.Errorf("build fakehs: %v: %s", err, out)
		}
	})
	require.NoError(b, fakeErr)
	cmd := exec.Command(fakeBin)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(b, err)
	url := strings.TrimSpace(line)
	return url, remoteSink{url: url}
}

func startBench(b *testing.B, typ storage.Type) (*bridge.Bridge, sink) {
	url, hs := startSink(b)
	br, err := bridge.New(benchConfig(url, storagetest.Config(b, typ)), zerolog.Nop(), []bridge.Network{sinkNetwork{}})
	require.NoError(b, err)
	require.NoError(b, br.Start(context.Background(), bridge.Options{}))
	b.Cleanup(func() { _ = br.Stop(context.Background()) })
	return br, hs
}

// BenchmarkRouteRemoteMessages measures remote messages → Matrix through
// the journal, the per-portal queues, ghosts and the message map, against a
// fast fake homeserver in another process, spread over 50 portals and 200
// remote users. cpu-µs/msg is this process's CPU time (user + system) per
// message: the bridge's, the fake's excluded.
func BenchmarkRouteRemoteMessages(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) {
			br, hs := startBench(b, typ)
			const portals, users = 50, 200
			// Warm up: create the portals and ghosts outside the timed part.
			for i := 0; i < users; i++ {
				queue(b, br, i%portals, i, fmt.Sprintf("warm-%d", i))
			}
			waitSent(b, hs, users)
			b.ResetTimer()
			cpu0, t0 := fakehs.CPUTime(), time.Now()
			for i := 0; i < b.N; i++ {
				queue(b, br, i%portals, i%users, fmt.Sprintf("m-%d", i))
			}
			waitSent(b, hs, int64(users+b.N))
			elapsed, cpu := time.Since(t0), fakehs.CPUTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
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

func waitSent(b *testing.B, hs sink, n int64) {
	deadline := time.Now().Add(5 * time.Minute)
	for hs.Sent() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages reached the homeserver", hs.Sent(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkRouteLatency offers remote messages at a steady 1,000 msg/s over
// 50 portals and reports the added latency (queued by the adapter → received
// by the fake homeserver) at p50 and p99. b.N is ignored beyond running once:
// the figure is a latency, not a throughput.
func BenchmarkRouteLatency(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) {
			br, hs := startBench(b, typ)
			const portals, users, rate, total = 50, 200, 1000, 3000
			for i := 0; i < users; i++ {
				queue(b, br, i%portals, i, fmt.Sprintf("warm-%d", i))
			}
			waitSent(b, hs, users)
			url := hs.(remoteSink).url
			_, _ = http.Post(url+"/_fakehs/reset", "", nil)
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			b.ResetTimer()
			for i := 0; i < total; i++ {
				<-tick.C
				queue(b, br, i%portals, i%users, fmt.Sprintf("t=%d m-%d", time.Now().UnixNano(), i))
			}
			waitSent(b, hs, users+total)
			b.StopTimer()
			resp, err := http.Get(url + "/_fakehs/latency")
			require.NoError(b, err)
			defer resp.Body.Close()
			var p map[string]float64
			require.NoError(b, json.NewDecoder(resp.Body).Decode(&p))
			b.ReportMetric(p["p50"], "p50-ms")
			b.ReportMetric(p["p99"], "p99-ms")
			b.ReportMetric(p["max"], "max-ms")
		})
	}
}
