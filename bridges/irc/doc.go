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
// [password]]" only picks a nick and a NickServ/SASL password. The bot
// relays ("<name> text") only for users past limits.max_puppets.
//
// An idle puppet is one goroutine (its reader, blocked in the netpoller),
// a 512-byte read buffer and small structs: dialling runs on a goroutine of
// its own so the reader's stack stays small, puppets share one ISUPPORT,
// and their database and homeserver work (PMs, notices) runs on the
// network's worker goroutine, not on the reader.
//
// IRC has no message IDs. Messages get IDs made by the bridge, unique per
// portal; a remote echo of what a puppet said is recognised by the
// puppet's nick rather than by ID.
package irc
