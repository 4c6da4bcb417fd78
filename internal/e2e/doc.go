// Package e2e holds the end-to-end tests of the core: a real Dendrite
// homeserver, the bridge, and the loopback test network, with Matrix users
// and remote users talking to each other through all of it.
package e2e
