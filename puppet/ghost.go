package puppet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"
)

// IntentSource hands out Matrix intents. *mauas.AppService satisfies it.
type IntentSource interface {
	// Intent returns the (cached) intent of an appservice user on the
	// bridge's own server, or nil for a user on another server.
	Intent(userID id.UserID) *mauas.IntentAPI
	// NewIntentAPI returns a fresh, uncached intent; double puppets swap its
	// client for one that holds the user's own token.
	NewIntentAPI(localpart string) *mauas.IntentAPI
	// NewExternalMautrixClient returns a client for a user's own account.
	NewExternalMautrixClient(userID id.UserID, token, homeserverURL string) (*mautrix.Client, error)
}

var _ IntentSource = (*mauas.AppService)(nil)

// Profile is what a network knows about a remote person's profile.
type Profile struct {
	// Name is the display name; "" leaves the current one alone.
	Name string
	// AvatarID identifies the avatar on the remote side and changes when the
	// picture does (a URL, a hash, a file ID); "" means no avatar.
	AvatarID string
	// FetchAvatar downloads the avatar named by AvatarID. It is only called
	// when AvatarID changed, so it may be slow; it must be set when AvatarID
	// is not "".
	FetchAvatar func(ctx context.Context) (data []byte, mime string, err error)
}

// Ghosts finds, registers and updates the ghosts of the configured networks.
// Rows are created on first use; what was last pushed to each ghost's profile
// is kept in the database so nothing is sent again after a restart unless it
// changed. It is safe for concurrent use.
type Ghosts struct {
	as     IntentSource
	namers map[string]*Namer
	query  *dbutil.QueryHelper[*Ghost]

	mu    sync.Mutex
	cache map[ghostKey]*Ghost // loaded rows; every write goes to the database first
}

type ghostKey struct{ network, remoteID string }

// NewGhosts returns the ghost store for the networks of the given namers,
// whose server names must be the appservice's. It does no I/O; run Upgrade
// first.
func NewGhosts(db *dbutil.Database, as IntentSource, namers ...*Namer) (*Ghosts, error) {
	gs := &Ghosts{as: as, namers: make(map[string]*Namer, len(namers)), cache: make(map[ghostKey]*Ghost)}
	for _, n := range namers {
		if _, dup := gs.namers[n.Network()]; dup {
			return nil, fmt.Errorf("two ghost namers for network %q", n.Network())
		}
		gs.namers[n.Network()] = n
	}
	gs.query = dbutil.MakeQueryHelper(db, func(*dbutil.QueryHelper[*Ghost]) *Ghost {
		return &Ghost{ghosts: gs}
	})
	return gs, nil
}

// Namer returns the namer of a network, or false for an unknown network.
func (gs *Ghosts) Namer(network string) (*Namer, bool) {
	n, ok := gs.namers[network]
	return n, ok
}

// Parse tells whether userID is a ghost of one of the networks, and whose.
// It does no I/O, so it suits filtering every incoming event.
func (gs *Ghosts) Parse(userID id.UserID) (network, remoteID string, ok bool) {
	for _, n := range gs.namers {
		if remoteID, ok = n.RemoteID(userID); ok {
			return n.Network(), remoteID, true
		}
	}
	return "", "", false
}

// ByMXID returns the ghost with the given Matrix ID, creating its row, or
// nil and no error when userID is not a ghost (for user queries).
func (gs *Ghosts) ByMXID(ctx context.Context, userID id.UserID) (*Ghost, error) {
	network, remoteID, ok := gs.Parse(userID)
	if !ok {
		return nil, nil
	}
	return gs.Get(ctx, network, remoteID)
}

const (
	ghostColumns     = "network, remote_id, mxid, displayname, avatar_id, avatar_mxc, name_set, avatar_set"
	getGhostQuery    = "SELECT " + ghostColumns + " FROM ghost WHERE network=$1 AND remote_id=$2"
	insertGhostQuery = `
		INSERT INTO ghost (network, remote_id, mxid) VALUES ($1, $2, $3)
		ON CONFLICT (network, remote_id) DO NOTHING`
	// A changed template gives the ghost a new Matrix account, whose profile
	// has never been set.
	renameGhostQuery = `
		UPDATE ghost SET mxid=$3, name_set=false, avatar_set=false, avatar_mxc=''
		WHERE network=$1 AND remote_id=$2`
	setNameQuery   = "UPDATE ghost SET displayname=$3, name_set=true WHERE network=$1 AND remote_id=$2"
	setAvatarQuery = "UPDATE ghost SET avatar_id=$3, avatar_mxc=$4, avatar_set=$5 WHERE network=$1 AND remote_id=$2"
)

// Get returns the ghost of a remote user, creating its row on first use. It
// does not talk to the homeserver: Ensure registers the ghost.
func (gs *Ghosts) Get(ctx context.Context, network, remoteID string) (*Ghost, error) {
	key := ghostKey{network, remoteID}
	gs.mu.Lock()
	g := gs.cache[key]
	gs.mu.Unlock()
	if g != nil {
		return g, nil
	}
	namer, ok := gs.namers[network]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownNetwork, network)
	}
	mxid, err := namer.TryMXID(remoteID)
	if err != nil {
		return nil, fmt.Errorf("name ghost %q on %s: %w", remoteID, network, err)
	}
	if gs.as.Intent(mxid) == nil {
		return nil, fmt.Errorf("ghost %s is not on the appservice's server", mxid)
	}
	g, err = gs.load(ctx, network, remoteID, mxid)
	if err != nil {
		return nil, err
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if cached := gs.cache[key]; cached != nil {
		return cached, nil // lost a race with another Get; both rows are the same
	}
	gs.cache[key] = g
	return g, nil
}

func (gs *Ghosts) load(ctx context.Context, network, remoteID string, mxid id.UserID) (*Ghost, error) {
	g, err := gs.query.QueryOne(ctx, getGhostQuery, network, remoteID)
	if err == nil && g == nil {
		if err = gs.query.Exec(ctx, insertGhostQuery, network, remoteID, mxid); err == nil {
			g, err = gs.query.QueryOne(ctx, getGhostQuery, network, remoteID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("load ghost %s: %w", mxid, err)
	} else if g == nil {
		return nil, fmt.Errorf("load ghost %s: row vanished after insert", mxid)
	}
	if g.MXID != mxid {
		if err = gs.query.Exec(ctx, renameGhostQuery, network, remoteID, mxid); err != nil {
			return nil, fmt.Errorf("move ghost %s to %s: %w", g.MXID, mxid, err)
		}
		g.MXID, g.nameSet, g.avatarSet, g.avatarMXC = mxid, false, false, ""
	}
	return g, nil
}

// Ghost is the Matrix user standing for one remote user. Its identity fields
// never change; its profile is read and written under its own lock.
type Ghost struct {
	Network  string
	RemoteID string
	MXID     id.UserID

	ghosts *Ghosts

	ensureMu sync.Mutex
	ensured  bool

	// pushMu is held for a whole UpdateProfile, so pushes never interleave;
	// mu guards the fields below, which only a holder of pushMu writes, so
	// readers never wait for the homeserver.
	pushMu    sync.Mutex
	mu        sync.RWMutex
	name      string
	avatarID  string
	avatarMXC id.ContentURIString
	nameSet   bool
	avatarSet bool
}

// Scan reads a ghost row; it is for dbutil.QueryHelper.
func (g *Ghost) Scan(row dbutil.Scannable) (*Ghost, error) {
	var mxid, avatarMXC string
	err := row.Scan(&g.Network, &g.RemoteID, &mxid, &g.name, &g.avatarID, &avatarMXC, &g.nameSet, &g.avatarSet)
	if err != nil {
		return nil, err
	}
	g.MXID, g.avatarMXC = id.UserID(mxid), id.ContentURIString(avatarMXC)
	return g, nil
}

// Intent returns the intent that acts as the ghost.
func (g *Ghost) Intent() *mauas.IntentAPI {
	return g.ghosts.as.Intent(g.MXID)
}

// DisplayName is the display name last set on the homeserver, or "".
func (g *Ghost) DisplayName() string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.nameSet {
		return ""
	}
	return g.name
}

// AvatarURL is the avatar last set on the homeserver, or "".
func (g *Ghost) AvatarURL() id.ContentURIString {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.avatarSet {
		return ""
	}
	return g.avatarMXC
}

// Ensure registers the ghost on the homeserver (m.login.application_service)
// unless the intent's state store knows it is registered already.
//
// mautrix's intent writes its Registered flag without a lock, so the first
// registration is serialised here: every caller that got past Ensure sees
// the flag set, and later calls only read it.
func (g *Ghost) Ensure(ctx context.Context) error {
	g.ensureMu.Lock()
	defer g.ensureMu.Unlock()
	if g.ensured {
		return nil
	}
	if err := g.Intent().EnsureRegistered(ctx); err != nil {
		return fmt.Errorf("register ghost %s: %w", g.MXID, err)
	}
	g.ensured = true
	return nil
}

// UpdateProfile pushes the parts of p that differ from what was last pushed:
// the display name when it changed, the avatar (uploaded first) when its ID
// changed, its removal when the ID became "". When nothing changed it makes no
// request at all. Calls for one ghost run one after another; a failed part is
// retried by the next call.
func (g *Ghost) UpdateProfile(ctx context.Context, p Profile) error {
	g.pushMu.Lock()
	defer g.pushMu.Unlock()
	nameDue := p.Name != "" && (p.Name != g.name || !g.nameSet)
	avatarDue := p.AvatarID != g.avatarID || (p.AvatarID != "" && !g.avatarSet)
	if !nameDue && !avatarDue {
		return nil
	}
	log := zerolog.Ctx(ctx).With().Str("network", g.Network).Str("remote_id", g.RemoteID).Stringer("ghost", g.MXID).Logger()
	ctx = log.WithContext(ctx)
	if err := g.Ensure(ctx); err != nil {
		return err
	}
	var errs []error
	if nameDue {
		if err := g.pushName(ctx, p.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if avatarDue {
		if err := g.pushAvatar(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (g *Ghost) pushName(ctx context.Context, name string) error {
	if err := g.Intent().Client.SetDisplayName(ctx, name); err != nil {
		return fmt.Errorf("set display name of %s: %w", g.MXID, err)
	}
	if err := g.ghosts.query.Exec(ctx, setNameQuery, g.Network, g.RemoteID, name); err != nil {
		return fmt.Errorf("store display name of %s: %w", g.MXID, err)
	}
	g.mu.Lock()
	g.name, g.nameSet = name, true
	g.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Msg("Ghost display name updated")
	return nil
}

func (g *Ghost) pushAvatar(ctx context.Context, p Profile) error {
	mxc := id.ContentURIString("")
	switch {
	case p.AvatarID == "":
		// Removal: mxc stays "".
	case p.AvatarID == g.avatarID && g.avatarMXC != "":
		mxc = g.avatarMXC // uploaded by an earlier call whose set failed
	default:
		uploaded, err := g.uploadAvatar(ctx, p)
		if err != nil {
			return err
		}
		mxc = uploaded
	}
	uri, err := mxc.Parse()
	if err != nil {
		return fmt.Errorf("avatar of %s: %w", g.MXID, err)
	}
	if err = g.Intent().Client.SetAvatarURL(ctx, uri); err != nil {
		return fmt.Errorf("set avatar of %s: %w", g.MXID, err)
	}
	if err = g.ghosts.query.Exec(ctx, setAvatarQuery, g.Network, g.RemoteID, p.AvatarID, string(mxc), true); err != nil {
		return fmt.Errorf("store avatar of %s: %w", g.MXID, err)
	}
	g.mu.Lock()
	g.avatarID, g.avatarMXC, g.avatarSet = p.AvatarID, mxc, true
	g.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("avatar_mxc", string(mxc)).Msg("Ghost avatar updated")
	return nil
}

// uploadAvatar fetches and uploads the avatar and records the upload (not yet
// set) so that a failed set does not cost another upload.
func (g *Ghost) uploadAvatar(ctx context.Context, p Profile) (id.ContentURIString, error) {
	if p.FetchAvatar == nil {
		return "", fmt.Errorf("avatar of %s: AvatarID %q without FetchAvatar", g.MXID, p.AvatarID)
	}
	data, mime, err := p.FetchAvatar(ctx)
	if err != nil {
		return "", fmt.Errorf("fetch avatar of %s: %w", g.MXID, err)
	}
	resp, err := g.Intent().UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: mime})
	if err != nil {
		return "", fmt.Errorf("upload avatar of %s: %w", g.MXID, err)
	}
	mxc := resp.ContentURI.CUString()
	if err = g.ghosts.query.Exec(ctx, setAvatarQuery, g.Network, g.RemoteID, p.AvatarID, string(mxc), false); err != nil {
		return "", fmt.Errorf("store avatar upload of %s: %w", g.MXID, err)
	}
	g.mu.Lock()
	g.avatarID, g.avatarMXC, g.avatarSet = p.AvatarID, mxc, false
	g.mu.Unlock()
	return mxc, nil
}
