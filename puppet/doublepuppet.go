package puppet

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// DoublePuppetKey is the content key that marks events sent through a double
// puppet; its value is the appservice ID. It is mautrix's key, so bridges that
// share a homeserver recognise each other's echoes too.
const DoublePuppetKey = mauas.DoublePuppetKey

// Source tells where a double puppet's token came from.
type Source string

const (
	// SourceSecret: obtained by the bridge from a configured secret
	// (appservice masquerading or shared-secret login).
	SourceSecret Source = "secret"
	// SourceUser: given by the user (login-matrix).
	SourceUser Source = "user"
)

// asTokenPrefix marks a secret that is an appservice token for the user's
// homeserver rather than a shared-secret-auth key.
const asTokenPrefix = "as_token:"

// sharedSecretLoginType is the login type of the shared-secret authenticator
// module for Synapse; older versions of the module only take the same proof
// as the password of an m.login.password login.
const sharedSecretLoginType mautrix.AuthType = "com.devture.shared_secret_auth"

// deviceName is the device shown to the user for shared-secret logins.
const deviceName = "Isthmus double puppet"

// placeholderLocalpart names the throwaway appservice client that mautrix
// creates with every intent; double puppets replace it with their own.
const placeholderLocalpart = "isthmus-double-puppet"

// DoublePuppet describes a stored double puppet, without its token.
type DoublePuppet struct {
	MXID          id.UserID
	HomeserverURL string
	Source        Source
	CreatedAt     time.Time

	accessToken string // "" with SourceSecret: masquerade with the configured as_token
}

// Scan reads a double_puppet row; it is for dbutil.QueryHelper.
func (d *DoublePuppet) Scan(row dbutil.Scannable) (*DoublePuppet, error) {
	var mxid, source string
	var created int64
	if err := row.Scan(&mxid, &d.accessToken, &d.HomeserverURL, &source, &created); err != nil {
		return nil, err
	}
	d.MXID, d.Source, d.CreatedAt = id.UserID(mxid), Source(source), time.UnixMilli(created)
	return d, nil
}

// masquerades tells whether the puppet uses appservice masquerading.
func (d *DoublePuppet) masquerades() bool {
	return d.Source == SourceSecret && d.accessToken == ""
}

// DoublePuppets keeps Matrix users' own access tokens and hands out intents
// that act as those users. Tokens are stored in the database and never
// logged. It is safe for concurrent use.
type DoublePuppets struct {
	// OnDropped, when set, is called after a token that stopped working was
	// deleted, so the user can be told; reason is short and for people. Set it
	// before first use.
	OnDropped func(ctx context.Context, mxid id.UserID, reason string)

	as           IntentSource
	hsURL        string
	ownDomain    string
	secrets      map[string]string
	appserviceID string
	query        *dbutil.QueryHelper[*DoublePuppet]
	discover     func(ctx context.Context, serverName string) (string, error)

	mu         sync.Mutex
	intents    map[id.UserID]*mauas.IntentAPI // built from the stored rows
	discovered map[string]string              // server name -> client API URL
}

// NewDoublePuppets returns the double-puppet store. hsURL is the bridge's
// own homeserver, serving ownDomain; secrets maps homeserver domains to
// "as_token:<token>" (an appservice on that homeserver whose namespace
// covers its users) or to a shared-secret-auth key; appserviceID is the value
// of the echo marker. When as is a *mauas.AppService without a marker value,
// it is set to appserviceID so that its double-puppet intents add the marker.
// It does no I/O; run Upgrade first.
func NewDoublePuppets(db *dbutil.Database, as IntentSource, hsURL, ownDomain string, secrets map[string]string, appserviceID string) (*DoublePuppets, error) {
	switch {
	case hsURL == "" || ownDomain == "":
		return nil, errors.New("double puppets: homeserver URL and domain are required")
	case appserviceID == "":
		return nil, errors.New("double puppets: appservice ID is required for the echo marker")
	}
	for domain, secret := range secrets {
		if secret == "" || secret == asTokenPrefix {
			return nil, fmt.Errorf("double puppets: empty secret for %s", domain)
		}
	}
	if mas, ok := as.(*mauas.AppService); ok {
		switch mas.DoublePuppetValue {
		case "":
			mas.DoublePuppetValue = appserviceID
		case appserviceID:
		default:
			return nil, fmt.Errorf("double puppets: appservice marks double-puppet events with %q, not %q", mas.DoublePuppetValue, appserviceID)
		}
	}
	dp := &DoublePuppets{
		as:           as,
		hsURL:        hsURL,
		ownDomain:    ownDomain,
		secrets:      maps.Clone(secrets),
		appserviceID: appserviceID,
		discover:     discoverClientAPI,
		intents:      make(map[id.UserID]*mauas.IntentAPI),
		discovered:   make(map[string]string),
	}
	dp.query = dbutil.MakeQueryHelper(db, func(*dbutil.QueryHelper[*DoublePuppet]) *DoublePuppet {
		return &DoublePuppet{}
	})
	return dp, nil
}

// discoverClientAPI finds a server's client API through .well-known, falling
// back to the server name itself as the spec says.
func discoverClientAPI(ctx context.Context, serverName string) (string, error) {
	wk, err := mautrix.DiscoverClientAPI(ctx, serverName)
	if err != nil {
		return "", err
	}
	if wk == nil || wk.Homeserver.BaseURL == "" {
		return "https://" + serverName, nil
	}
	return wk.Homeserver.BaseURL, nil
}

const (
	dpColumns         = "mxid, access_token, homeserver_url, source, created_at"
	getDPQuery        = "SELECT " + dpColumns + " FROM double_puppet WHERE mxid=$1"
	deleteDPQuery     = "DELETE FROM double_puppet WHERE mxid=$1"
	deleteDPSameQuery = "DELETE FROM double_puppet WHERE mxid=$1 AND access_token=$2 AND source=$3"
	upsertDPQuery     = `
		INSERT INTO double_puppet (` + dpColumns + `) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (mxid) DO UPDATE SET access_token=excluded.access_token,
			homeserver_url=excluded.homeserver_url, source=excluded.source, created_at=excluded.created_at`
)

// Get returns the user's stored double puppet, or nil when there is none.
func (dp *DoublePuppets) Get(ctx context.Context, mxid id.UserID) (*DoublePuppet, error) {
	d, err := dp.query.QueryOne(ctx, getDPQuery, mxid)
	if err != nil {
		return nil, fmt.Errorf("load double puppet of %s: %w", mxid, err)
	}
	return d, nil
}

// Login stores a token the user gave (login-matrix) after /whoami showed
// that it works and is theirs: ErrInvalidToken or ErrTokenMismatch otherwise.
func (dp *DoublePuppets) Login(ctx context.Context, mxid id.UserID, token string) error {
	ctx, hsURL, err := dp.prepare(ctx, mxid, SourceUser)
	if err != nil {
		return err
	}
	if token == "" {
		return fmt.Errorf("double puppet for %s: %w", mxid, ErrInvalidToken)
	}
	client, err := dp.as.NewExternalMautrixClient(mxid, token, hsURL)
	if err != nil {
		return fmt.Errorf("double puppet client for %s: %w", mxid, err)
	}
	if err = checkWhoami(ctx, client, mxid); err != nil {
		return err
	}
	return dp.store(ctx, &DoublePuppet{MXID: mxid, HomeserverURL: hsURL, Source: SourceUser, accessToken: token})
}

// AutoLogin gets a token for mxid from the secret configured for its
// homeserver (ErrNoSecret when there is none) and stores it, replacing any
// stored one. With "as_token:" nothing is copied: the intent masquerades with
// the configured token. Otherwise it logs in with the shared-secret
// authenticator, whose proof is the hex HMAC-SHA512 of the user ID.
func (dp *DoublePuppets) AutoLogin(ctx context.Context, mxid id.UserID) error {
	secret, ok := dp.secrets[mxid.Homeserver()]
	if !ok {
		return fmt.Errorf("double puppet for %s: %w", mxid, ErrNoSecret)
	}
	ctx, hsURL, err := dp.prepare(ctx, mxid, SourceSecret)
	if err != nil {
		return err
	}
	d := &DoublePuppet{MXID: mxid, HomeserverURL: hsURL, Source: SourceSecret}
	if asToken, ok := strings.CutPrefix(secret, asTokenPrefix); ok {
		client, err := dp.masqueradeClient(mxid, asToken, hsURL)
		if err != nil {
			return err
		}
		if err = checkWhoami(ctx, client, mxid); err != nil {
			return fmt.Errorf("appservice double puppeting on %s: %w", mxid.Homeserver(), err)
		}
	} else if d.accessToken, err = dp.sharedSecretLogin(ctx, mxid, secret, hsURL); err != nil {
		return err
	}
	return dp.store(ctx, d)
}

// prepare checks mxid, adds it to the logger and finds its homeserver.
func (dp *DoublePuppets) prepare(ctx context.Context, mxid id.UserID, source Source) (context.Context, string, error) {
	if _, _, err := mxid.ParseAndValidateRelaxed(); err != nil {
		return ctx, "", fmt.Errorf("double puppet: %w", err)
	}
	log := zerolog.Ctx(ctx).With().Stringer("double_puppet", mxid).Str("source", string(source)).Logger()
	ctx = log.WithContext(ctx)
	hsURL, err := dp.homeserverURL(ctx, mxid.Homeserver())
	return ctx, hsURL, err
}

func (dp *DoublePuppets) homeserverURL(ctx context.Context, domain string) (string, error) {
	if domain == dp.ownDomain {
		return dp.hsURL, nil
	}
	dp.mu.Lock()
	u, ok := dp.discovered[domain]
	dp.mu.Unlock()
	if ok {
		return u, nil
	}
	u, err := dp.discover(ctx, domain)
	if err != nil {
		return "", fmt.Errorf("find the homeserver of %s: %w", domain, err)
	}
	dp.mu.Lock()
	dp.discovered[domain] = u
	dp.mu.Unlock()
	zerolog.Ctx(ctx).Debug().Str("homeserver", domain).Str("url", u).Msg("Discovered homeserver for double puppeting")
	return u, nil
}

func (dp *DoublePuppets) masqueradeClient(mxid id.UserID, asToken, hsURL string) (*mautrix.Client, error) {
	client, err := dp.as.NewExternalMautrixClient(mxid, asToken, hsURL)
	if err != nil {
		return nil, fmt.Errorf("double puppet client for %s: %w", mxid, err)
	}
	client.SetAppServiceUserID = true
	return client, nil
}

func (dp *DoublePuppets) sharedSecretLogin(ctx context.Context, mxid id.UserID, secret, hsURL string) (string, error) {
	client, err := dp.as.NewExternalMautrixClient(mxid, "", hsURL)
	if err != nil {
		return "", fmt.Errorf("double puppet client for %s: %w", mxid, err)
	}
	flows, err := client.GetLoginFlows(ctx)
	if err != nil {
		return "", fmt.Errorf("get login flows of %s: %w", mxid.Homeserver(), err)
	}
	mac := hmac.New(sha512.New, []byte(secret))
	mac.Write([]byte(mxid))
	proof := hex.EncodeToString(mac.Sum(nil))
	req := &mautrix.ReqLogin{
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(mxid)},
		InitialDeviceDisplayName: deviceName,
	}
	switch {
	case flows.HasFlow(sharedSecretLoginType):
		req.Type, req.Token = sharedSecretLoginType, proof
	case flows.HasFlow(mautrix.AuthTypePassword):
		req.Type, req.Password = mautrix.AuthTypePassword, proof
	default:
		return "", fmt.Errorf("shared-secret login on %s: the homeserver offers no usable login type", mxid.Homeserver())
	}
	resp, err := client.Login(ctx, req)
	if err != nil {
		return "", fmt.Errorf("shared-secret login for %s: %w", mxid, err)
	}
	if resp.UserID != mxid {
		return "", fmt.Errorf("shared-secret login for %s gave %s: %w", mxid, resp.UserID, ErrTokenMismatch)
	}
	return resp.AccessToken, nil
}

// checkWhoami asks whose token the client holds.
func checkWhoami(ctx context.Context, client *mautrix.Client, mxid id.UserID) error {
	resp, err := client.Whoami(ctx)
	if isAuthError(err) {
		return fmt.Errorf("double puppet for %s: %w (%w)", mxid, ErrInvalidToken, err)
	} else if err != nil {
		return fmt.Errorf("check double puppet token of %s: %w", mxid, err)
	} else if resp.UserID != mxid {
		return fmt.Errorf("double puppet for %s: token of %s: %w", mxid, resp.UserID, ErrTokenMismatch)
	}
	return nil
}

// isAuthError tells whether the homeserver refused the credentials, as
// opposed to failing for another reason.
func isAuthError(err error) bool {
	var httpErr mautrix.HTTPError
	return errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MMissingToken) ||
		errors.Is(err, mautrix.MForbidden) || (errors.As(err, &httpErr) && httpErr.IsStatus(http.StatusUnauthorized))
}

// store saves d, forgets any cached intent and revokes a token the bridge
// had obtained itself and no longer needs.
func (dp *DoublePuppets) store(ctx context.Context, d *DoublePuppet) error {
	old, err := dp.Get(ctx, d.MXID)
	if err != nil {
		return err
	}
	d.CreatedAt = time.Now()
	if err = dp.query.Exec(ctx, upsertDPQuery, d.MXID, d.accessToken, d.HomeserverURL, string(d.Source), d.CreatedAt.UnixMilli()); err != nil {
		return fmt.Errorf("store double puppet of %s: %w", d.MXID, err)
	}
	dp.forget(d.MXID)
	if old != nil && old.accessToken != d.accessToken {
		dp.revoke(ctx, old)
	}
	zerolog.Ctx(ctx).Info().Str("homeserver_url", d.HomeserverURL).Msg("Double puppet stored")
	return nil
}

// revoke logs out a token the bridge obtained by shared-secret login. Tokens
// users gave are left alone: they may be their client's own session.
func (dp *DoublePuppets) revoke(ctx context.Context, d *DoublePuppet) {
	if d.Source != SourceSecret || d.accessToken == "" {
		return
	}
	client, err := dp.as.NewExternalMautrixClient(d.MXID, d.accessToken, d.HomeserverURL)
	if err == nil {
		_, err = client.Logout(ctx)
	}
	if err != nil && !isAuthError(err) {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Could not log out the old double puppet device")
	}
}

func (dp *DoublePuppets) forget(mxid id.UserID) {
	dp.mu.Lock()
	delete(dp.intents, mxid)
	dp.mu.Unlock()
}

// Logout deletes the user's double puppet and logs out the device when the
// bridge had logged it in itself. It is not an error to have none.
func (dp *DoublePuppets) Logout(ctx context.Context, mxid id.UserID) error {
	d, err := dp.Get(ctx, mxid)
	if err != nil || d == nil {
		return err
	}
	if err = dp.query.Exec(ctx, deleteDPQuery, mxid); err != nil {
		return fmt.Errorf("delete double puppet of %s: %w", mxid, err)
	}
	dp.forget(mxid)
	dp.revoke(ctx, d)
	return nil
}

// Intent returns an intent acting as the user through their double puppet,
// or nil and no error when they have none. It makes no request; Validate
// checks the token. Events sent with its SendMessageEvent, SendStateEvent
// and RedactEvent (and joins and leaves) carry the echo marker
// (DoublePuppetKey); mautrix's SendText, SendNotice and the methods of the
// embedded Client do not, so do not use those for bridged events.
func (dp *DoublePuppets) Intent(ctx context.Context, mxid id.UserID) (*mauas.IntentAPI, error) {
	dp.mu.Lock()
	intent := dp.intents[mxid]
	dp.mu.Unlock()
	if intent != nil {
		return intent, nil
	}
	d, err := dp.Get(ctx, mxid)
	if err != nil || d == nil {
		return nil, err
	}
	if intent, err = dp.newIntent(d); err != nil {
		return nil, err
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if cached := dp.intents[mxid]; cached != nil {
		return cached, nil
	}
	dp.intents[mxid] = intent
	return intent, nil
}

func (dp *DoublePuppets) newIntent(d *DoublePuppet) (*mauas.IntentAPI, error) {
	var client *mautrix.Client
	var err error
	hsURL := d.HomeserverURL
	if d.MXID.Homeserver() == dp.ownDomain {
		hsURL = dp.hsURL // follow the config if the bridge's homeserver moved
	}
	if d.masquerades() {
		asToken, ok := strings.CutPrefix(dp.secrets[d.MXID.Homeserver()], asTokenPrefix)
		if !ok {
			return nil, fmt.Errorf("appservice double puppeting for %s is no longer configured: %w", d.MXID, ErrNoSecret)
		}
		client, err = dp.masqueradeClient(d.MXID, asToken, hsURL)
	} else {
		client, err = dp.as.NewExternalMautrixClient(d.MXID, d.accessToken, hsURL)
	}
	if err != nil {
		return nil, fmt.Errorf("double puppet client for %s: %w", d.MXID, err)
	}
	intent := dp.as.NewIntentAPI(placeholderLocalpart)
	intent.Client = client
	intent.Localpart = d.MXID.Localpart()
	intent.UserID = d.MXID
	intent.IsCustomPuppet = true
	if !intent.IsDoublePuppet() {
		// Without the marker the bridge would bridge its own events back.
		return nil, errors.New("double puppets: the appservice has no double-puppet marker value")
	}
	return intent, nil
}

// Validate checks the user's stored token with /whoami. When the homeserver
// refuses it (or it now belongs to someone else) the token is deleted,
// OnDropped is called and the error wraps ErrTokenGone; on other failures
// (network, server errors) the token is kept. ErrNotLoggedIn when there is
// no double puppet.
func (dp *DoublePuppets) Validate(ctx context.Context, mxid id.UserID) error {
	d, err := dp.Get(ctx, mxid)
	if err != nil {
		return err
	} else if d == nil {
		return fmt.Errorf("validate %s: %w", mxid, ErrNotLoggedIn)
	}
	log := zerolog.Ctx(ctx).With().Stringer("double_puppet", mxid).Str("source", string(d.Source)).Logger()
	ctx = log.WithContext(ctx)
	intent, err := dp.newIntent(d)
	if errors.Is(err, ErrNoSecret) {
		return dp.drop(ctx, d, "appservice double puppeting is no longer configured for this homeserver")
	} else if err != nil {
		return err
	}
	resp, err := intent.Whoami(ctx)
	switch {
	case isAuthError(err):
		return dp.drop(ctx, d, "the homeserver no longer accepts the token")
	case err != nil:
		return fmt.Errorf("validate double puppet of %s: %w", mxid, err)
	case resp.UserID != mxid:
		return dp.drop(ctx, d, "the token now belongs to "+resp.UserID.String())
	}
	return nil
}

// drop deletes d if it is still the stored token (a new login may have
// replaced it meanwhile), tells OnDropped, and returns ErrTokenGone.
func (dp *DoublePuppets) drop(ctx context.Context, d *DoublePuppet, reason string) error {
	res, err := dp.query.GetDB().Exec(ctx, deleteDPSameQuery, d.MXID, d.accessToken, string(d.Source))
	if err != nil {
		return fmt.Errorf("drop double puppet of %s: %w", d.MXID, err)
	}
	dp.forget(d.MXID)
	if n, _ := res.RowsAffected(); n > 0 {
		zerolog.Ctx(ctx).Warn().Str("reason", reason).Msg("Double puppet dropped")
		if dp.OnDropped != nil {
			dp.OnDropped(ctx, d.MXID, reason)
		}
	}
	return fmt.Errorf("double puppet of %s: %w: %s", d.MXID, ErrTokenGone, reason)
}

// IsDoublePuppetEcho tells whether evt was sent through a double puppet of
// the appservice appserviceID, so the bridge must not bridge it back.
func IsDoublePuppetEcho(evt *event.Event, appserviceID string) bool {
	if evt == nil || appserviceID == "" {
		return false
	}
	source, ok := evt.Content.Raw[DoublePuppetKey].(string)
	return ok && source == appserviceID
}
