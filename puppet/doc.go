// Package puppet holds the Matrix users the bridge acts as.
//
// Ghosts are appservice users that stand for remote people
// (@irc_libera_alice:example.org). Their Matrix IDs come from per-network
// templates through a reversible escape (Namer), so the reverse mapping can
// answer the homeserver's user queries without a database lookup. Ghosts are
// registered on first use and their profiles are pushed to the homeserver only
// when they changed since the last push (Ghosts, Ghost.UpdateProfile).
//
// Double puppets are Matrix users' own accounts, used so that what a user does
// in a native remote client shows in Matrix as them (DoublePuppets). Their
// access tokens come from per-homeserver secrets (appservice masquerading or
// shared-secret login) or from the user, are checked with /whoami, are stored
// in the database and never logged, and are dropped when they stop working.
// Events sent through a double puppet carry a marker so that their echo is not
// bridged back (IsDoublePuppetEcho).
//
// Tables live in this package's own version table ("puppet_version"); call
// Upgrade once at start-up before using Ghosts or DoublePuppets.
package puppet
