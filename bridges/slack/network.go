package slack

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/puppet"
)

//go:embed upgrades/*.sql
var upgradeFS embed.FS

var upgrades = dbutil.BuildUpgradeTable().WithFSPath(upgradeFS, "upgrades").Finish()

const (
	networkID     = bridge.NetworkID("slack")
	ghostTemplate = "slack_{id}"
	aliasTemplate = "slack_{chat}"
)

// core is what the adapter needs from the bridge: *bridge.Bridge in
// production, a recorder in the adapter's own tests.
type core interface {
	QueueRemoteEvent(ctx context.Context, ev *bridge.RemoteEvent) error
	ReportState(ctx context.Context, l *bridge.Login, st bridge.SessionState)
	GetPortal(ctx context.Context, key bridge.PortalKey) (*bridge.Portal, error)
	PortalByRoom(ctx context.Context, room id.RoomID) (*bridge.Portal, error)
	// DownloadMedia fetches Matrix media for files sent to Slack.
	DownloadMedia(ctx context.Context, uri id.ContentURIString) ([]byte, error)
	// RecordRemoteID maps an uploaded file's Matrix message to the ts of
	// the Slack message that shares it, once the RTM echo tells it.
	RecordRemoteID(ctx context.Context, msg *bridge.MatrixMessage, remoteID bridge.MessageID, ts time.Time) (bool, error)
	// GhostMXID and GhostRemoteID turn Slack users into pills and back.
	GhostMXID(nid bridge.NetworkID, remote bridge.RemoteUserID) id.UserID
	GhostRemoteID(nid bridge.NetworkID, user id.UserID) (bridge.RemoteUserID, bool)
}

// Network is the Slack network: every login of every Matrix user, across
// workspaces.
type Network struct {
	cfg  Config
	core core
	db   *dbutil.Database
	// aliases reads a portal's alias back as its chat, for Matrix links
	// to channels by alias; nil without a homeserver domain.
	aliases *puppet.AliasNamer

	mu sync.Mutex
	// accounts maps a logged-in Slack account ("TEAM-USER") to its Matrix
	// user, so what they do in the Slack app is attributed to them.
	accounts map[bridge.RemoteUserID]id.UserID
	// sessions holds every login by Matrix user and workspace: any of a
	// workspace's fetches its files, and a user's DM with a ghost goes
	// through their login of the ghost's workspace.
	sessions map[loginKey]*Session
	// echoes is what the bridge just did on Slack (session.go).
	echoes *echoSet
	// app is the app mode's session once its bot is known (app.go);
	// stopApp ends it, and appRetried is closed once the retry that may
	// still make it (retryApp) is over.
	app        *Session
	stopApp    context.CancelFunc
	appRetried chan struct{}
}

// loginKey names one login: a Matrix user in one workspace.
type loginKey struct {
	user id.UserID
	team string
}

var (
	_ bridge.Network      = (*Network)(nil)
	_ bridge.MediaFetcher = (*Network)(nil)
)

// NewNetwork builds the network without I/O.
func NewNetwork(cfg Config, common bridge.CommonConfig) *Network {
	n := &Network{cfg: cfg, accounts: map[bridge.RemoteUserID]id.UserID{}, sessions: map[loginKey]*Session{},
		echoes: newEchoSet(time.Minute)}
	// The core names portals' aliases with the same template and domain
	// (and checks the template at start); a bad domain leaves links by
	// alias unresolved rather than failing here.
	n.aliases, _ = puppet.NewAliasNamer(aliasTemplate, string(networkID), common.Domain)
	return n
}

// Info is constant.
func (n *Network) Info() bridge.NetworkInfo {
	return bridge.NetworkInfo{
		ID:            networkID,
		Kind:          "slack",
		DisplayName:   "Slack",
		GhostTemplate: ghostTemplate,
		AliasTemplate: aliasTemplate,
		Relay:         n.cfg.App.enabled(),
	}
}

// Start runs the adapter's migrations and, in app mode, connects the app.
func (n *Network) Start(ctx context.Context, br *bridge.Bridge) error {
	return n.start(ctx, br, br.DB("slack_version", upgrades))
}

func (n *Network) start(ctx context.Context, c core, db *dbutil.Database) error {
	n.core, n.db = c, db
	if err := db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade slack tables: %w", err)
	}
	return n.startApp(ctx)
}

// Stop disconnects the app of app mode; the core disconnects the users'
// sessions itself.
func (n *Network) Stop(ctx context.Context) error {
	if n.stopApp != nil {
		n.stopApp()
	}
	if n.appRetried != nil {
		// Else an answer that beat the cancel would connect the app
		// after Stop.
		select {
		case <-n.appRetried:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if app := n.appSession(); app != nil {
		return app.Disconnect(ctx)
	}
	return nil
}

// metadata is a login's stored metadata.
type metadata struct {
	Credentials
	TeamID   string `json:"team_id"`
	TeamName string `json:"team_name"`
	UserID   string `json:"user_id"`
	UserName string `json:"user_name"`
}

// ErrUsage is returned for a login command with the wrong arguments.
var ErrUsage = errors.New("usage: login slack <xoxp-token> | login slack <xoxc-token> <d-cookie>")

// Login checks the credentials with auth.test: "login slack xoxp-…" or
// "login slack xoxc-… <d cookie>". The login ID is the workspace, so one
// Matrix user can log into several.
func (n *Network) Login(ctx context.Context, user *bridge.User, args []string) (*bridge.Login, bridge.Session, error) {
	var creds Credentials
	switch {
	case len(args) == 1 && (strings.HasPrefix(args[0], "xoxp-") || strings.HasPrefix(args[0], "xoxb-")):
		creds.Token = args[0]
	case len(args) == 2 && strings.HasPrefix(args[0], "xoxc-"):
		creds.Token, creds.Cookie = args[0], strings.TrimPrefix(args[1], "d=")
	default:
		return nil, nil, ErrUsage
	}
	auth, err := newClient(n.cfg, creds).AuthTestContext(ctx)
	if err != nil {
		if authError(err) {
			return nil, nil, fmt.Errorf("%w: Slack refused the credentials (%s)", bridge.ErrPermanent, safeError(err))
		}
		return nil, nil, fmt.Errorf("check credentials: %s", safeError(err))
	}
	md := metadata{Credentials: creds, TeamID: auth.TeamID, TeamName: auth.Team, UserID: auth.UserID, UserName: auth.User}
	raw, err := json.Marshal(md)
	if err != nil {
		return nil, nil, err
	}
	l := &bridge.Login{
		User:       user.MXID,
		Network:    networkID,
		ID:         bridge.LoginID(auth.TeamID),
		RemoteID:   userKey(auth.TeamID, auth.UserID),
		RemoteName: auth.User + " on " + auth.Team,
		Metadata:   raw,
	}
	s, err := n.LoadSession(ctx, user, l)
	if err != nil {
		return nil, nil, err
	}
	return l, s, nil
}

// LoadSession decodes the stored metadata; Connect does the I/O.
func (n *Network) LoadSession(_ context.Context, user *bridge.User, l *bridge.Login) (bridge.Session, error) {
	var md metadata
	if err := json.Unmarshal(l.Metadata, &md); err != nil {
		// The error names no field values: the metadata holds the token.
		return nil, fmt.Errorf("%w: slack login metadata is unreadable", bridge.ErrPermanent)
	}
	if md.Token == "" || md.TeamID == "" || md.UserID == "" {
		return nil, fmt.Errorf("%w: slack login metadata is incomplete", bridge.ErrPermanent)
	}
	s := newSession(n, user, l, md)
	n.mu.Lock()
	n.accounts[userKey(md.TeamID, md.UserID)] = user.MXID
	n.sessions[loginKey{user.MXID, md.TeamID}] = s
	n.mu.Unlock()
	return s, nil
}

// forget drops a logged-out session.
func (n *Network) forget(s *Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.accounts, userKey(s.md.TeamID, s.md.UserID))
	if k := (loginKey{s.user.MXID, s.md.TeamID}); n.sessions[k] == s {
		delete(n.sessions, k)
	}
}

// session returns a Matrix user's login of a workspace, nil.
func (n *Network) session(user id.UserID, team string) *Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sessions[loginKey{user, team}]
}

// teamSession returns a login of a workspace whose credentials still work,
// nil when there is none.
func (n *Network) teamSession(team string) *Session {
	n.mu.Lock()
	var all []*Session
	for k, s := range n.sessions {
		if k.team == team {
			all = append(all, s)
		}
	}
	n.mu.Unlock()
	for _, s := range all {
		if !s.badState() {
			return s
		}
	}
	return nil
}

// matrixAccount returns the Matrix user logged in as a Slack account, "".
func (n *Network) matrixAccount(team, user string) id.UserID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accounts[userKey(team, user)]
}

// slackAccount returns the Slack user ID a Matrix user is logged in as in
// a workspace, "".
func (n *Network) slackAccount(team string, mxid id.UserID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.accounts {
		if v == mxid {
			if t, u, ok := splitKey(string(k)); ok && t == team {
				return u
			}
		}
	}
	return ""
}

// userKey and chatKey make workspace-unique Slack IDs bridge-unique.
func userKey(team, user string) bridge.RemoteUserID {
	return bridge.RemoteUserID(team + "-" + user)
}

func chatKey(team, channel string) bridge.ChatID {
	return bridge.ChatID(team + "-" + channel)
}

// splitKey undoes userKey and chatKey.
func splitKey(key string) (team, id string, ok bool) {
	return strings.Cut(key, "-")
}

// safeError is an error's text for users and logs. Slack's own errors are
// short codes; should any other error ever quote a request, the text is
// withheld rather than risk a credential in it.
func safeError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "xox") || strings.Contains(msg, "d=") {
		return "request failed"
	}
	return msg
}
