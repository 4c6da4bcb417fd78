// Package gitterapi is a client for the Gitter v1 API as documented in the
// gitterHQ/docs repository: the REST API (users, rooms, members, chat
// messages, unread items), the HTTP streaming API (newline/carriage-return
// separated JSON objects with blank keep-alives) and the Faye (Bayeux)
// realtime endpoint over a websocket.
//
// It is a leaf package: it knows nothing of Matrix or of the bridge core.
// Base URLs are configurable so the same client talks to a self-hosted
// Gitter, a compatible server or the emulator in ../gitteremu.
//
// Secrets: the access token is sent only in the Authorization header (REST,
// streaming) and in the Faye handshake's ext.token. It is never put in a
// URL, an error or a String() result, so errors from this package are safe
// to log and to show to users.
//
// Concurrency: a Client is safe for concurrent use; its rate limiter is
// shared by every call made with it. A Faye connection has one reader (the
// goroutine running Run) and serialises its writes internally.
package gitterapi
