package bridge

import (
	"maunium.net/go/mautrix/id"
)

// Permission is what a Matrix user may do with the bridge, in rising order.
type Permission int

const (
	PermNone  Permission = iota
	PermRelay            // may talk in portals; the bot relays for them
	PermUser             // may log in and puppet
	PermAdmin            // may link rooms and manage the bridge
)

var permNames = []string{"none", "relay", "user", "admin"}

func (p Permission) String() string {
	if int(p) < len(permNames) {
		return permNames[p]
	}
	return "unknown"
}

func (p *Permission) UnmarshalYAML(unmarshal func(any) error) error {
	var name string
	if err := decodeEnum(unmarshal, &name, "none", "relay", "user", "admin"); err != nil {
		return err
	}
	for i, n := range permNames {
		if n == name {
			*p = Permission(i)
		}
	}
	return nil
}

func (p Permission) MarshalYAML() (any, error) { return p.String(), nil }

// Permissions maps "*", a server name or a full user ID to a level.
type Permissions map[string]Permission

// For returns a user's level: their own entry, else their server's, else "*".
func (ps Permissions) For(user id.UserID) Permission {
	if p, ok := ps[string(user)]; ok {
		return p
	}
	if p, ok := ps[user.Homeserver()]; ok {
		return p
	}
	return ps["*"]
}
