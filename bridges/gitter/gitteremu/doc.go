// Package gitteremu is an in-process Gitter v1 server for tests: the REST
// API, the HTTP streaming API and the Faye websocket, built from the
// public docs (the gitterHQ/docs repository; each handler cites its page)
// and nothing else. Hosted Gitter no longer serves this API, so this
// emulator is what the adapter is tested against.
//
// Tests create users and rooms, act as other users (Post, Edit, Delete,
// Join, Leave, SetPresence), and inspect what a client did (Messages,
// Requests, Unread). Fault injection covers what the bridge must survive:
// refused tokens (401), rate limiting (429 with X-RateLimit-* headers),
// server errors (FailNext), dropped streams and refused reconnects
// (DropStreams, RefuseStreams), and a Faye server that forgot its clients
// (ForgetFayeClients).
//
// Where the docs are silent the emulator picks the simplest behaviour and
// says so in a comment: for example the streaming API also carries updated
// messages (an edit, or a deletion as text edited to ""), so a client that
// only streams still sees them.
//
// All state sits behind one mutex; notifications are queued to each
// stream or Faye client's own buffered channel, so a slow client never
// blocks the server (a client that falls far behind is disconnected, as
// the streaming docs say Gitter does for "excessive client-side lag").
package gitteremu
