package gitter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

// core is what the adapter needs from *bridge.Bridge. Tests put a recorder
// in its place, so sessions can be driven against the emulator without a
// homeserver.
type core interface {
	QueueRemoteEvent(ctx context.Context, ev *bridge.RemoteEvent) error
	ReportState(ctx context.Context, l *bridge.Login, st bridge.SessionState)
	DB(versionTable string, upgrades dbutil.UpgradeTable) *dbutil.Database
	// GhostMXID and GhostRemoteID map Gitter users to ghosts and back,
	// for pills; they do no I/O.
	GhostMXID(nid bridge.NetworkID, remote bridge.RemoteUserID) id.UserID
	GhostRemoteID(nid bridge.NetworkID, user id.UserID) (bridge.RemoteUserID, bool)
	// Notify tells a user something in their management room.
	Notify(ctx context.Context, user id.UserID, text string)
}

// Templates carry the network name, so several Gitter servers can be
// configured without their ghosts or aliases colliding (aliases can be
// configured per network).
const (
	ghostTemplate = "gitter_{network}_{id}"
	aliasTemplate = "gitter_{network}_{chat}"
)

// Network is one configured Gitter server.
type Network struct {
	cfg  Config
	info bridge.NetworkInfo

	core  core
	store *store
	// relay is the relay bot, nil when the config has none.
	relay *relayBot

	// tuning, shortened by tests
	clientTweak func(*gitterapi.Options)
	minBackoff  time.Duration
	maxBackoff  time.Duration
	// positionFlush is how often sessions write their stream positions.
	positionFlush time.Duration

	mu       sync.Mutex
	sessions map[id.UserID]*Session
	// usernames caches Gitter user ID → username, learnt from messages and
	// member lists, to turn pills of ghosts back into @username.
	usernames map[string]string
}

var (
	_ bridge.Network        = (*Network)(nil)
	_ bridge.ChatResolver   = (*Network)(nil)
	_ bridge.NetworkKind    = kind{}
	_ bridge.ChatInfoGetter = (*Session)(nil)
)

func newNetwork(cfg Config) *Network {
	aliases := aliasTemplate
	if cfg.AliasTemplate != "" {
		aliases = cfg.AliasTemplate
	}
	display := "Gitter"
	if cfg.Name != "gitter" {
		display = "Gitter (" + cfg.Name + ")"
	}
	return &Network{
		cfg: cfg,
		info: bridge.NetworkInfo{
			ID:            bridge.NetworkID(cfg.Name),
			Kind:          "gitter",
			DisplayName:   display,
			GhostTemplate: ghostTemplate,
			AliasTemplate: aliases,
			Relay:         cfg.Relay != nil,
		},
		minBackoff:    time.Second,
		maxBackoff:    2 * time.Minute,
		positionFlush: 250 * time.Millisecond,
		sessions:      map[id.UserID]*Session{},
		usernames:     map[string]string{},
	}
}

// Info does no I/O.
func (n *Network) Info() bridge.NetworkInfo { return n.info }

// Start runs the adapter's migrations.
func (n *Network) Start(ctx context.Context, br *bridge.Bridge) error {
	return n.start(ctx, br)
}

func (n *Network) start(ctx context.Context, c core) error {
	n.core = c
	n.store = &store{db: c.DB("gitter_version", upgradeTable), network: n.info.ID}
	if err := n.store.upgrade(ctx); err != nil {
		return err
	}
	return n.startRelay(ctx)
}

// Stop stops identifying the relay bot; the core disconnected every
// session before.
func (n *Network) Stop(context.Context) error {
	n.stopRelay()
	return nil
}

// loginMetadata is what a stored login keeps. The token is a secret: the
// core never logs Metadata, and neither does this package.
type loginMetadata struct {
	Token string         `json:"token"`
	User  gitterapi.User `json:"user"`
}

func (n *Network) newClient(token string) (*gitterapi.Client, error) {
	opts := n.cfg.clientOptions()
	opts.UserAgent = "isthmus (Matrix bridge)"
	if n.clientTweak != nil {
		n.clientTweak(&opts)
	}
	return gitterapi.New(opts, token)
}

// Login is "login gitter <token>": the token is checked with the current
// user call before anything is stored.
func (n *Network) Login(ctx context.Context, user *bridge.User, args []string) (*bridge.Login, bridge.Session, error) {
	if len(args) != 1 || args[0] == "" {
		return nil, nil, fmt.Errorf("usage: login %s <personal access token>", n.info.ID)
	}
	client, err := n.newClient(args[0])
	if err != nil {
		return nil, nil, err
	}
	me, err := client.CurrentUser(ctx)
	if errors.Is(err, gitterapi.ErrUnauthorized) {
		return nil, nil, errors.New("Gitter refused that token: check it and try again")
	} else if err != nil {
		return nil, nil, fmt.Errorf("check token with %s: %w", n.info.DisplayName, err)
	}
	meta, err := json.Marshal(loginMetadata{Token: args[0], User: *me})
	if err != nil {
		return nil, nil, err
	}
	login := &bridge.Login{
		User:       user.MXID,
		Network:    n.info.ID,
		RemoteID:   bridge.RemoteUserID(me.ID),
		RemoteName: me.Username,
		Metadata:   meta,
	}
	return login, n.newSession(user, login, client, *me), nil
}

// LoadSession rebuilds a stored login's session without I/O.
func (n *Network) LoadSession(_ context.Context, user *bridge.User, login *bridge.Login) (bridge.Session, error) {
	var meta loginMetadata
	if err := json.Unmarshal(login.Metadata, &meta); err != nil {
		return nil, fmt.Errorf("decode gitter login of %s: %w", login.User, err)
	}
	client, err := n.newClient(meta.Token)
	if err != nil {
		return nil, err
	}
	return n.newSession(user, login, client, meta.User), nil
}

// ResolveChat turns the {chat} of an alias, a room URI such as
// "gitterhq/sandbox", into a room: from the rooms sessions already know,
// else by joining it with a logged-in user (POST /v1/rooms, the only way
// the v1 API resolves a URI). With no session there is no way to ask.
func (n *Network) ResolveChat(ctx context.Context, chat string) (bridge.ChatID, *bridge.ChatInfo, error) {
	sessions := n.sessionList()
	for _, s := range sessions {
		if r, ok := s.roomByURI(chat); ok {
			return bridge.ChatID(r.ID), chatInfo(r, nil), nil
		}
	}
	for _, s := range sessions {
		if s.State().Kind != bridge.StateConnected {
			continue
		}
		r, err := s.client.JoinRoom(ctx, chat)
		if errors.Is(err, gitterapi.ErrNotFound) || errors.Is(err, gitterapi.ErrForbidden) {
			return "", nil, bridge.ErrPortalNotFound
		} else if err != nil {
			return "", nil, fmt.Errorf("resolve gitter room %q: %w", chat, err)
		}
		return bridge.ChatID(r.ID), chatInfo(*r, nil), nil
	}
	return "", nil, bridge.ErrPortalNotFound
}

func (n *Network) sessionList() []*Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Session) int { return strings.Compare(string(a.user.MXID), string(b.user.MXID)) })
	return out
}

func (n *Network) register(s *Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sessions[s.user.MXID] = s
	n.usernames[s.me.ID] = s.me.Username
}

func (n *Network) unregister(s *Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sessions[s.user.MXID] == s {
		delete(n.sessions, s.user.MXID)
	}
}

// matrixUserOf is the Matrix user logged in as a Gitter user, if any: their
// messages go through their double puppet, not a ghost.
func (n *Network) matrixUserOf(gitterID string) id.UserID {
	n.mu.Lock()
	defer n.mu.Unlock()
	for mxid, s := range n.sessions {
		if s.me.ID == gitterID {
			return mxid
		}
	}
	return ""
}

func (n *Network) rememberUser(u gitterapi.User) {
	if u.ID == "" || u.Username == "" {
		return
	}
	n.mu.Lock()
	n.usernames[u.ID] = u.Username
	n.mu.Unlock()
}

// username is a Gitter user's username, when the network has seen it.
func (n *Network) username(gitterID string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name, ok := n.usernames[gitterID]
	return name, ok
}

// gitterName maps a Matrix user in a pill to a Gitter username: a ghost
// whose username we have seen, or a logged-in user.
func (n *Network) gitterName(mxid id.UserID) (string, bool) {
	remote, ghost := n.core.GhostRemoteID(n.info.ID, mxid)
	n.mu.Lock()
	defer n.mu.Unlock()
	if ghost {
		name, ok := n.usernames[string(remote)]
		return name, ok
	}
	if s := n.sessions[mxid]; s != nil {
		return s.me.Username, true
	}
	return "", false
}

// ghostOrUser is the Matrix user that stands for a Gitter user.
func (n *Network) ghostOrUser(gitterID string) id.UserID {
	if mxid := n.matrixUserOf(gitterID); mxid != "" {
		return mxid
	}
	return n.core.GhostMXID(n.info.ID, bridge.RemoteUserID(gitterID))
}
