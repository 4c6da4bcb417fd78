package gitter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
)

func init() { bridge.RegisterKind(kind{}) }

// Config is one entry of the networks.gitter list.
type Config struct {
	Name      string `yaml:"name"`
	APIURL    string `yaml:"api_url"`
	StreamURL string `yaml:"stream_url"`
	FayeURL   string `yaml:"faye_url"`
	// Backfill is how many recent messages a room brings into its new
	// portal, with their original timestamps; 0 means the default (20),
	// -1 none.
	Backfill int `yaml:"backfill"`
	// MaxMemberSync is the largest room whose member list is mirrored as
	// ghosts (each page costs a call against a 100-a-minute budget);
	// bigger rooms only get ghosts for people who speak. Default 300.
	MaxMemberSync int `yaml:"max_member_sync"`
	// Relay, when set, is a Gitter bot account that posts for Matrix
	// users without a login, under their name. It posts only in rooms
	// the bot account is in.
	Relay *RelayConfig `yaml:"relay"`
	// AliasTemplate is the localpart of portal aliases; {chat} is the room
	// URI. The default carries the network name so several servers cannot
	// collide; a single-server bridge may set "gitter_{chat}" to give rooms
	// the plain #gitter_{uri} aliases users know.
	AliasTemplate string `yaml:"alias_template"`
}

// RelayConfig is the relay bot account of a network.
type RelayConfig struct {
	// Token is the bot account's Gitter token (a personal access token of
	// that account).
	Token secret `yaml:"token"`
}

// secret is a credential from the config: its String form hides it, so a
// config printed by accident prints no token.
type secret string

func (secret) String() string   { return "[secret]" }
func (secret) GoString() string { return "[secret]" }

// The public Gitter endpoints, as DESIGN.md's config example has them.
const (
	defaultAPIURL    = "https://api.gitter.im/"
	defaultStreamURL = "https://stream.gitter.im/"
	defaultFayeURL   = "wss://ws.gitter.im/faye"
)

var networkName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func (c *Config) setDefaults() {
	if c.APIURL == "" {
		c.APIURL = defaultAPIURL
	}
	if c.StreamURL == "" {
		c.StreamURL = defaultStreamURL
	}
	if c.FayeURL == "" {
		c.FayeURL = defaultFayeURL
	}
	if c.Backfill == 0 {
		c.Backfill = 20
	}
	if c.MaxMemberSync == 0 {
		c.MaxMemberSync = 300
	}
}

// validate collects every problem of entry i with its key path.
func (c *Config) validate(i int) []error {
	path := fmt.Sprintf("networks.gitter[%d]", i)
	var errs []error
	if !networkName.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("%s.name: %q must be lowercase letters, digits and '-'", path, c.Name))
	}
	// The client checks the URLs the same way it will use them.
	if _, err := gitterapi.New(c.clientOptions(), "check"); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	if c.Backfill < -1 || c.Backfill > gitterapi.MaxMessageLimit {
		errs = append(errs, fmt.Errorf("%s.backfill: %d is not between -1 and %d", path, c.Backfill, gitterapi.MaxMessageLimit))
	}
	if c.Relay != nil {
		// The token is never part of the message.
		if tok := string(c.Relay.Token); tok == "" {
			errs = append(errs, fmt.Errorf("%s.relay.token: the relay bot's Gitter token is required", path))
		} else if strings.ContainsAny(tok, " \t\r\n") {
			errs = append(errs, fmt.Errorf("%s.relay.token: contains whitespace", path))
		}
	}
	return errs
}

func (c *Config) clientOptions() gitterapi.Options {
	return gitterapi.Options{APIURL: c.APIURL, StreamURL: c.StreamURL, FayeURL: c.FayeURL}
}

// kind builds Gitter networks from the networks.gitter section.
type kind struct{}

func (kind) Kind() string { return "gitter" }

// NewNetworks decodes the list strictly and checks all entries at once.
func (kind) NewNetworks(section []byte, _ bridge.CommonConfig) ([]bridge.Network, error) {
	var cfgs []Config
	if err := bridge.DecodeSection(section, "gitter", &cfgs); err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	nets := make([]bridge.Network, 0, len(cfgs))
	for i := range cfgs {
		c := cfgs[i]
		c.setDefaults()
		errs = append(errs, c.validate(i)...)
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("networks.gitter[%d].name: %q is used twice", i, c.Name))
		}
		seen[c.Name] = true
		nets = append(nets, newNetwork(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return nets, nil
}

func (kind) ExampleConfig() string {
	return strings.TrimLeft(`
# Gitter servers speaking the Gitter v1 API (self-hosted Gitter or
# compatible). Users log in with "login gitter <personal access token>", or
# "login gitter:<name> <token>" when there are several.
- name: gitter                       # network name: used in ghost IDs and aliases
  api_url: "https://api.gitter.im/"
  stream_url: "https://stream.gitter.im/"
  faye_url: "wss://ws.gitter.im/faye"
  backfill: 20                       # recent messages brought into a new portal; -1 for none
  max_member_sync: 300               # larger rooms only get ghosts for people who speak
  # alias_template: "gitter_{chat}"  # plain #gitter_{uri} aliases, for a single server
  # relay:                           # a Gitter bot account that posts for Matrix users
  #   token: "..."                   # without a login, as "**Name**: text", in rooms it is in
`, "\n")
}
