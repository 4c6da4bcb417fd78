// Package slack is the Slack adapter: Matrix users log in with their own
// Slack credentials (a user token, or a browser session token with its "d"
// cookie) and the bridge acts as them on Slack, in both directions.
//
// Each login is one Session holding an RTM websocket through slack-go. The
// session turns RTM events into bridge.RemoteEvents (handle_slack.go) and
// Matrix actions into Web API calls (handle_matrix.go); the user's read
// markers and archived channels are in handle_state.go. What it saw last in
// each conversation is stored (store.go), so that after a dropped socket or
// a restart it catches up with conversations.history, and with
// conversations.replies for the threads that moved, instead of losing
// what was said meanwhile (sync.go). Messages are decoded leniently (decode.go): a
// block slack-go does not know costs the blocks, never the message.
//
// IDs: a Slack conversation or user ID is unique within its workspace, and
// one Matrix user may log into several workspaces, so the bridge-facing IDs
// are "TEAM-ID" (ChatID "T0123-C0456", RemoteUserID "T0123-U0789") and a
// login's LoginID is the team ID. DMs and group DMs are portals per
// receiver; channels are shared by every logged-in user of the workspace.
//
// App mode (app.go, optional): a Slack app's bot, over Socket Mode, is one
// more Session without a Matrix user. It bridges the channels it is in
// whether or not anyone logged in is there, and the core relays through
// it (bridge.RelayHandler) for Matrix users without a login.
//
// Concurrency: the Network owns the map of logged-in Slack users (for
// double-puppet attribution and pills), the logins by user and workspace,
// and the set of echoes in flight (every login in a channel sees an echo)
// under its mutex. Files uploaded from Matrix wait for their sharing
// message in the database (media.go), so a restart does not lose them;
// an UPDATE decides which message shares one, and every login that sees
// that message maps it (idempotently). Each Session owns
// one goroutine that reads RTM events and queues remote events in order.
// What it starts besides (a scheduled presence_sub, an im_created waiting
// for a conversations.open of StartDM, the app's Socket Mode
// acknowledger) is counted by the session and waited for when the loop
// ends, so nothing of a session runs or logs after Disconnect; such work
// hands remote events back to the loop to queue (Session.handBack).
// Matrix actions come from the core's portal queues and only use the
// session's slack-go client, which is safe for concurrent use. The one
// lock they share with the RTM goroutine is the session's openedDMs, a
// leaf lock never held across a call to Slack: StartDM records its
// conversations.open there before and after the call, and an im_created
// read meanwhile waits for the answer off the loop (onIMCreated), so a
// DM opened from Matrix is known as such without holding up the login's
// other events.
//
// Secrets: tokens and cookies live in the login metadata and in the HTTP
// client that sends them; they are never logged, never put in an error and
// never in a URL.
package slack
