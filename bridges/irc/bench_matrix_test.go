package irc

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/internal/fakehs"
	"github.com/isthmus-bridge/isthmus/internal/testground/benchbridge"
	"github.com/isthmus-bridge/isthmus/storage"
)

// BenchmarkIRCToMatrix measures IRC messages → Matrix through the whole
// bridge: a real ngIRCd, the bot's reader, parsing and formatting, and the
// core (journal, per-portal queues, ghosts, message map) into a fast fake
// homeserver running in this process (its share is in cpu-µs/msg; the
// ircd's is not). Ten speakers talk in ten channels; at most 256 messages
// are in flight.
//
//	go test -run '^$' -bench IRCToMatrix -benchtime 5000x ./bridges/irc/
func BenchmarkIRCToMatrix(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) { benchIRCToMatrix(b, typ) })
	}
}

func benchIRCToMatrix(b *testing.B, typ storage.Type) {
	const channels, window = 10, 256
	srv := irctest.Start(b, irctest.NgIRCd)
	speakers := make([]*irctest.Client, channels)
	icfg := defaultConfig()
	icfg.Name, icfg.Address = "bench", srv.Addr
	icfg.Membership.JoinRate = 1000
	for i := range speakers {
		ch := fmt.Sprintf("#bench%d", i)
		speakers[i] = srv.Connect(b, fmt.Sprintf("speaker%d", i))
		speakers[i].Join(ch)
		icfg.Channels = append(icfg.Channels, ChannelConfig{Channel: ch})
	}
	n, err := newNetwork(icfg, benchbridge.Domain)
	require.NoError(b, err)

	_, hs := benchbridge.Start(b, typ, n)
	for i := range speakers {
		require.Eventually(b, func() bool {
			ch := n.bot.channel(fmt.Sprintf("#bench%d", i))
			return ch != nil && ch.isSynced()
		}, time.Minute, 10*time.Millisecond, "the bot did not join")
	}

	say := func(i int) {
		speakers[i%channels].Send("PRIVMSG #bench%d :message \x02number\x02 %d with a little formatting", i%channels, i)
	}
	// Warm up outside the timed part: portals and ghosts.
	base := hs.Sent()
	for i := range channels {
		say(i)
	}
	hs.WaitSent(b, base+channels)
	base = hs.Sent()

	b.ResetTimer()
	cpu0, t0 := fakehs.CPUTime(), time.Now()
	for i := range b.N {
		for int64(i)-(hs.Sent()-base) >= window {
			time.Sleep(50 * time.Microsecond)
		}
		say(i)
	}
	hs.WaitSent(b, base+int64(b.N))
	elapsed, cpu := time.Since(t0), fakehs.CPUTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}
