package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
	"github.com/isthmus-bridge/isthmus/internal/testground/bridgeworld"
	"github.com/isthmus-bridge/isthmus/storage"

	_ "github.com/isthmus-bridge/isthmus/internal/loopback"
)

// world is a bridgeworld with the loopback network's remote side.
type world struct {
	*bridgeworld.World
	t      *testing.T
	remote *remote.Server
}

// newWorld starts the remote network, Dendrite with the bridge's
// registration, and the bridge in this process (SQLite). top adds
// top-level config sections.
func newWorld(t *testing.T, top map[string]any) *world {
	t.Helper()
	w := newWorldWith(t, storage.SQLite, nil, bridgeworld.Options{Top: top})
	w.StartBridge()
	return w
}

// newWorldWith starts the remote and Dendrite and writes the config,
// leaving the bridge to the test. loop adds keys to the loopback network's
// entry (e.g. auto_sessions); opts adds config (its DB and Networks are
// set here).
func newWorldWith(t *testing.T, typ storage.Type, loop map[string]any, opts bridgeworld.Options) *world {
	t.Helper()
	rem := remote.New()
	t.Cleanup(rem.Close)
	entry := map[string]any{"name": "loop", "url": rem.URL}
	for k, v := range loop {
		entry[k] = v
	}
	opts.DB = typ
	opts.Networks = map[string]any{"loopback": []any{entry}}
	bw := bridgeworld.New(t, opts)
	return &world{World: bw, t: t, remote: rem}
}

// user is a Matrix user of the test homeserver.
type user = bridgeworld.User

// waitRemote polls the remote log until an entry matches.
func (w *world) waitRemote(what string, match func(remote.Event) bool) remote.Event {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range w.remote.Log() {
			if match(ev) {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("timed out waiting for remote %s", what)
	return remote.Event{}
}

func ghostID(remoteUser string) id.UserID {
	return id.NewUserID("loop_loop_"+remoteUser, bridgeworld.Domain)
}

func portalAlias(chat string) id.RoomAlias {
	return id.RoomAlias("#loop_loop_" + chat + ":" + bridgeworld.Domain)
}

// joinPortal joins a loopback channel's portal by alias.
func joinPortal(u *user, chat string) id.RoomID {
	u.T.Helper()
	return u.Join(portalAlias(chat).String())
}

// token is a random string for IDs tests make up.
func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
