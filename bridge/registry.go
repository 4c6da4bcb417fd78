package bridge

import (
	"fmt"
	"sort"
	"sync"

	"gopkg.in/yaml.v2"
)

// NetworkKind builds the networks of one kind from their config section.
// Kinds register themselves in init() with RegisterKind; the shipped set is
// the blank imports in cmd/isthmus.
type NetworkKind interface {
	// Kind is the key of its section under "networks:" ("irc").
	Kind() string
	// NewNetworks decodes the section (use DecodeSection for strictness)
	// and returns the configured networks. It must not do I/O: that
	// belongs in Network.Start.
	NewNetworks(section []byte, common CommonConfig) ([]Network, error)
	// ExampleConfig is the commented section "isthmus init" writes.
	ExampleConfig() string
}

// CommonConfig is what every adapter may need from the main config.
type CommonConfig struct {
	Domain string
}

var (
	kindsMu sync.Mutex
	kinds   = map[string]NetworkKind{}
)

// RegisterKind makes a network kind available. It panics on an empty or
// duplicate kind: both are programming errors found at start.
func RegisterKind(k NetworkKind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	name := k.Kind()
	if name == "" {
		panic("bridge: RegisterKind with empty kind")
	}
	if _, dup := kinds[name]; dup {
		panic(fmt.Sprintf("bridge: network kind %q registered twice", name))
	}
	kinds[name] = k
}

// Kinds returns the registered kinds sorted by name.
func Kinds() []NetworkKind {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	out := make([]NetworkKind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind() < out[j].Kind() })
	return out
}

// DecodeSection strictly decodes a network section; unknown keys fail with
// the section's key path.
func DecodeSection(section []byte, kind string, out any) error {
	if err := yaml.UnmarshalStrict(section, out); err != nil {
		return fmt.Errorf("networks.%s: %w", kind, err)
	}
	return nil
}

// BuildNetworks decodes every section of cfg.Networks with its kind. A
// section for an unknown kind is an error.
func BuildNetworks(cfg *Config) ([]Network, error) {
	var out []Network
	seen := map[NetworkID]bool{}
	names := make([]string, 0, len(cfg.Networks))
	for name := range cfg.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		kindsMu.Lock()
		k, ok := kinds[name]
		kindsMu.Unlock()
		if !ok {
			return nil, fmt.Errorf("networks.%s: %w (this build has: %s)", name, ErrUnknownNetwork, kindNames())
		}
		section, err := yaml.Marshal(cfg.Networks[name])
		if err != nil {
			return nil, fmt.Errorf("networks.%s: %w", name, err)
		}
		nets, err := k.NewNetworks(section, CommonConfig{Domain: cfg.Homeserver.Domain})
		if err != nil {
			return nil, err
		}
		for _, n := range nets {
			nid := n.Info().ID
			if seen[nid] {
				return nil, fmt.Errorf("networks.%s: network name %q used twice", name, nid)
			}
			seen[nid] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func kindNames() string {
	var s string
	for i, k := range Kinds() {
		if i > 0 {
			s += ", "
		}
		s += k.Kind()
	}
	if s == "" {
		s = "none"
	}
	return s
}
