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
	// App turns on app mode (app.go) when its tokens are set.
	App AppConfig `yaml:"app"`
}

// AppConfig is app mode: a Slack app of the workspace, whose bot posts for
// Matrix users who have no login (relay) and watches the channels it is
// in over Socket Mode, whether or not anyone logged in is there.
type AppConfig struct {
	// BotToken (xoxb-) is the app's bot token, for the Web API.
	BotToken secret `yaml:"bot_token"`
	// AppToken (xapp-) is an app-level token with connections:write, for
	// Socket Mode (https://api.slack.com/apis/connections/socket).
	AppToken secret `yaml:"app_token"`
	// IconURL is the icon relayed messages show, with "{localpart}" and
	// "{mxid}" replaced by the sender's; "" keeps the app's own icon.
	// Slack fetches it, so it must be a public http(s) URL.
	IconURL string `yaml:"icon_url"`
}

func (a AppConfig) enabled() bool { return a.BotToken != "" || a.AppToken != "" }

// secret is a credential from the config: its String form hides it, so a
// config printed by accident prints no token.
type secret string

func (secret) String() string   { return "[secret]" }
func (secret) GoString() string { return "[secret]" }

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
	if c.App.enabled() {
		// The values are secrets: the errors say what is wrong, not what is there.
		if !strings.HasPrefix(string(c.App.BotToken), "xoxb-") {
			errs = append(errs, errors.New("networks.slack.app.bot_token: must be a bot token (xoxb-...)"))
		}
		if !strings.HasPrefix(string(c.App.AppToken), "xapp-") {
			errs = append(errs, errors.New("networks.slack.app.app_token: must be an app-level token (xapp-...)"))
		}
		if c.App.IconURL != "" {
			if u, err := url.Parse(c.App.IconURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				errs = append(errs, fmt.Errorf("networks.slack.app.icon_url: %q is not an http(s) URL", c.App.IconURL))
			}
		}
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
  app:                           # app mode: relay for users without a login; both tokens or none
    bot_token: ""                # xoxb-...
    app_token: ""                # xapp-... with connections:write (Socket Mode)
    icon_url: ""                 # relayed messages' icon, {localpart}/{mxid} replaced; "" = the app's
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
