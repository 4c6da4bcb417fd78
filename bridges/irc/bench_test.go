package irc

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridges/irc/irctest"
	"github.com/isthmus-bridge/isthmus/internal/fakehs"
)

// BenchmarkIdlePuppets connects n puppets to a local InspIRCd, ten
// channels of n/10 members, and reports what an idle puppet costs (RSS
// and Go heap plus stacks, per puppet), how long connecting them took,
// and how long all of them took to be back in their channels after the
// server restarted. One iteration is the measurement:
//
//	go test -run '^$' -bench IdlePuppets -benchtime 1x ./bridges/irc/
func BenchmarkIdlePuppets(b *testing.B) {
	for _, n := range []int{200, 2000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				idlePuppets(b, n)
			}
		})
	}
}

func idlePuppets(b *testing.B, n int) {
	srv := irctest.Start(b, irctest.InspIRCd)
	tn := startNetwork(b, srv, func(c *Config) {
		c.Channels = nil
		c.Limits.ConnectsPerSecond, c.Limits.ConnectsInFlight = 2000, 500
	})
	ctx := testCtx(b)
	if _, err := tn.bot.conn.wait(ctx); err != nil {
		b.Fatal(err)
	}
	rss0, mem0 := settle()
	start := time.Now()
	puppets := make([]*Puppet, n)
	for i := range puppets {
		p, err := tn.puppetFor(ctx, id.UserID(fmt.Sprintf("@user%d:%s", i, testDomain)))
		if err != nil {
			b.Fatal(err)
		}
		p.setDisplayName(fmt.Sprintf("user%d", i))
		p.enterChannel(ctx, fmt.Sprintf("#idle%d", i%10), true)
		puppets[i] = p
	}
	allIn := func() bool {
		for _, p := range puppets {
			p.mu.Lock()
			in := len(p.joined) == 1
			p.mu.Unlock()
			if !in {
				return false
			}
		}
		return true
	}
	waitUntil(b, 5*time.Minute, allIn)
	connected := time.Since(start)
	time.Sleep(2 * time.Second) // let the join floods drain
	rss1, mem1 := settle()
	if path := os.Getenv("ISTHMUS_BENCH_HEAP"); path != "" {
		// A heap profile at the moment of measuring, for finding out
		// what an idle puppet holds on to.
		if f, err := os.Create(path); err == nil {
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("heap in use %d KB, stacks %d KB, goroutines %d", ms.HeapInuse/1024, ms.StackInuse/1024, runtime.NumGoroutine())
	}
	b.Logf("RSS %d KB with no puppets, %d KB with %d", rss0, rss1, n)
	b.ReportMetric(float64(rss1-rss0)/float64(n), "RSS-KB/puppet")
	b.ReportMetric(float64(mem1-mem0)/1024/float64(n), "Go-KB/puppet")
	b.ReportMetric(connected.Seconds(), "connect-s")

	start = time.Now()
	srv.Restart()
	waitUntil(b, 5*time.Minute, func() bool {
		for _, p := range puppets {
			if p.conn.current() == nil {
				return false
			}
		}
		return allIn()
	})
	b.ReportMetric(time.Since(start).Seconds(), "restart-s")
}

func waitUntil(b *testing.B, d time.Duration, cond func() bool) {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle collects garbage and returns the process RSS (KB) and the Go
// memory in use (heap and goroutine stacks, bytes).
func settle() (rssKB int, goBytes uint64) {
	// Each collection may halve a goroutine's stack; an idle bridge gets
	// several an hour, so a few here show the idle size, not the size
	// left over from dialling.
	for range 4 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f, err := os.Open("/proc/self/status")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			}
		}
	}
	return rssKB, ms.HeapInuse + ms.StackInuse
}

// BenchmarkIRCToCore measures the adapter's share of bridging IRC to
// Matrix: lines a raw client says in a channel, through the bot's reader,
// parsing, formatting and the channel lock, into a core that only counts
// them (the core's own cost is measured by its benchmarks).
func BenchmarkIRCToCore(b *testing.B) {
	srv := irctest.Start(b, irctest.NgIRCd)
	speaker := srv.Connect(b, "speaker")
	speaker.Join("#bridged")
	tn := startNetwork(b, srv, nil)
	tn.waitBotIn(b, "#bridged")
	cpu0 := fakehs.CPUTime()
	from := tn.core.end()
	b.ResetTimer()
	for i := range b.N {
		speaker.Send("PRIVMSG #bridged :message \x02number\x02 %d with a little formatting", i)
	}
	waitUntil(b, 5*time.Minute, func() bool { return tn.core.end()-from >= b.N })
	b.StopTimer()
	used := fakehs.CPUTime() - cpu0
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/msg")
}
