package irc

import (
	"context"
	"sync"
	"time"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// The "identified" PM policy needs to know whether a sender is logged in
// to an account. A connection with account-tag is told on every message.
// Without it, the bot may know: with extended-join and account-notify it
// follows the account of everyone it shares a channel with (member in
// membership.go). Otherwise (ngIRCd, older ircds) the puppet that got the
// PM asks WHOIS, and RPL_WHOISACCOUNT (330) or RPL_WHOISREGNICK (307) before
// RPL_ENDOFWHOIS (318) means yes. Answers are kept for accountTTL, so a
// chatty sender costs one WHOIS a while, and PMs that arrive while a
// WHOIS is out wait for it, in order. A WHOIS waits in the puppet's line
// budget ahead of the user's own lines, so PM spam from many nicks may
// start only maxLookupsPerPuppet of them at a time; senders beyond that
// count as not identified.

const (
	// accountTTL is how long a WHOIS answer stands.
	accountTTL = time.Minute
	// accountTimeout is how long a WHOIS may go unanswered; the sender
	// then counts as not identified.
	accountTimeout = 30 * time.Second
	// maxAccountAnswers bounds the cache; a full one is forgotten.
	maxAccountAnswers = 10000
	// maxLookupsPerPuppet bounds the WHOISes out on one connection.
	maxLookupsPerPuppet = 4
)

// accountLookups is the network's WHOIS cache and the WHOISes out.
type accountLookups struct {
	mu      sync.Mutex
	known   map[string]accountAnswer  // by nick!user@host, folded
	pending map[string]*accountLookup // by folded nick, while WHOIS is out
	out     map[*Conn]int             // WHOISes out by the connection asking
}

type accountAnswer struct {
	identified bool
	at         time.Time
}

type accountLookup struct {
	key        string
	identified bool // a 330 or 307 came
	then       []func(identified bool)
	timer      *time.Timer
	conn       *Conn
	// aliases are the sender's later nicks (afterLookup), whose PMs wait
	// for this lookup too.
	aliases []string
	// cancel stops a WHOIS still waiting for the line budget, so a lookup
	// that timed out sends nothing.
	cancel context.CancelFunc
}

// accountKey tells senders apart by their whole prefix, so that a nick
// taken over by someone else is asked about again.
func (n *Network) accountKey(src ircproto.Prefix) string {
	return n.fold(src.Name) + "!" + userHost(src)
}

// checkIdentified calls then with whether src is identified,
// asking the server with WHOIS on c when the answer is not known. then
// runs on the network's worker. Call from the worker.
func (n *Network) checkIdentified(c *Conn, src ircproto.Prefix, then func(identified bool)) {
	key, nick := n.accountKey(src), n.fold(src.Name)
	account, tracked := n.bot.knownAccount(src)
	a := &n.accounts
	a.mu.Lock()
	// PMs that came while a WHOIS is out wait for it, so that the sender's
	// PMs stay in order even when the bot learns the answer meanwhile.
	if l, ok := a.pending[nick]; ok {
		l.then = append(l.then, then)
		a.mu.Unlock()
		return
	}
	if tracked {
		a.mu.Unlock()
		then(account != "")
		return
	}
	if ans, ok := a.known[key]; ok && time.Since(ans.at) < accountTTL {
		a.mu.Unlock()
		then(ans.identified)
		return
	}
	if a.out[c] >= maxLookupsPerPuppet {
		a.mu.Unlock()
		then(false)
		return
	}
	if a.pending == nil {
		a.pending, a.out = map[string]*accountLookup{}, map[*Conn]int{}
	}
	ctx, cancel := context.WithCancel(n.ctx)
	l := &accountLookup{key: key, then: []func(bool){then}, conn: c, cancel: cancel}
	l.timer = time.AfterFunc(accountTimeout, func() { n.endOne(nick, l) })
	a.pending[nick] = l
	a.out[c]++
	a.mu.Unlock()
	// Sending waits for the puppet's token bucket; the worker must not.
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := c.Send(ctx, ircproto.NewMessage("WHOIS", src.Name)); err != nil {
			n.endOne(nick, l)
		}
	}()
}

// onWhoisReply takes the lines of a WHOIS reply that matter to a lookup:
// 330 and 307 say the nick is identified, 318 ends the reply. Lines for
// nicks nobody asked about are ignored. Reader goroutine.
func (n *Network) onWhoisReply(m *ircproto.Message) {
	nick := n.fold(m.Params[1])
	if m.Command == ircproto.RPL_ENDOFWHOIS {
		n.endLookup(nick)
		return
	}
	a := &n.accounts
	a.mu.Lock()
	if l, ok := a.pending[nick]; ok {
		l.identified = true
	}
	a.mu.Unlock()
}

// endLookup ends the lookup for nick: its answer is kept and handed to
// those waiting, both on the worker and in one step, so that a PM that
// comes after the answer but is handled before it still queues behind
// the PMs that waited, and a sender's PMs go on in the order they came.
func (n *Network) endLookup(nick string) {
	a := &n.accounts
	a.mu.Lock()
	l, ok := a.pending[nick]
	a.mu.Unlock()
	if ok {
		n.endOne(nick, l)
	}
}

// endOne ends lookup l for nick, unless it ended already.
func (n *Network) endOne(nick string, l *accountLookup) {
	a := &n.accounts
	l.timer.Stop()
	l.cancel()
	n.later(func() {
		a.mu.Lock()
		if a.pending[nick] != l {
			// Ended already (by its 318 and its timeout both).
			a.mu.Unlock()
			return
		}
		delete(a.pending, nick)
		for _, alias := range l.aliases {
			if a.pending[alias] == l {
				delete(a.pending, alias)
			}
		}
		if a.out[l.conn]--; a.out[l.conn] <= 0 {
			delete(a.out, l.conn)
		}
		if a.known == nil || len(a.known) >= maxAccountAnswers {
			a.known = map[string]accountAnswer{}
		}
		identified := l.identified
		a.known[l.key] = accountAnswer{identified: identified, at: time.Now()}
		a.mu.Unlock()
		for _, f := range l.then {
			f(identified)
		}
	})
}

// afterLookup puts f behind the PMs from old waiting for a WHOIS, and
// makes PMs from nick, old's new nick, wait behind it too, the sender
// being the same: a DM that follows the nick change (dmPartnerRenamed)
// then moves after the PMs sent under the old nick and before those sent
// under the new one, where it would otherwise overtake the first and
// leave them a room of their own. It reports false when no WHOIS is out
// for old, and f is the caller's to run. Worker goroutine.
func (n *Network) afterLookup(old, nick string, f func()) bool {
	old, nick = n.fold(old), n.fold(nick)
	a := &n.accounts
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.pending[old]
	if !ok {
		return false
	}
	l.then = append(l.then, func(bool) { f() })
	if _, busy := a.pending[nick]; !busy {
		a.pending[nick] = l
		l.aliases = append(l.aliases, nick)
	}
	return true
}

// knownAccount returns the account of src as the bot follows it ("" for
// none), and whether the bot follows it: it shares a channel with src's
// nick at src's user@host and learned their account from extended-join or
// account-notify.
func (b *bot) knownAccount(src ircproto.Prefix) (account string, known bool) {
	nick, uh := b.net.fold(src.Name), userHost(src)
	for _, ch := range b.channelsWith(nick) {
		ch.mu.Lock()
		m, ok := ch.members[nick]
		if ok && m.accountKnown && m.userHost == uh {
			account, known = m.account, true
		}
		ch.mu.Unlock()
		if known {
			return account, true
		}
	}
	return "", false
}
