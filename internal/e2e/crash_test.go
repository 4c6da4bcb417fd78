package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/storage"
)

// buildBridge builds the isthmus binary with the loopback network.
func buildBridge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "isthmus")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "build", "-tags", "loopback", "-o", bin, "./cmd/isthmus")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build bridge: %s", out)
	return bin
}

// process is the bridge running as its own process, so it can be killed.
type process struct {
	t    *testing.T
	bin  string
	cfg  string
	cmd  *exec.Cmd
	logs *os.File
}

func (p *process) start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, "run", "-c", p.cfg)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	require.NoError(p.t, cmd.Start())
	p.cmd = cmd
}

func (p *process) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = p.cmd.Process.Wait()
	p.cmd = nil
}

// TestCrashLosesAndDuplicatesNothing kills the bridge with SIGKILL in the
// middle of a two-way stream of messages, restarts it, and checks that
// every message arrived exactly once and in order on both sides.
func TestCrashLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bridge binary; skipped with -short")
	}
	bin := buildBridge(t)
	w := newWorldWith(t, storage.SQLite, nil, bridgeworld.Options{})
	logs, err := os.Create(filepath.Join(t.TempDir(), "bridge.log"))
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logs.Name())
			if dir := os.Getenv("ISTHMUS_KEEP_LOGS"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, "crash-bridge.log"), data, 0o644)
			}
			lines := strings.Split(string(data), "\n")
			if len(lines) > 120 {
				lines = lines[len(lines)-120:]
			}
			t.Logf("bridge log tail:\n%s", strings.Join(lines, "\n"))
		}
	})
	w.ReleasePort()
	p := &process{t: t, bin: bin, cfg: w.ConfigPath, logs: logs}
	p.start()
	t.Cleanup(p.kill)

	alice := w.NewUser("alice")
	mgmt := alice.ManagementRoom()
	require.Contains(t, alice.Command(mgmt, "login loop alice"), "Logged in")
	room := joinPortal(alice, "crash")

	const n = 40
	sentIDs := make([]id.EventID, n)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Matrix event IDs sent: %v", sentIDs)
		}
	})
	var wg sync.WaitGroup
	killed := make(chan struct{})
	wg.Add(2)
	go func() { // Matrix → remote
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i == n/2 {
				<-killed
			}
			// The homeserver accepts these even while the bridge is down.
			resp, err := alice.Client.SendText(bridgeworld.Ctx(t), room, fmt.Sprintf("mx-%02d", i))
			if assert.NoError(t, err) {
				sentIDs[i] = resp.EventID
			}
		}
	}()
	go func() { // remote → Matrix
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i == n/2 {
				<-killed
			}
			w.remote.Append(remote.Event{Kind: "message", Chat: "crash", Sender: "carol", Text: fmt.Sprintf("rm-%02d", i)})
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// Kill while both streams are flowing.
	w.waitRemote("first Matrix messages", func(e remote.Event) bool { return e.Text == "mx-05" })
	p.kill()
	close(killed)
	time.Sleep(300 * time.Millisecond)
	p.start()
	wg.Wait()

	var want []string
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("mx-%02d", i))
	}
	mxGot := func() []string {
		var got []string
		for _, ev := range w.remote.SentViaAPI() {
			if strings.HasPrefix(ev.Text, "mx-") {
				got = append(got, ev.Text)
			}
		}
		return got
	}
	deadline := time.Now().Add(120 * time.Second)
	for len(mxGot()) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	got := mxGot()
	assert.Equal(t, want, got, "Matrix → remote: each once, in order")

	want = want[:0]
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("rm-%02d", i))
	}
	alice.WaitFor(room, "last remote message", func(e *event.Event) bool { return bridgeworld.Body(e) == fmt.Sprintf("rm-%02d", n-1) })
	time.Sleep(time.Second) // room for a duplicate to show up, if there were one
	var gotMx []string
	for _, b := range alice.Messages(room, ghostID("carol")) {
		if strings.HasPrefix(b, "rm-") {
			gotMx = append(gotMx, b)
		}
	}
	assert.Equal(t, want, gotMx, "remote → Matrix: each once, in order")
}

// TestRoomLeftByACrashDuringPortalCreationIsAdopted covers a bridge that
// died between creating a portal's room and saving it: the room holds the
// alias, so a new room could not have it, and people joining by alias
// would land in a room nothing bridges. The next event of the chat adopts
// the room instead.
func TestRoomLeftByACrashDuringPortalCreationIsAdopted(t *testing.T) {
	w := newWorld(t, nil)
	ctx := bridgeworld.Ctx(t)
	bot, err := mautrix.NewClient(w.HS.URL, bridgeworld.BotMXID(), w.Config.Appservice.ASToken)
	require.NoError(t, err)
	// What the bridge had done when it died: the room, its alias and its
	// bridge info, but no portal row.
	stateKey := "net.isthmus://loop/orphan"
	binfo := &event.BridgeEventContent{BridgeBot: bot.UserID, Protocol: event.BridgeInfoSection{ID: "loopback"},
		Channel: event.BridgeInfoSection{ID: "orphan"}}
	left, err := bot.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "loop_loop_orphan",
		InitialState: []*event.Event{{Type: event.StateBridge, StateKey: &stateKey, Content: event.Content{Parsed: binfo}}}})
	require.NoError(t, err)

	alice := w.NewUser("alice")
	room := joinPortal(alice, "orphan")
	require.Equal(t, left.RoomID, room)
	w.remote.Append(remote.Event{Kind: "message", Chat: "orphan", Sender: "carol", Text: "into the room left behind"})
	alice.WaitFor(room, "the message", func(e *event.Event) bool { return bridgeworld.Body(e) == "into the room left behind" })
	_, err = alice.Client.SendText(ctx, room, "and back")
	require.NoError(t, err)
	w.waitRemote("alice's answer", func(e remote.Event) bool { return e.Text == "<alice> and back" && e.Chat == "orphan" })
}
