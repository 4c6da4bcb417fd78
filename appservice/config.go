package appservice

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Defaults for the tuning fields of Config; a zero value means "use the default".
const (
	DefaultMaxBacklog  = 10000
	DefaultWorkers     = 32
	DefaultMaxAttempts = 6
)

const (
	// maxBodyBytes caps a request body; Synapse sends at most 100 PDUs and 100
	// EDUs per transaction, far below this.
	maxBodyBytes = 32 << 20
	// txnRetention is how long a transaction ID is remembered. Homeservers
	// retry within minutes; a week is a wide margin.
	txnRetention = 7 * 24 * time.Hour
	// retryBase and retryMax bound the exponential backoff between attempts.
	retryBase = time.Second
	retryMax  = time.Minute
)

// Config is the `appservice:` section of config.yaml.
type Config struct {
	// Listen is the address the HTTP server binds, e.g. "127.0.0.1:29300".
	Listen string `yaml:"listen"`
	// URL is where the homeserver reaches Listen; it goes into the registration.
	URL string `yaml:"url"`
	// ID is the registration ID; it also marks events sent by double puppets.
	ID  string    `yaml:"id"`
	Bot BotConfig `yaml:"bot"`
	// ASToken authenticates the bridge to the homeserver.
	ASToken string `yaml:"as_token"`
	// HSToken authenticates the homeserver to the bridge.
	HSToken string `yaml:"hs_token"`

	// MaxBacklog is how many journaled events may wait or run at once before
	// a transaction PUT is held back (default 10000). A transaction larger
	// than this is still accepted once the backlog is empty.
	MaxBacklog int `yaml:"max_backlog"`
	// Workers is how many rooms are handled concurrently (default 32).
	Workers int `yaml:"workers"`
	// MaxAttempts is how often HandleEvent is tried for one event before it
	// is reported with EventFailed (default 6).
	MaxAttempts int `yaml:"max_attempts"`
}

// BotConfig describes the bridge bot, the registration's sender.
type BotConfig struct {
	Localpart   string `yaml:"localpart"`
	Displayname string `yaml:"displayname"`
	// Avatar is an mxc:// URI or an http(s) URL to upload; empty for none.
	Avatar string `yaml:"avatar"`
}

// SetDefaults fills the tuning fields left at zero.
func (c *Config) SetDefaults() {
	if c.MaxBacklog == 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
}

// localpartRegex is the set of characters the spec allows in a user localpart.
var localpartRegex = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)

// Validate reports every problem in the section at once, each with its key
// path. It does not check Listen, which only ListenAndServe needs.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("appservice.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.URL == "" {
		bad("url", "must be set")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "%q is not an http(s) URL", c.URL)
	}
	if c.ID == "" {
		bad("id", "must be set")
	}
	if !localpartRegex.MatchString(c.Bot.Localpart) {
		bad("bot.localpart", "%q is not a valid localpart (a-z, 0-9, ._=/+-)", c.Bot.Localpart)
	}
	if c.Bot.Avatar != "" {
		if u, err := url.Parse(c.Bot.Avatar); err != nil || (u.Scheme != "mxc" && u.Scheme != "http" && u.Scheme != "https") {
			bad("bot.avatar", "must be an mxc:// URI or an http(s) URL")
		}
	}
	if c.ASToken == "" {
		bad("as_token", "must be set")
	}
	if c.HSToken == "" {
		bad("hs_token", "must be set")
	} else if c.HSToken == c.ASToken {
		bad("hs_token", "must differ from as_token")
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"max_backlog", c.MaxBacklog}, {"workers", c.Workers}, {"max_attempts", c.MaxAttempts}} {
		if f.v < 0 {
			bad(f.key, "must not be negative (0 picks the default)")
		}
	}
	return errors.Join(errs...)
}
