package main

// The networks that ship: one blank import per adapter. Adapters register
// themselves with bridge.RegisterKind in init().
import (
	_ "github.com/isthmus-bridge/isthmus/bridges/gitter"
	_ "github.com/isthmus-bridge/isthmus/bridges/irc"
	_ "github.com/isthmus-bridge/isthmus/bridges/slack"
)
