// Package loopback is a test-only network adapter for the "remote" test
// network in internal/loopback/remote. It exercises the whole adapter
// contract (messages, edits, deletes, reactions, membership, presence,
// typing, DMs, relay, double puppets) without a real service, and is kept
// out of the shipped binary: only tests and builds with -tags loopback
// import it.
package loopback

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/internal/loopback/remote"
)

func init() { bridge.RegisterKind(kind{}) }

// Config is one entry of networks.loopback.
type Config struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// AutoSessions gives every Matrix user a session on first use, named
	// after their localpart, the way IRC puppets work.
	AutoSessions bool `yaml:"auto_sessions"`
}

type kind struct{}

func (kind) Kind() string { return "loopback" }

func (kind) ExampleConfig() string { return "" }

func (kind) NewNetworks(section []byte, _ bridge.CommonConfig) ([]bridge.Network, error) {
	var cfgs []Config
	if err := bridge.DecodeSection(section, "loopback", &cfgs); err != nil {
		return nil, err
	}
	var out []bridge.Network
	for i, c := range cfgs {
		if c.Name == "" || c.URL == "" {
			return nil, fmt.Errorf("networks.loopback[%d]: name and url are required", i)
		}
		out = append(out, &Network{cfg: c, http: &http.Client{Timeout: 30 * time.Second}, logins: map[string]id.UserID{}})
	}
	return out, nil
}

//go:embed upgrades/*.sql
var upgradeFS embed.FS

var upgrades = dbutil.BuildUpgradeTable().WithFSPath(upgradeFS, "upgrades").Finish()

// Network polls the remote log and turns it into remote events.
type Network struct {
	cfg  Config
	http *http.Client
	br   *bridge.Bridge
	db   *dbutil.Database

	mu     sync.Mutex
	logins map[string]id.UserID // remote user → Matrix user

	cancel context.CancelFunc
	done   chan struct{}
}

var (
	_ bridge.Network           = (*Network)(nil)
	_ bridge.ChatResolver      = (*Network)(nil)
	_ bridge.RelayHandler      = (*Network)(nil)
	_ bridge.EditHandler       = (*Session)(nil)
	_ bridge.RedactionHandler  = (*Session)(nil)
	_ bridge.ReactionHandler   = (*Session)(nil)
	_ bridge.TypingHandler     = (*Session)(nil)
	_ bridge.PresenceHandler   = (*Session)(nil)
	_ bridge.MembershipHandler = (*Session)(nil)
	_ bridge.DMStarter         = (*Session)(nil)
)

func (n *Network) Info() bridge.NetworkInfo {
	return bridge.NetworkInfo{
		ID:            bridge.NetworkID(n.cfg.Name),
		Kind:          "loopback",
		DisplayName:   "Loopback " + n.cfg.Name,
		GhostTemplate: "loop_{network}_{id}",
		AliasTemplate: "loop_{network}_{chat}",
		Protocol:      "loopback",
		Relay:         true,
	}
}

func (n *Network) Start(ctx context.Context, br *bridge.Bridge) error {
	n.br = br
	n.db = br.DB("loopback_version", upgrades)
	if err := n.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade loopback tables: %w", err)
	}
	pctx, cancel := context.WithCancel(ctx)
	n.cancel, n.done = cancel, make(chan struct{})
	go n.poll(pctx)
	return nil
}

func (n *Network) Stop(ctx context.Context) error {
	if n.cancel != nil {
		n.cancel()
		<-n.done
	}
	return nil
}

func (n *Network) cursor(ctx context.Context) (int64, error) {
	var seq int64
	err := n.db.QueryRow(ctx, `SELECT seq FROM loopback_cursor WHERE network=$1`, n.cfg.Name).Scan(&seq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return seq, nil
}

func (n *Network) saveCursor(ctx context.Context, seq int64) error {
	_, err := n.db.Exec(ctx, `INSERT INTO loopback_cursor (network, seq) VALUES ($1, $2)
		ON CONFLICT (network) DO UPDATE SET seq=excluded.seq`, n.cfg.Name, seq)
	return err
}

// poll reads the remote log from the stored cursor. An event is queued
// (journaled by the core) before the cursor passes it, so a crash between
// the two re-reads it, and the core's message map drops the duplicate.
func (n *Network) poll(ctx context.Context) {
	defer close(n.done)
	log := zerolog.Ctx(ctx)
	after, err := n.cursor(ctx)
	if err != nil {
		log.Err(err).Msg("Failed to read loopback cursor")
		return
	}
	for ctx.Err() == nil {
		var evs []remote.Event
		if err := n.call(ctx, http.MethodGet, fmt.Sprintf("/events?after=%d", after), nil, &evs); err != nil {
			if ctx.Err() == nil {
				log.Warn().Err(err).Msg("Loopback poll failed")
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		for _, rev := range evs {
			if ev := n.convert(rev); ev != nil {
				if err := n.br.QueueRemoteEvent(ctx, ev); err != nil {
					log.Err(err).Msg("Failed to queue remote event")
					return
				}
			}
			after = rev.Seq
		}
		if len(evs) > 0 {
			if err := n.saveCursor(ctx, after); err != nil && ctx.Err() == nil {
				log.Err(err).Msg("Failed to save loopback cursor")
			}
		}
	}
}

func (n *Network) matrixUser(remoteUser string) id.UserID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logins[remoteUser]
}

// convert maps a remote log entry to a bridge event. Echoes of what the
// bridge did through the API are dropped here, as a real adapter drops what
// its own connection sent; the core's message map is the second line of
// defence (and the only one for replays).
func (n *Network) convert(rev remote.Event) *bridge.RemoteEvent {
	if rev.ViaAPI {
		return nil
	}
	ev := &bridge.RemoteEvent{
		Kind:      bridge.RemoteEventKind(rev.Kind),
		Portal:    bridge.PortalKey{Network: bridge.NetworkID(n.cfg.Name), Chat: bridge.ChatID(rev.Chat)},
		Sender:    bridge.Sender{ID: bridge.RemoteUserID(rev.Sender), Matrix: n.matrixUser(rev.Sender)},
		ID:        bridge.MessageID(rev.ID),
		Target:    bridge.MessageID(rev.Target),
		Timestamp: rev.Time,
		Reaction:  rev.Reaction,
	}
	if rev.DM {
		// A DM portal belongs to the logged-in user on the other end.
		other := dmPeer(rev.Chat, rev.Sender)
		receiver := n.matrixUser(other)
		if receiver == "" {
			return nil
		}
		ev.Portal.Receiver = string(receiver)
		ev.ChatInfo = &bridge.ChatInfo{IsDM: true, Name: ptr(rev.Sender)}
	}
	switch ev.Kind {
	case bridge.RemoteMessage, bridge.RemoteEdit:
		ev.Content = &bridge.Content{MsgType: event.MsgText, Body: rev.Text}
		if rev.File != "" {
			ev.Content.MsgType = event.MsgFile
			ev.Content.Media = &bridge.Media{URL: rev.File, Name: rev.Text}
		}
		ev.CreatePortal = true
		if rev.Kind == "edit" {
			ev.ID = ""
		}
	case bridge.RemoteJoin, bridge.RemoteLeave, bridge.RemoteKick, bridge.RemoteBan:
		m := rev.Member
		if m == "" {
			m = rev.Sender
		}
		ev.Member = &bridge.Member{ID: bridge.RemoteUserID(m), Matrix: n.matrixUser(m)}
		ev.CreatePortal = ev.Kind == bridge.RemoteJoin
	case bridge.RemoteChatMove:
		// A DM partner now known as Sender (was Member): the chat becomes
		// theirs with the same receiver.
		ev.NewChat = bridge.ChatID(dmChat(dmPeer(rev.Chat, rev.Sender), rev.Sender))
		ev.Sender.Profile = &bridge.Profile{Name: rev.Sender}
		ev.Member = &bridge.Member{ID: bridge.RemoteUserID(rev.Member), Reason: "now known as " + rev.Sender}
	case bridge.RemoteProfile:
		ev.Sender.Profile = &bridge.Profile{Name: rev.Name, AvatarID: rev.Avatar, AvatarURL: rev.Avatar}
	case bridge.RemotePresence:
		ev.Presence = &bridge.Presence{State: event.Presence(rev.Presence), Status: rev.Text}
	case bridge.RemoteTyping:
		ev.Typing = rev.Typing
	case bridge.RemoteChatInfo:
		ev.ChatInfo = &bridge.ChatInfo{Name: nilIfEmpty(rev.Name), Topic: nilIfEmpty(rev.Text), AvatarID: rev.Avatar, AvatarURL: rev.Avatar}
		applyMode(ev.ChatInfo, rev.Mode)
		// A member named in chat_info is in the chat: a logged-in user is
		// brought into its portal, as a real adapter's login sync does.
		// "+o"/"-o" give or take the member's op.
		if rev.Member != "" {
			mx := n.matrixUser(rev.Member)
			if mx != "" {
				ev.ChatInfo.Invite = []id.UserID{mx}
			}
			if level, ok := map[string]int{"+o": 50, "-o": 0}[rev.Mode]; ok {
				if mx != "" {
					ev.ChatInfo.MatrixPowerLevels = map[id.UserID]int{mx: level}
				} else {
					ev.ChatInfo.PowerLevels = map[bridge.RemoteUserID]int{bridge.RemoteUserID(rev.Member): level}
				}
			}
		}
	}
	if ev.Kind == bridge.RemoteMessage && rev.Name != "" {
		ev.Sender.Profile = &bridge.Profile{Name: rev.Name}
	}
	return ev
}

// applyMode maps IRC-like channel modes to room settings.
func applyMode(info *bridge.ChatInfo, mode string) {
	switch mode {
	case "+i":
		info.JoinRule = event.JoinRuleInvite
	case "-i":
		info.JoinRule = event.JoinRulePublic
	case "+m":
		info.EventsDefault = ptr(10)
	case "-m":
		info.EventsDefault = ptr(0)
	case "+s":
		info.Listed = ptr(false)
	case "-s":
		info.Listed = ptr(true)
	}
}

func dmPeer(chat, sender string) string {
	parts := strings.Split(strings.TrimPrefix(chat, "dm:"), ":")
	for _, p := range parts {
		if p != sender {
			return p
		}
	}
	return sender
}

func dmChat(a, b string) string {
	pair := []string{a, b}
	sort.Strings(pair)
	return "dm:" + pair[0] + ":" + pair[1]
}

func ptr[T any](v T) *T { return &v }

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// call does one JSON request against the remote.
func (n *Network) call(ctx context.Context, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.cfg.URL+path, rd)
	if err != nil {
		return err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return fmt.Errorf("loopback %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		err := fmt.Errorf("loopback %s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(b.String()))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			// Asking again will not change the remote's mind.
			err = fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
		}
		return err
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func (n *Network) act(ctx context.Context, ev remote.Event) (remote.Event, error) {
	var out remote.Event
	err := n.call(ctx, http.MethodPost, "/act", ev, &out)
	return out, err
}

// Login checks the remote user exists: "login <network> <username>".
func (n *Network) Login(ctx context.Context, user *bridge.User, args []string) (*bridge.Login, bridge.Session, error) {
	if len(args) != 1 {
		return nil, nil, fmt.Errorf("usage: login %s <username>", n.cfg.Name)
	}
	var who struct{ ID, Name string }
	if err := n.call(ctx, http.MethodGet, "/users/"+args[0], nil, &who); err != nil {
		return nil, nil, fmt.Errorf("check user: %w", err)
	}
	l := &bridge.Login{User: user.MXID, Network: bridge.NetworkID(n.cfg.Name), RemoteID: bridge.RemoteUserID(who.ID), RemoteName: who.Name, Metadata: []byte("{}")}
	s, err := n.LoadSession(ctx, user, l)
	return l, s, err
}

func (n *Network) LoadSession(_ context.Context, user *bridge.User, l *bridge.Login) (bridge.Session, error) {
	n.mu.Lock()
	n.logins[string(l.RemoteID)] = user.MXID
	n.mu.Unlock()
	return &Session{net: n, login: l}, nil
}

// AutoSession logs a Matrix user in as the remote user named after their
// localpart when the network is configured for it.
func (n *Network) AutoSession(ctx context.Context, user *bridge.User) (*bridge.Login, bridge.Session, error) {
	if !n.cfg.AutoSessions {
		return nil, nil, nil
	}
	l := &bridge.Login{User: user.MXID, Network: bridge.NetworkID(n.cfg.Name), RemoteID: bridge.RemoteUserID(user.MXID.Localpart()),
		RemoteName: user.MXID.Localpart(), Metadata: []byte(`{"auto":true}`)}
	s, err := n.LoadSession(ctx, user, l)
	return l, s, err
}

// ResolveChat makes any chat name valid: the loopback network has every
// channel anyone asks for.
func (n *Network) ResolveChat(_ context.Context, chat string) (bridge.ChatID, *bridge.ChatInfo, error) {
	if chat == "" || strings.HasPrefix(chat, "dm:") {
		return "", nil, bridge.ErrPortalNotFound
	}
	return bridge.ChatID(chat), &bridge.ChatInfo{Name: ptr("#" + chat)}, nil
}

// HandleRelayMessage posts for a Matrix user without a session as the
// network's relay bot, prefixed with their name.
func (n *Network) HandleRelayMessage(ctx context.Context, msg *bridge.MatrixMessage) (*bridge.MessageResult, error) {
	out, err := n.act(ctx, remote.Event{Kind: "message", Chat: string(msg.Portal.Key.Chat), Sender: "relaybot",
		Txn: string(msg.Event.ID), Text: fmt.Sprintf("<%s> %s", msg.SenderName, msg.Content.Body)})
	if err != nil {
		return nil, err
	}
	return &bridge.MessageResult{ID: bridge.MessageID(out.ID), Timestamp: out.Time}, nil
}
