// Package bridge is the framework every network adapter plugs into: the
// adapter contract (Network, Session and the optional capability
// interfaces), portals, the router and its per-portal queues, ghosts and
// double puppets as seen by adapters, the management-room commands,
// permissions, config and storage.
//
// Adapters import this package; this package never imports an adapter. The
// set of adapters that ship is the list of blank imports in cmd/isthmus.
package bridge
