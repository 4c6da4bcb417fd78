// Package slackemu is a Slack workspace in a test process: the Web API
// methods the Slack adapter calls and the RTM websocket, served by an
// httptest server.
//
// Slack cannot be reached from where the bridge is built and tested, so
// the adapter is tested against this emulator instead. It follows Slack's
// public API documentation field for field: every method handler names the
// page it follows (https://api.slack.com/methods/NAME), every pushed event
// the event page it follows (https://api.slack.com/events/NAME). Where the
// docs leave a choice open (ts allocation, cursor encoding) the emulator
// picks something simple and says so.
//
// Things Slack does that the adapter must cope with are reproduced on
// purpose:
//   - errors are HTTP 200 with {"ok":false,"error":"..."}, never HTTP 4xx,
//     except rate limits (HTTP 429 with Retry-After, see RateLimit);
//   - a call's events may reach the RTM connection before the call's
//     answer reaches the caller (Hold keeps an answer back to show it);
//   - the token may come as "Authorization: Bearer" or as a "token" form
//     parameter; browser-session tokens (xoxc-) are only valid together with
//     the "d" cookie they were issued with;
//   - what a user posts through the Web API comes back to that user's own
//     RTM connections (the bridge must recognise its own echoes);
//   - events that happen while no RTM connection is open are not replayed
//     on the next connection: clients catch up with conversations.history.
//
// One Server is one workspace. Slack serves every workspace at one API URL
// and the token decides the workspace; a Front does the same for several
// Servers, so that one bridge (one api_url) can be tested with a user in
// several workspaces.
//
// The test side of the workspace (users, conversations, tokens, events
// done "in the Slack app" by other people, inspection of what the bridge
// posted) is the exported API of Server. All of it is safe for concurrent
// use; one mutex guards the state, and each RTM connection has its own
// ordered outbound queue so events reach a client in the order they
// happened.
package slackemu
