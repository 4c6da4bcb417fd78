package bridge

import (
	"context"
	"encoding/json"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// NetworkInfo describes a configured network. Templates are Matrix
// localparts: GhostTemplate must hold "{id}" once, AliasTemplate "{chat}"
// once; "{network}" is replaced by the network ID in both. The same templates
// produce the registration's namespace regexes, so they cannot drift apart.
type NetworkInfo struct {
	ID            NetworkID
	Kind          string // "irc", "slack", "gitter", ...
	DisplayName   string
	GhostTemplate string // e.g. "irc_{network}_{id}"
	AliasTemplate string // e.g. "irc_{network}_{chat}"; "" = no alias namespace
	Protocol      string // third-party protocol ID for the registration ("irc"); "" = none
	// Relay says whether the network can post for Matrix users who have no
	// session (the adapter then implements RelayHandler).
	Relay bool
}

// Network is one configured remote network. The core calls its methods from
// many goroutines; implementations must be safe for concurrent use.
type Network interface {
	// Info is called often and must not block or do I/O.
	Info() NetworkInfo
	// Start is called once, after the database is migrated and before any
	// session is loaded. It may do I/O (connect a bot, run the adapter's own
	// migrations) and should return once the network is usable; long-lived
	// work belongs in goroutines stopped by Stop.
	Start(ctx context.Context, br *Bridge) error
	// Stop is called once at shutdown, after every session was disconnected.
	Stop(ctx context.Context) error
	// Login is called for "login <network> args..." in a management room. It
	// may block on I/O to check the credentials. On success it returns the
	// login to store (its Metadata holds what LoadSession needs) and a session
	// that the core will Connect. The error is shown to the user, so it must
	// never contain the credentials.
	Login(ctx context.Context, user *User, args []string) (*Login, Session, error)
	// LoadSession is called at start for every stored login and must not do
	// slow I/O: the core calls Connect afterwards.
	LoadSession(ctx context.Context, user *User, login *Login) (Session, error)
}

// Session is one Matrix user's presence on a network (one login).
type Session interface {
	// Connect starts connecting and returns without waiting for the remote
	// side; progress is reported with Bridge.ReportState. It may be called
	// again after Disconnect.
	Connect(ctx context.Context)
	// Disconnect closes the connection; it may block until it is closed.
	Disconnect(ctx context.Context) error
	// State returns the last state reported; it must not block.
	State() SessionState
	// HandleMatrixMessage sends a Matrix message to the remote chat and
	// returns the remote ID of what was sent. It is called from the portal's
	// queue (one at a time per portal) and may block on network I/O.
	// An error wrapping ErrPermanent is reported to the sender at once;
	// other errors are retried with backoff.
	//
	// The same event may be handed over again after a crash or a failed
	// attempt (delivery is at least once up to here): where the network
	// has an idempotency key, pass msg.Event.ID as it; the same holds for
	// every Handle* method below.
	HandleMatrixMessage(ctx context.Context, msg *MatrixMessage) (*MessageResult, error)
}

// The optional capabilities below are found by type assertion on a Session
// (or on a Network where noted). When one is missing, the core answers "not
// supported" in the room instead of dropping the action silently. All are
// called from the portal's queue unless noted and may block on network I/O.

// EditHandler sends Matrix edits (m.replace).
type EditHandler interface {
	Session
	HandleMatrixEdit(ctx context.Context, edit *MatrixEdit) error
}

// RedactionHandler deletes remote messages for Matrix redactions.
type RedactionHandler interface {
	Session
	HandleMatrixRedaction(ctx context.Context, r *MatrixRedaction) error
}

// ReactionHandler sends and removes reactions.
type ReactionHandler interface {
	Session
	HandleMatrixReaction(ctx context.Context, r *MatrixReaction) error
	HandleMatrixReactionRemove(ctx context.Context, r *MatrixReaction) error
}

// TypingHandler sends the user's typing state; called from the ephemeral
// path (not the portal queue), it must not block long.
type TypingHandler interface {
	Session
	HandleMatrixTyping(ctx context.Context, portal *Portal, typing bool) error
}

// PresenceHandler sends the user's Matrix presence (AWAY on IRC, presence on
// Slack); called from the ephemeral path, it must not block long.
type PresenceHandler interface {
	Session
	HandleMatrixPresence(ctx context.Context, presence event.Presence, status string) error
}

// MembershipHandler reacts to Matrix membership in portals: the session's
// own user joining or leaving, and kicks/bans of ghosts by the user.
type MembershipHandler interface {
	Session
	HandleMatrixMembership(ctx context.Context, m *MatrixMembership) error
}

// TopicHandler sends a Matrix topic or name change to the remote chat.
type TopicHandler interface {
	Session
	HandleMatrixTopic(ctx context.Context, portal *Portal, sender *User, topic string) error
}

// ReadReceiptHandler sends the user's Matrix read receipts (from ephemeral
// events) as read markers on the remote side. It must not block long.
type ReadReceiptHandler interface {
	Session
	HandleMatrixReadReceipt(ctx context.Context, portal *Portal, upTo *Message) error
}

// LogoutHandler is told when the user logs out with "logout", before the
// login is deleted, so the adapter can revoke remotely (only when asked) and
// drop its own rows for that login.
type LogoutHandler interface {
	Session
	LogoutRemote(ctx context.Context) error
}

// PowerLevelHandler sends Matrix power level changes (ops, voice) to the
// remote side. changes maps the remote ID of each member whose level
// changed to its new level: ghosts, and Matrix users with a session there
// (by CurrentIdentity, else their login's RemoteID). Returning an error
// wrapping ErrRefused reverts the change in Matrix and tells the user.
// TopicHandler errors wrapping ErrRefused do the same for topics.
type PowerLevelHandler interface {
	Session
	HandleMatrixPowerLevels(ctx context.Context, portal *Portal, sender *User, changes map[RemoteUserID]int) error
}

// Revoker (on a Session) invalidates the login's credentials on the
// remote side, for "logout <network> revoke": without it a logout only
// forgets them, and the user may go on using the token elsewhere.
type Revoker interface {
	Session
	Revoke(ctx context.Context) error
}

// NickChanger (on a Session) changes the user's nick on networks that have
// them (IRC), for the "nick" command. It keeps a stored password.
type NickChanger interface {
	Session
	ChangeNick(ctx context.Context, nick string) error
}

// CurrentIdentity (on a Session) is who its user is on the remote side
// now, when that changes during a session (an IRC nick). Without it the
// login's RemoteID stands for the user.
type CurrentIdentity interface {
	Session
	CurrentRemoteID() RemoteUserID
}

// DMStarter opens a DM with a remote user when a Matrix user invites that
// user's ghost to a new room. It returns the remote chat to bind the room to.
type DMStarter interface {
	Session
	StartDM(ctx context.Context, with RemoteUserID) (ChatID, error)
}

// ChatMember tells which chats a session can reach, so a user with several
// logins on one network (Slack workspaces) is routed to the right one. It
// must not block.
type ChatMember interface {
	Session
	InChat(chat ChatID) bool
}

// ChatResolver (on a Network) creates portals on demand from an alias
// query: chat is the part of the alias matching "{chat}". Returning
// ErrPortalNotFound answers the homeserver "no such room".
type ChatResolver interface {
	Network
	ResolveChat(ctx context.Context, chat string) (ChatID, *ChatInfo, error)
}

// AutoSessioner (on a Network) gives Matrix users a session without a
// "login": on IRC every Matrix user in a bridged room gets their own
// connection. The core calls it the first time a user without a session on
// the network sends in, or joins, one of its portals; it then stores the
// login, calls Connect and routes the event to the new session. It must not
// wait for the connection (Connect does that). A nil session and nil error
// mean "not for this user" (the core relays or refuses as usual); an error
// refuses the event, shown to the user.
type AutoSessioner interface {
	Network
	AutoSession(ctx context.Context, user *User) (*Login, Session, error)
}

// ChatInfoGetter (on a Session) returns the name, topic and members of a
// chat, used when the core creates a portal. It may block on I/O.
type ChatInfoGetter interface {
	Session
	GetChatInfo(ctx context.Context, chat ChatID) (*ChatInfo, error)
}

// RelayHandler (on a Network) posts for a Matrix user without a session,
// through the network's bot, marked with their name.
type RelayHandler interface {
	Network
	HandleRelayMessage(ctx context.Context, msg *MatrixMessage) (*MessageResult, error)
}

// AvatarFetcher (on a Network) downloads an avatar named by Profile.AvatarID
// when the network needs authentication to fetch it. Without it the core
// fetches Profile.AvatarURL with a plain GET.
type AvatarFetcher interface {
	Network
	FetchAvatar(ctx context.Context, avatarID string) (data []byte, mime string, err error)
}

// MediaFetcher (on a Network) downloads message attachments that need the
// network's credentials (Slack's url_private). Without it the core fetches
// Media.URL with a plain GET.
type MediaFetcher interface {
	Network
	FetchMedia(ctx context.Context, media *Media) (data []byte, mime string, err error)
}

// User is a Matrix user the bridge knows.
type User struct {
	MXID           id.UserID
	ManagementRoom id.RoomID
	Permission     Permission
}

// Login is a stored session of one Matrix user on one network.
type Login struct {
	User       id.UserID       `json:"user"`
	Network    NetworkID       `json:"network"`
	ID         LoginID         `json:"id"`
	RemoteID   RemoteUserID    `json:"remote_id"`   // who the user is remotely
	RemoteName string          `json:"remote_name"` // shown in "status"
	Metadata   json.RawMessage `json:"metadata"`    // adapter-owned; may hold secrets: never logged
}

// SessionStateKind is the coarse state of a session.
type SessionStateKind string

const (
	StateConnecting    SessionStateKind = "connecting"
	StateConnected     SessionStateKind = "connected"
	StateDisconnected  SessionStateKind = "disconnected"    // transient: will reconnect
	StateBadCredential SessionStateKind = "bad_credentials" // needs a new login
	StateLoggedOut     SessionStateKind = "logged_out"
)

// SessionState is what "status" shows and what the metrics count.
type SessionState struct {
	Kind    SessionStateKind
	Message string // human-readable detail, never a secret
	Since   time.Time
}

// MessageResult is what the remote side made of a Matrix message.
type MessageResult struct {
	ID        MessageID
	Timestamp time.Time // zero = now
}

// MatrixMessage is a Matrix message for the remote side.
type MatrixMessage struct {
	Portal  *Portal
	Sender  *User
	Event   *event.Event
	Content *event.MessageEventContent
	// ReplyTo is the message this one replies to, when it is bridged.
	ReplyTo *Message
	// ThreadRoot is the root of the Matrix thread this message is in.
	ThreadRoot *Message
	// SenderName is set when relaying: the name to post under.
	SenderName string
}

// MatrixEdit is a Matrix m.replace of a bridged message.
type MatrixEdit struct {
	MatrixMessage
	Target *Message
}

// MatrixRedaction deletes a bridged message or reaction.
type MatrixRedaction struct {
	Portal *Portal
	Sender *User
	Event  *event.Event
	Target *Message // the message, or the reaction's record
}

// MatrixReaction is an m.reaction on a bridged message.
type MatrixReaction struct {
	Portal *Portal
	Sender *User
	Event  *event.Event
	Target *Message
	Key    string
}

// MatrixMembership is a membership change in a portal that concerns the
// session: its own user, or a ghost the user acts on.
type MatrixMembership struct {
	Portal *Portal
	Sender *User
	Event  *event.Event
	// Target is the affected ghost's remote ID, "" when the target is the
	// session's own Matrix user.
	Target     RemoteUserID
	Membership event.Membership
	Previous   event.Membership
	Reason     string
}
