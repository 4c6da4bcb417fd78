// Package gitter is the Gitter adapter: it puppets Matrix users who log in
// with their own Gitter token ("login gitter <token>") through the Gitter
// v1 REST, streaming and Faye APIs (package gitterapi), so self-hosted
// Gitter servers and compatible services can be bridged.
//
// Every room a user is in becomes a portal (one-to-one rooms become DM
// portals of that user); messages, edits, deletions, membership, topics and
// presence go both ways where Gitter has a way to express them. Each
// session keeps one stream per room and one Faye connection, reconnecting
// with backoff; after any gap it catches up with afterId from the last
// message it handed to the core, a position kept in the adapter's own
// tables (gitter_version, written in batches and on disconnect; what a
// crash repeats, the core's message map drops), so a restart misses
// nothing either.
//
// Matrix users can open one-to-one rooms by inviting a ghost (DMStarter),
// read markers go both ways (Matrix receipts mark unread items; a room
// with none left on Gitter moves the user's receipt through their double
// puppet), and "logout" forgets the login's positions.
//
// A network may have a relay bot (relay: {token}): a Gitter account that
// posts for Matrix users without a login as "**Name**: text", in group
// rooms the account is in (Network.HandleRelayMessage, relay.go). Its own
// messages, edits, presence and membership are recognised by its user ID
// when they come back through users' streams and Faye: it gets no ghost.
// Its identity is learnt in the background from Start, stopped by Stop.
//
// Concurrency: a Session's goroutines (one per room stream, one for Faye,
// one writing positions, one supervisor) are owned by the session and
// stopped by Disconnect. They
// hand events to the core with QueueRemoteEvent, which journals them and
// may block when the core is backlogged: that slows the stream, it never
// drops. Room state is guarded by Session.mu; no lock is held across I/O.
//
// Tokens live in the login's metadata, the relay config (a secret type
// that prints as [secret]) and gitterapi clients only; they
// are never logged and never put in errors (see TestTokensNeverLogged).
package gitter
