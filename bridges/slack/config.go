package slack

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/isthmus-bridge/isthmus/bridge"
)

func init() { bridge.RegisterKind(kind{}) }

// Config is the networks.slack section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// APIURL is Slack's Web API base; tests point it at an emulator.
	APIURL string `yaml:"api_url"`
	// Backfill is how many recent messages of each conversation are
	// bridged when a login first sees it.
	Backfill int `yaml:"backfill"`
	// PresenceSubscriptions caps how many users' presence one login asks
	// RTM for (presence_sub); 0 turns presence from Slack off.
	PresenceSubscriptions int `yaml:"presence_subscriptions"`
	// MaxRetryAfter caps how long a rate-limited call waits before it
	// fails, so one long Retry-After cannot stall a portal for good.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// DefaultConfig is what an empty section means.
func DefaultConfig() Config {
	return Config{
		APIURL:                "https://slack.com/api/",
		Backfill:              20,
		PresenceSubscriptions: 500,
		MaxRetryAfter:         2 * time.Minute,
	}
}

// Validate collects every problem with its key path.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("networks.slack.api_url: %q is not an http(s) URL", c.APIURL))
	} else if !strings.HasSuffix(c.APIURL, "/") {
		errs = append(errs, fmt.Errorf("networks.slack.api_url: %q must end with /", c.APIURL))
	}
	if c.Backfill < 0 || c.Backfill > 1000 {
		errs = append(errs, fmt.Errorf("networks.slack.backfill: %d is not between 0 and 1000", c.Backfill))
	}
	if c.PresenceSubscriptions < 0 {
		errs = append(errs, fmt.Errorf("networks.slack.presence_subscriptions: %d is negative", c.PresenceSubscriptions))
	}
	if c.MaxRetryAfter < 0 {
		errs = append(errs, fmt.Errorf("networks.slack.max_retry_after: %s is negative", c.MaxRetryAfter))
	}
	return errors.Join(errs...)
}

type kind struct{}

func (kind) Kind() string { return "slack" }

func (kind) ExampleConfig() string {
	return `slack:
  enabled: false
  api_url: "https://slack.com/api/"
  backfill: 20                   # recent messages bridged per conversation on first sight
  presence_subscriptions: 500    # users whose presence each login follows; 0 = off
  max_retry_after: 2m            # longest wait on an HTTP 429 before giving up
`
}

// NewNetworks decodes the section; a disabled section configures nothing.
func (kind) NewNetworks(section []byte, common bridge.CommonConfig) ([]bridge.Network, error) {
	cfg := DefaultConfig()
	if err := bridge.DecodeSection(section, "slack", &cfg); err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return []bridge.Network{NewNetwork(cfg, common)}, nil
}
