package gitter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
	"github.com/isthmus-bridge/isthmus/internal/fakehs"
	"github.com/isthmus-bridge/isthmus/internal/testground/benchbridge"
	"github.com/isthmus-bridge/isthmus/storage"
)

// BenchmarkGitterToMatrix measures Gitter messages → Matrix through the
// whole path: the emulator's streams, the adapter (stream parsing, catch-up
// bookkeeping, markdown to HTML, mentions), and the core (journal, per-portal
// queues, ghosts, message map) into a fast fake homeserver. The emulator
// and the fake homeserver run in this process, so the CPU figure includes
// their share too. Messages spread over 10 rooms and 50 Gitter users; at
// most 256 are in flight, well inside the emulator's stream backlog.
func BenchmarkGitterToMatrix(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) { benchGitterToMatrix(b, typ) })
	}
}

func benchGitterToMatrix(b *testing.B, typ storage.Type) {
	const rooms, users, window = 10, 50, 256
	emu := gitteremu.New(gitteremu.Options{Heartbeat: time.Second, FayeTimeout: time.Second})
	b.Cleanup(emu.Close)
	alice, tok := emu.AddUser("alice", "Alice A")
	var posters []gitterapi.User
	ids := []string{alice.ID}
	for i := range users {
		u, _ := emu.AddUser(fmt.Sprintf("user%d", i), fmt.Sprintf("User %d", i))
		posters = append(posters, u)
		ids = append(ids, u.ID)
	}
	var roomIDs []string
	for i := range rooms {
		roomIDs = append(roomIDs, emu.AddRoom(fmt.Sprintf("bench/room%d", i), "", gitterapi.RoomOrgChannel, ids...).ID)
	}

	gcfg := Config{Name: "gitter", APIURL: emu.APIURL(), StreamURL: emu.StreamURL(), FayeURL: emu.FayeURL(), Backfill: -1}
	gcfg.setDefaults()
	n := newNetwork(gcfg)
	_, hs := benchbridge.Start(b, typ, n)
	ctx := context.Background()

	user := &bridge.User{MXID: "@alice:fake", Permission: bridge.PermUser}
	_, sess, err := n.Login(ctx, user, []string{tok})
	require.NoError(b, err)
	sess.Connect(ctx)
	b.Cleanup(func() { _ = sess.Disconnect(context.Background()) })
	require.Eventually(b, func() bool { return emu.StreamCount() == rooms }, 30*time.Second, time.Millisecond)

	post := func(i int) {
		emu.Post(roomIDs[i%rooms], posters[i%users].ID, fmt.Sprintf("message %d with *some* markdown and @user%d", i, (i+1)%users))
	}
	// Warm up outside the timed part: portals, ghosts and their profiles.
	const warm = rooms * users
	for i := range warm {
		post(i)
	}
	hs.WaitSent(b, warm)

	b.ResetTimer()
	cpu0, t0 := fakehs.CPUTime(), time.Now()
	for i := range b.N {
		for int64(i)-(hs.Sent()-warm) >= window {
			time.Sleep(50 * time.Microsecond)
		}
		post(warm + i)
	}
	hs.WaitSent(b, int64(warm+b.N))
	elapsed, cpu := time.Since(t0), fakehs.CPUTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}
