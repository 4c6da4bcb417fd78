//go:build loopback

package main

// Test builds (go build -tags loopback) include the loopback network, which
// the crash test drives in a separate process.
import _ "github.com/isthmus-bridge/isthmus/internal/loopback"
