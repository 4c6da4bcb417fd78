package bridge

// Typed IDs keep remote identifiers from crossing package lines as bare
// strings that could be confused with one another or with Matrix IDs.
type (
	// NetworkID names one configured network instance, e.g. "libera" or "slack".
	NetworkID string
	// ChatID is a conversation on a network, as the adapter names it.
	ChatID string
	// RemoteUserID is a person on a network, as the adapter names them.
	RemoteUserID string
	// MessageID is a message on a network, unique within its chat.
	MessageID string
	// LoginID tells apart several logins of one Matrix user on one network
	// (e.g. Slack workspaces); adapters with one login per user use "".
	LoginID string
)

// PortalKey identifies a portal: a chat on a network and, for DMs, the
// Matrix user the portal belongs to.
type PortalKey struct {
	Network  NetworkID `json:"network"`
	Chat     ChatID    `json:"chat"`
	Receiver string    `json:"receiver,omitempty"` // Matrix user ID for DM portals, else ""
}

func (k PortalKey) String() string {
	s := string(k.Network) + "/" + string(k.Chat)
	if k.Receiver != "" {
		s += "/" + k.Receiver
	}
	return s
}
