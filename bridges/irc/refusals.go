package irc

import (
	"time"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

const (
	// refusalWindow is how long a sender told why their PM was refused
	// is not told again: the hour invites_per_hour counts in.
	refusalWindow = time.Hour
	// maxRefusals bounds the senders remembered; past it, expired ones
	// are dropped, and if none are, all are forgotten rather than grown.
	maxRefusals = 10000
)

// senderKey tells PM senders apart by user@host, which a spammer changes
// less easily than a nick.
func senderKey(n *Network, src ircproto.Prefix) string {
	if src.Host == "" {
		return n.fold(src.Name)
	}
	return userHost(src)
}

// firstRefusal reports whether key (a sender and a reason) was not told
// within refusalWindow of now, and if so counts it as told now.
func (n *Network) firstRefusal(key string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if at, ok := n.refused[key]; ok && now.Sub(at) < refusalWindow {
		return false
	}
	if len(n.refused) >= maxRefusals {
		for k, at := range n.refused {
			if now.Sub(at) >= refusalWindow {
				delete(n.refused, k)
			}
		}
		if len(n.refused) >= maxRefusals {
			n.refused = nil
		}
	}
	if n.refused == nil {
		n.refused = map[string]time.Time{}
	}
	n.refused[key] = now
	return true
}

// unrefuse takes back firstRefusal's count of key as told at now, when
// the telling could not be sent: the sender's next refused PM tells them.
func (n *Network) unrefuse(key string, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if at, ok := n.refused[key]; ok && at.Equal(now) {
		delete(n.refused, key)
	}
}
