package slack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/slack/slackemu"
	"github.com/isthmus-bridge/isthmus/internal/fakehs"
	"github.com/isthmus-bridge/isthmus/internal/testground/benchbridge"
	"github.com/isthmus-bridge/isthmus/storage"
)

// BenchmarkSlackToMatrix measures Slack messages → Matrix through the
// whole bridge: the emulator's RTM socket, slack-go, the adapter (profiles,
// mrkdwn to HTML with a mention, cursors) and the core (journal, per-portal
// queues, ghosts, message map) into a fast fake homeserver. The emulator
// and the fake homeserver run in this process, so cpu-µs/msg includes
// their share. Messages spread over 10 channels and 50 Slack users; at
// most 256 are in flight, well inside the emulator's per-connection queue
// (a client further behind is dropped, as Slack drops one).
func BenchmarkSlackToMatrix(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) { benchSlackToMatrix(b, typ) })
	}
}

func benchSlackToMatrix(b *testing.B, typ storage.Type) {
	const channels, users, window = 10, 50, 256
	emu := slackemu.New(b, team, "Acme")
	emu.AddUser(slackemu.User{ID: "U001", Name: "alice"})
	emu.AddToken(slackemu.Token{Value: aliceToken, User: "U001"})
	members := []string{"U001"}
	for i := range users {
		id := fmt.Sprintf("U1%04d", i)
		emu.AddUser(slackemu.User{ID: id, Name: fmt.Sprintf("user%d", i), Profile: slackemu.UserProfile{DisplayName: fmt.Sprintf("User %d", i)}})
		members = append(members, id)
	}
	var chans []string
	for i := range channels {
		chans = append(chans, emu.AddConversation(slackemu.Conversation{Name: fmt.Sprintf("chan%d", i), Members: members}))
	}

	scfg := DefaultConfig()
	scfg.APIURL, scfg.Backfill, scfg.PresenceSubscriptions = emu.APIURL(), 0, 0
	n := NewNetwork(scfg, bridge.CommonConfig{Domain: benchbridge.Domain})
	_, hs := benchbridge.Start(b, typ, n)
	ctx := context.Background()

	// The login as the core would make it; the session is connected here
	// rather than through a management room the fake server cannot hold.
	_, sess, err := n.Login(ctx, &bridge.User{MXID: "@alice:fake", Permission: bridge.PermUser}, []string{aliceToken})
	require.NoError(b, err)
	sess.Connect(ctx)
	b.Cleanup(func() { _ = sess.Disconnect(context.Background()) })
	require.Eventually(b, func() bool { return sess.State().Kind == bridge.StateConnected }, 30*time.Second, time.Millisecond)

	post := func(i int) {
		emu.Post(chans[i%channels], members[1+i%users], fmt.Sprintf("message %d with *bold* text and <@%s>", i, members[1+(i+1)%users]), "")
	}
	// Warm up outside the timed part: portals, ghosts and their profiles.
	base := hs.Sent()
	const warm = channels * users
	for i := range warm {
		post(i)
	}
	hs.WaitSent(b, base+warm)

	b.ResetTimer()
	cpu0, t0 := fakehs.CPUTime(), time.Now()
	for i := range b.N {
		for int64(i)-(hs.Sent()-base-warm) >= window {
			time.Sleep(50 * time.Microsecond)
		}
		post(warm + i)
	}
	hs.WaitSent(b, base+int64(warm+b.N))
	elapsed, cpu := time.Since(t0), fakehs.CPUTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// BenchmarkSlackToCore measures the adapter alone: messages posted in the
// emulator until the recording core has them all queued, through RTM,
// profile lookups, the mrkdwn conversion and the cursor writes.
func BenchmarkSlackToCore(b *testing.B) {
	env := newEnv(b)
	env.login(b, alice, aliceToken)
	env.core.take(b, kindIs(bridge.RemoteChatInfo))
	before := env.core.count()
	b.ResetTimer()
	for range b.N {
		env.emu.Post(env.general, "U002", "*bench* message with <@U001>", "")
	}
	for env.core.count() < before+b.N {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
