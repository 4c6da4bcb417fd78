package irc

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// Config is one entry of networks.irc. A decoded Config is never modified;
// everything that changes at run time lives on the Network.
type Config struct {
	// Name is the network ID: it goes into ghost IDs and aliases, so it
	// may only hold a-z, 0-9, "." and "-".
	Name        string `yaml:"name"`
	DisplayName string `yaml:"displayname"`
	// Address is host:port; the port defaults to 6697 with TLS, 6667 without.
	Address       string `yaml:"address"`
	TLS           bool   `yaml:"tls"`
	TLSSkipVerify bool   `yaml:"tls_skip_verify"`
	// Password is the server password (PASS), sent by every connection.
	Password string       `yaml:"password"`
	SASL     *SASLConfig  `yaml:"sasl"`
	Bot      BotConfig    `yaml:"bot"`
	Puppets  PuppetConfig `yaml:"puppets"`
	// GhostTemplate is the localpart of ghosts; {id} is the casefolded
	// nick, so "Alice" and "alice" are one ghost.
	GhostTemplate string `yaml:"ghost_template"`
	// AliasTemplate is the localpart of portal aliases; {chat} is the
	// channel name with its "#".
	AliasTemplate   string           `yaml:"alias_template"`
	Channels        []ChannelConfig  `yaml:"channels"`
	DynamicChannels DynamicChannels  `yaml:"dynamic_channels"`
	Limits          LimitsConfig     `yaml:"limits"`
	Ident           IdentConfig      `yaml:"ident"`
	PrivateMessages PMConfig         `yaml:"private_messages"`
	Membership      MembershipConfig `yaml:"membership"`
	// MediaURL is the public base URL that Matrix media links on IRC point
	// at ("https://matrix.example.org"); empty means the homeserver
	// address from the main config.
	MediaURL string `yaml:"media_url"`
}

// SASLConfig authenticates the bot with SASL PLAIN. Its fields are secrets.
type SASLConfig struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// BotConfig is the bridge bot's IRC identity.
type BotConfig struct {
	Nick     string `yaml:"nick"`
	Username string `yaml:"username"`
	Realname string `yaml:"realname"`
	// NickServPassword is sent to NickServ after connecting, for networks
	// without SASL.
	NickServPassword string `yaml:"nickserv_password"`
}

// PuppetConfig shapes the Matrix users' own IRC connections.
type PuppetConfig struct {
	// NickTemplate may use {displayname} and {localpart}; the result is
	// sanitised and cut to the server's NICKLEN, keeping the fixed text.
	NickTemplate string `yaml:"nick_template"`
	// UsernameTemplate is the ident/user name; {localpart} only.
	UsernameTemplate string `yaml:"username_template"`
	// RealnameTemplate is what WHOIS shows; {mxid}, {displayname}, {localpart}.
	RealnameTemplate string `yaml:"realname_template"`
	// IdleTimeout disconnects a puppet whose user sent nothing for this
	// long; 0 keeps puppets connected. It comes back on the next message.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ConnectOnJoin connects a puppet (and joins the channel) as soon as
	// its user joins a portal, so IRC sees the Matrix member list; when
	// false a puppet connects on its user's first message.
	ConnectOnJoin bool `yaml:"connect_on_join"`
}

// ChannelConfig is a channel the bot always holds. With Room set, the
// portal is that existing room (an admin must link it once with
// "link <network> <channel> <room>", since adapters cannot bind rooms);
// without it the portal is created on the first event.
type ChannelConfig struct {
	Channel string `yaml:"channel"`
	Room    string `yaml:"room"`
	Key     string `yaml:"key"`
}

// DynamicChannels controls portals on demand through aliases
// (#irc_{network}_#channel). It decodes from a bool or a mapping.
type DynamicChannels struct {
	Enabled bool `yaml:"enabled"`
	// Allow and Deny are glob patterns (path.Match) on the casefolded
	// channel name; Deny wins. An empty Allow allows every channel.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// UnmarshalYAML accepts "dynamic_channels: true" as the short form.
func (d *DynamicChannels) UnmarshalYAML(unmarshal func(any) error) error {
	var b bool
	if err := unmarshal(&b); err == nil {
		*d = DynamicChannels{Enabled: b}
		return nil
	}
	type plain DynamicChannels
	var p plain
	if err := unmarshal(&p); err != nil {
		return err
	}
	*d = DynamicChannels(p)
	return nil
}

// LimitsConfig protects the IRC network from the bridge.
type LimitsConfig struct {
	// MaxPuppets caps puppet connections; past it, users are relayed by
	// the bot with their name. 0 means no cap.
	MaxPuppets int `yaml:"max_puppets"`
	// ConnectsPerSecond and ConnectsInFlight pace every connection the
	// network opens (bot and puppets), so a restart does not become a
	// reconnect storm.
	ConnectsPerSecond float64 `yaml:"connects_per_second"`
	ConnectsInFlight  int     `yaml:"connects_in_flight"`
	// LinesPerSecond and LineBurst are each connection's token bucket.
	LinesPerSecond float64 `yaml:"lines_per_second"`
	LineBurst      int     `yaml:"line_burst"`
	// MaxLines is how many IRC lines one Matrix message may become; a
	// longer one is cut, and its last line links to the full message.
	MaxLines int `yaml:"max_lines"`
}

// IdentConfig runs an RFC 1413 ident server that answers with each
// puppet's user name, so IRC operators can ban one Matrix user without
// banning the bridge.
type IdentConfig struct {
	Enabled bool   `yaml:"enabled"`
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
}

// PMPolicy says which IRC users may open a DM with a Matrix user.
type PMPolicy string

const (
	PMAccept     PMPolicy = "accept"
	PMIdentified PMPolicy = "identified" // only senders logged in to an account (account-tag, else WHOIS)
	PMOff        PMPolicy = "off"
)

// UnmarshalYAML refuses unknown policies, quoting the bad value.
func (p *PMPolicy) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	switch PMPolicy(s) {
	case PMAccept, PMIdentified, PMOff:
		*p = PMPolicy(s)
		return nil
	}
	return fmt.Errorf("invalid private_messages.policy %q (want \"accept\", \"identified\" or \"off\")", s)
}

// PMConfig guards Matrix users against PM spam turning into invite spam.
type PMConfig struct {
	Policy PMPolicy `yaml:"policy"`
	// InvitesPerHour is how many new DM rooms one IRC sender may cause
	// per hour, over all Matrix users; PMs past it are dropped and the
	// sender is told why once an hour (refusals.go).
	InvitesPerHour int `yaml:"invites_per_hour"`
	// Services are the nicks whose NOTICEs to a puppet go to its user's
	// management room (a NickServ login, a ChanServ access change). Only
	// these: services nicks are reserved on the networks that run them,
	// so no one else can write there as a service.
	Services []string `yaml:"services"`
}

// MembershipConfig tunes member list sync.
type MembershipConfig struct {
	// JoinRate is how many ghosts per second join a portal when a channel
	// is (re)joined, so a 2,000-member channel does not flood the
	// homeserver.
	JoinRate float64 `yaml:"join_rate"`
	// NetsplitDelay is how long QUITs that look like a netsplit wait for
	// the users to come back before the member list is reconciled.
	NetsplitDelay Duration `yaml:"netsplit_delay"`
	// AwayPoll is how often the bot asks WHO of every channel it holds to
	// learn who is away, on servers without away-notify (ngIRCd); 0 turns
	// it off. The WHOs are spread over the interval. The one WHO the bot
	// asks on joining a channel, for who is away already, is asked
	// whatever this is.
	AwayPoll Duration `yaml:"away_poll"`
}

// Duration decodes "10s", "5m" or a number of seconds.
type Duration time.Duration

// UnmarshalYAML parses Go duration strings and plain seconds.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\" or \"10m\")", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// defaultServices are the services nicks of Atheme and Anope, which most
// networks run.
func defaultServices() []string {
	return []string{"NickServ", "ChanServ", "MemoServ", "SaslServ", "HostServ", "OperServ", "BotServ"}
}

// defaultConfig is what a network entry starts from before decoding.
func defaultConfig() Config {
	return Config{
		Bot: BotConfig{Nick: "IsthmusBot", Username: "isthmus", Realname: "Isthmus Matrix bridge"},
		Puppets: PuppetConfig{
			NickTemplate:     "{displayname}[m]",
			UsernameTemplate: "{localpart}",
			RealnameTemplate: "{mxid}",
			ConnectOnJoin:    true,
		},
		GhostTemplate: "irc_{network}_{id}",
		AliasTemplate: "irc_{network}_{chat}",
		Limits: LimitsConfig{
			ConnectsPerSecond: 5,
			ConnectsInFlight:  10,
			LinesPerSecond:    1,
			LineBurst:         5,
			MaxLines:          5,
		},
		Ident:           IdentConfig{Address: "0.0.0.0", Port: 113},
		PrivateMessages: PMConfig{Policy: PMAccept, InvitesPerHour: 5, Services: defaultServices()},
		Membership: MembershipConfig{
			JoinRate:      20,
			NetsplitDelay: Duration(10 * time.Second),
			AwayPoll:      Duration(5 * time.Minute),
		},
	}
}

// decodeConfigs decodes networks.irc strictly: a list of entries, each
// starting from the defaults.
func decodeConfigs(section []byte) ([]Config, error) {
	var raw []rawConfig
	if err := bridge.DecodeSection(section, "irc", &raw); err != nil {
		return nil, err
	}
	out := make([]Config, len(raw))
	for i, r := range raw {
		out[i] = r.Config
	}
	var problems []string
	for i := range out {
		problems = append(problems, out[i].validate(fmt.Sprintf("networks.irc[%d]", i))...)
	}
	seen := map[string]bool{}
	for i, c := range out {
		if c.Name != "" && seen[c.Name] {
			problems = append(problems, fmt.Sprintf("networks.irc[%d].name: %q is used twice", i, c.Name))
		}
		seen[c.Name] = true
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	return out, nil
}

// rawConfig decodes an entry on top of the defaults. yaml.v2 decodes list
// items into zero values, so the defaults are filled in here.
type rawConfig struct{ Config }

func (r *rawConfig) UnmarshalYAML(unmarshal func(any) error) error {
	r.Config = defaultConfig()
	type plain Config
	return unmarshal((*plain)(&r.Config))
}

// ConfigError lists every problem in networks.irc with its key path.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "; ") }

func (c *Config) validate(at string) []string {
	var p []string
	add := func(key, format string, args ...any) {
		p = append(p, at+"."+key+": "+fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		add("name", "must be set (e.g. libera)")
	} else if !validNetworkName(c.Name) {
		add("name", "%q may only hold a-z, 0-9, \".\" and \"-\"", c.Name)
	}
	if c.Address == "" {
		add("address", "must be set, e.g. irc.libera.chat:6697")
	} else if _, _, err := net.SplitHostPort(c.hostPort()); err != nil {
		add("address", "%q is not host:port", c.Address)
	}
	if c.TLSSkipVerify && !c.TLS {
		add("tls_skip_verify", "only makes sense with tls: true")
	}
	if c.SASL != nil && (c.SASL.Username == "" || c.SASL.Password == "") {
		add("sasl", "needs both username and password")
	}
	if !validNick(c.Bot.Nick) {
		add("bot.nick", "%q is not a valid IRC nick", c.Bot.Nick)
	}
	if c.Bot.Username == "" || strings.ContainsAny(c.Bot.Username, " @!") {
		add("bot.username", "%q is not a valid user name", c.Bot.Username)
	}
	if !strings.Contains(c.Puppets.NickTemplate, "{displayname}") && !strings.Contains(c.Puppets.NickTemplate, "{localpart}") {
		add("puppets.nick_template", "must use {displayname} or {localpart}, got %q", c.Puppets.NickTemplate)
	}
	if bad := unknownPlaceholder(c.Puppets.NickTemplate, "displayname", "localpart"); bad != "" {
		add("puppets.nick_template", "unknown placeholder %s", bad)
	}
	if bad := unknownPlaceholder(c.Puppets.UsernameTemplate, "localpart"); bad != "" {
		add("puppets.username_template", "unknown placeholder %s", bad)
	}
	if bad := unknownPlaceholder(c.Puppets.RealnameTemplate, "mxid", "displayname", "localpart"); bad != "" {
		add("puppets.realname_template", "unknown placeholder %s", bad)
	}
	if c.Puppets.IdleTimeout < 0 {
		add("puppets.idle_timeout", "must not be negative")
	}
	if strings.Count(c.GhostTemplate, "{id}") != 1 {
		add("ghost_template", "must hold {id} exactly once, got %q", c.GhostTemplate)
	}
	if strings.Count(c.AliasTemplate, "{chat}") != 1 {
		add("alias_template", "must hold {chat} exactly once, got %q", c.AliasTemplate)
	}
	seenChan := map[string]bool{}
	for i, ch := range c.Channels {
		key := fmt.Sprintf("channels[%d]", i)
		if ch.Channel == "" || !strings.ContainsRune(ircproto.DefaultChanTypes+"+!", rune(ch.Channel[0])) || strings.ContainsAny(ch.Channel, " ,\x07") {
			add(key+".channel", "%q is not a channel name", ch.Channel)
			continue
		}
		folded := ircproto.CasemapRFC1459.Fold(ch.Channel)
		if seenChan[folded] {
			add(key+".channel", "%q is listed twice", ch.Channel)
		}
		seenChan[folded] = true
		if ch.Room != "" && !strings.HasPrefix(ch.Room, "!") {
			add(key+".room", "must be a room ID (!...), got %q", ch.Room)
		}
	}
	for _, list := range []struct {
		key      string
		patterns []string
	}{{"dynamic_channels.allow", c.DynamicChannels.Allow}, {"dynamic_channels.deny", c.DynamicChannels.Deny}} {
		for i, pat := range list.patterns {
			if _, err := path.Match(pat, ""); err != nil {
				add(fmt.Sprintf("%s[%d]", list.key, i), "bad pattern %q", pat)
			}
		}
	}
	l := c.Limits
	if l.MaxPuppets < 0 {
		add("limits.max_puppets", "must not be negative")
	}
	if l.ConnectsPerSecond <= 0 {
		add("limits.connects_per_second", "must be positive")
	}
	if l.ConnectsInFlight < 1 {
		add("limits.connects_in_flight", "must be at least 1")
	}
	if l.LinesPerSecond <= 0 {
		add("limits.lines_per_second", "must be positive")
	}
	if l.LineBurst < 1 {
		add("limits.line_burst", "must be at least 1")
	}
	if l.MaxLines < 1 {
		add("limits.max_lines", "must be at least 1")
	}
	if c.Ident.Enabled && (c.Ident.Port < 1 || c.Ident.Port > 65535) {
		add("ident.port", "must be 1-65535, got %d", c.Ident.Port)
	}
	if c.PrivateMessages.InvitesPerHour < 0 {
		add("private_messages.invites_per_hour", "must not be negative")
	}
	if c.Membership.JoinRate <= 0 {
		add("membership.join_rate", "must be positive")
	}
	if c.Membership.NetsplitDelay < 0 {
		add("membership.netsplit_delay", "must not be negative")
	}
	if c.Membership.AwayPoll < 0 {
		add("membership.away_poll", "must not be negative (0 turns it off)")
	}
	if c.MediaURL != "" && !strings.HasPrefix(c.MediaURL, "http://") && !strings.HasPrefix(c.MediaURL, "https://") {
		add("media_url", "must be an http(s) URL, got %q", c.MediaURL)
	}
	return p
}

// hostPort returns the address with the default port added.
func (c *Config) hostPort() string {
	if _, _, err := net.SplitHostPort(c.Address); err == nil {
		return c.Address
	}
	port := "6667"
	if c.TLS {
		port = "6697"
	}
	return net.JoinHostPort(c.Address, port)
}

func validNetworkName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return s != ""
}

// unknownPlaceholder returns the first {name} in tmpl not in allowed.
func unknownPlaceholder(tmpl string, allowed ...string) string {
	for rest := tmpl; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return ""
		}
		name := rest[i+1 : i+j]
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok {
			return "{" + name + "}"
		}
		rest = rest[i+j+1:]
	}
}

// exampleConfig is the commented section "isthmus init" writes.
const exampleConfig = `  irc:                                   # one entry per IRC network
    - name: libera                       # network ID: a-z, 0-9, "." and "-"
      address: "irc.libera.chat:6697"
      tls: true
      # password: ""                     # server password (PASS)
      # sasl: {username: isthmusbot, password: "..."}   # the bot's account
      bot: {nick: IsthmusBot, username: isthmus}
      puppets:
        nick_template: "{displayname}[m]"
        idle_timeout: 0                  # e.g. "48h": idle puppets quit, and return on the next message
        connect_on_join: true            # Matrix members show on IRC before they speak
      ghost_template: "irc_{network}_{id}"    # {id}: the casefolded nick
      alias_template: "irc_{network}_{chat}"  # {chat}: the channel with its "#"
      channels: []                       # [{channel: "#isthmus", key: ""}]: always bridged
      dynamic_channels: {enabled: true, allow: [], deny: []}
      limits:
        max_puppets: 0                   # 0 = no cap; past it the bot relays
        connects_per_second: 5
        connects_in_flight: 10
        lines_per_second: 1              # per connection, after a burst of line_burst
        line_burst: 5
        max_lines: 5                     # longer messages are cut and linked
      ident: {enabled: false, port: 113}
      private_messages:
        policy: accept                   # accept | identified | off
        invites_per_hour: 5
        services: [NickServ, ChanServ, MemoServ, SaslServ, HostServ, OperServ, BotServ]   # their NOTICEs go to the management room
      membership:
        join_rate: 20                    # ghosts joining a portal per second
        netsplit_delay: 10s
        away_poll: 5m                    # without away-notify: WHO each channel this often for away; 0 = off
`
