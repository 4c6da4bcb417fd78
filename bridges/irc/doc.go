// Package irc bridges IRC networks: every Matrix user in a bridged room gets
// an IRC connection of their own (a puppet), and every IRC user a ghost.
//
// Who owns what:
//
//   - One Network per configured IRC network. It owns the connect pacer
//     (pacer.go), the bot connection (bot.go) and the table of puppets,
//     keyed by Matrix user ID.
//   - The bot is the only connection whose view of channels becomes Matrix
//     events: it holds every bridged channel, so a message said in a
//     channel is bridged once, not once per puppet that heard it. Puppets
//     turn only what is addressed to them (private messages, kicks, kills,
//     errors) into events.
//   - Every connection (conn.go) has one reader goroutine, which runs the
//     owner's handler for each line in order. Sending happens on the
//     caller's goroutine, waiting for the connection's token bucket, so a
//     user who pastes a lot slows their own portal queue down instead of
//     getting their connection killed for excess flood.
//   - Channel state the bot learns (members, modes, topic) lives in
//     membership.go behind one lock per channel. Events for a channel are
//     queued to the core while that lock is held, so the order Matrix sees
//     is the order the bot saw.
//
// Nobody has to log in: the network is an AutoSessioner, so the first
// time a Matrix user speaks in or joins a portal the core gets a session
// for them, and that session is their puppet. "login <network> [nick
// [password]]" only picks a nick and a password, which the puppet gives
// with SASL PLAIN (the nick as the account), else to NickServ. A password
// SASL refuses is told once in the user's management room and not tried
// on NickServ; a refused bot login (sasl in the config) is logged. "nick
// <network> <nick>" changes the nick alone, keeping the password. The bot
// relays ("<name> text") only for users past limits.max_puppets.
//
// An idle puppet is one goroutine (its reader, blocked in the netpoller),
// a 512-byte read buffer and small structs: dialling runs on a goroutine of
// its own so the reader's stack stays small, puppets share one ISUPPORT,
// and their database and homeserver work (PMs, notices) runs on the
// network's worker goroutine, not on the reader.
//
// Channel modes and ranks shape the room (roommodes.go, membership.go).
// Op (and owner, admin) is power level 50, halfop 25, voice 10; +i and +k
// make the join rule invite, +s and +p keep the room out of the
// directory, +m raises events_default to voice. The other way, a Matrix
// user's level changes of ghosts become MODE +o/-o, +h/-h (where PREFIX
// has halfop; elsewhere the halfop level is voice) and +v/-v and a topic
// change TOPIC, sent by their puppet, and a kick or ban of a ghost KICK
// and MODE +b. Level and topic changes by a puppet that is not a channel
// operator (for voice alone, and for the topic of a +t channel, at least
// a halfop) are refused before anything is sent, with bridge.ErrRefused, and the core puts the
// Matrix state back and tells the user why. So are kicks and bans by a
// puppet below halfop, by a halfop of a halfop or op, and of someone
// ranked above the puppet in PREFIX (mayRemove); the core then brings the
// ghost back. A kick is fenced like a message, so a refusal the bot's
// view of ranks did not foresee (482, or ngIRCd's 484) undoes it too;
// other 482s are told in the management room.
// Only ghosts' levels are sent: the core hands over no level changes of
// Matrix users, and puppets' own IRC ranks are not shown as Matrix levels.
//
// A message the server refuses (404 in a +m channel, 401 for a nick that
// is gone) fails in its room. After the last line of each message the
// puppet sends a PING and waits for its PONG (Conn.fence): the server
// handles a client's lines in order, so any refusal has been read by
// then, and HandleMatrixMessage returns it as a permanent error, which
// the core shows as "Your message was not delivered". The price is one
// line of the token bucket and one round trip per message.
//
// Ghost presence follows IRC away (away.go): one WHO when the bot joins a
// channel finds who is away already, then away-notify where the server
// has it, else the bot polling WHO of its channels every
// membership.away_poll, spread over the interval and at most half the
// bot's line rate; the away message is asked with WHOIS when there is
// room in the bucket. Only changes reach Matrix.
//
// The "identified" PM policy reads the sender's account from account-tag;
// a connection without it takes the account the bot follows, from
// extended-join and account-notify, of those it shares a channel with,
// and else asks WHOIS and keeps the answer a minute (accounts.go). A
// refused sender is told why once an hour (refusals.go).
//
// A netsplit's QUITs are not a leave each but one reconcile per channel
// once the burst has been quiet for membership.netsplit_delay, and so are
// the JOINs of a netjoin BATCH (membership.go). A split is known by the
// netsplit BATCH of servers with batch, and elsewhere by its
// "server1 server2" QUIT reason.
//
// A DM follows its IRC partner across nick changes: the puppet that holds
// it and sees the NICK moves the portal to the new nick
// (bridge.RemoteChatMove), so the new nick's ghost joins the room, the old
// one leaves, replies go to the new nick and its PMs land in the same
// room. Servers tell a NICK only to those sharing a channel with the
// person (and to none while the puppet is disconnected), so a partner
// who is in no channel with the puppet starts a new DM under the new nick.
//
// IRC has no message IDs. Messages get IDs made by the bridge, unique per
// portal; a remote echo of what a puppet said is recognised by the
// puppet's nick rather than by ID.
package irc
