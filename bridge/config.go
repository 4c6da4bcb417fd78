package bridge

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v2"
	yaml3 "gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/appservice"
	"github.com/isthmus-bridge/isthmus/storage"
)

// Config is config.yaml. A loaded Config is never modified; a reload would
// build a new one.
type Config struct {
	Homeserver HomeserverConfig  `yaml:"homeserver"`
	Appservice appservice.Config `yaml:"appservice"`
	Database   storage.Config    `yaml:"database"`
	Bridge     BridgeConfig      `yaml:"bridge"`
	Logging    LoggingConfig     `yaml:"logging"`
	Metrics    MetricsConfig     `yaml:"metrics"`
	// Networks holds one section per network kind ("irc", "slack", ...),
	// decoded strictly by that kind's adapter.
	Networks map[string]any `yaml:"networks"`

	// Path is the file this was loaded from; relative paths in it (the
	// SQLite file) are resolved against its directory.
	Path string `yaml:"-"`
}

// HomeserverConfig is where the homeserver is.
type HomeserverConfig struct {
	Address string `yaml:"address"`
	Domain  string `yaml:"domain"`
}

// BridgeConfig is the framework's own section.
type BridgeConfig struct {
	Permissions  Permissions        `yaml:"permissions"`
	DoublePuppet DoublePuppetConfig `yaml:"double_puppet"`
	Portal       PortalConfig       `yaml:"portal"`
	// Spaces gives each login (a Slack workspace, an IRC network) a Matrix
	// space of its user's own, holding the portals they are in.
	Spaces bool `yaml:"spaces"`
	// Provisioning is the HTTP API for logging users in without a
	// management room; off while its shared secret is empty.
	Provisioning ProvisioningConfig `yaml:"provisioning"`
}

// DoublePuppetConfig holds, per homeserver domain, either "as_token:<token>"
// (an appservice on that homeserver whose namespace covers its users) or a
// shared-secret login key.
type DoublePuppetConfig struct {
	Secrets map[string]string `yaml:"secrets"`
}

// PortalConfig holds the defaults for new portal rooms.
type PortalConfig struct {
	// HistoryVisibility defaults to "joined": someone who joins later does
	// not see what was said before they came.
	HistoryVisibility HistoryVisibility `yaml:"history_visibility"`
	Federate          bool              `yaml:"federate"`
	// JoinRule for group portals: "public" (joinable by alias) or "invite".
	JoinRule JoinRule `yaml:"join_rule"`
}

// LoggingConfig sets the log level and format.
type LoggingConfig struct {
	Level  LogLevel  `yaml:"level"`
	Format LogFormat `yaml:"format"`
}

// MetricsConfig turns the Prometheus endpoint on when Listen is set.
type MetricsConfig struct {
	Listen string `yaml:"listen"`
}

// DefaultConfig returns the defaults that a config file overrides.
func DefaultConfig() *Config {
	return &Config{
		Homeserver: HomeserverConfig{Address: "http://127.0.0.1:8008", Domain: "example.org"},
		Appservice: appservice.Config{
			Listen: "127.0.0.1:29300",
			URL:    "http://127.0.0.1:29300",
			ID:     "isthmus",
			Bot:    appservice.BotConfig{Localpart: "isthmusbot", Displayname: "Isthmus"},
		},
		Database: storage.Config{Type: storage.SQLite, URI: "isthmus.db"},
		Bridge: BridgeConfig{
			Portal: PortalConfig{HistoryVisibility: HistoryJoined, Federate: true, JoinRule: JoinPublic},
		},
		Logging: LoggingConfig{Level: "info", Format: LogPretty},
	}
}

// fillDefaults sets defaults for maps, which strict YAML decoding cannot
// merge into (it refuses a key that is already set).
func (c *Config) fillDefaults() {
	if c.Bridge.Permissions == nil {
		c.Bridge.Permissions = Permissions{"*": PermRelay}
	}
	if c.Networks == nil {
		c.Networks = map[string]any{}
	}
}

// ConfigError lists every problem found in a config, each with its key path.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s: %s", e.File, strings.Join(e.Problems, "; "))
}

// LoadConfig reads and validates a config file. Unknown keys and bad values
// fail with their key path (and line where yaml knows it).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// ParseConfig decodes and validates config text.
func ParseConfig(data []byte) (*Config, error) {
	cfg := DefaultConfig()
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, &ConfigError{File: "config", Problems: describeYAMLError(data, err, reflect.TypeOf(*cfg))}
	}
	cfg.fillDefaults()
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, &ConfigError{File: "config", Problems: problems}
	}
	return cfg, nil
}

// describeYAMLError explains a strict-decoding failure with the line and
// key path of every bad key and value, which is what an operator searches
// for in the reference. yaml.v2 (our decoder) knows lines but not paths,
// and custom unmarshalers (the enums) know neither, so the document is
// walked again with yaml.v3's node tree, which keeps lines.
func describeYAMLError(data []byte, err error, root reflect.Type) []string {
	var doc yaml3.Node
	var problems []string
	if yaml3.Unmarshal(data, &doc) == nil && len(doc.Content) == 1 {
		checkNode(doc.Content[0], root, "", &problems)
	}
	if len(problems) == 0 {
		problems = append(problems, err.Error())
	}
	return problems
}

func checkNode(node *yaml3.Node, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml3.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	bad := func(format string, args ...any) {
		*out = append(*out, fmt.Sprintf("line %d: %s: %s", node.Line, nonEmptyPath(path), fmt.Sprintf(format, args...)))
	}
	// Leaves (enums, numbers, booleans, durations): decode the value alone
	// with the real decoder and report its complaint.
	if node.Kind == yaml3.ScalarNode || reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		raw, merr := yaml3.Marshal(node)
		if merr != nil {
			return
		}
		if uerr := yaml.UnmarshalStrict(raw, reflect.New(t).Interface()); uerr != nil {
			if node.Kind == yaml3.ScalarNode || !strings.Contains(uerr.Error(), "line ") {
				bad("%s", innerYAMLError.ReplaceAllString(uerr.Error(), ""))
				return
			}
		} else if node.Kind == yaml3.ScalarNode {
			return
		}
	}
	switch {
	case t.Kind() == reflect.Struct && node.Kind == yaml3.MappingNode:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			sub := joinPath(path, k.Value)
			if seen[k.Value] {
				*out = append(*out, fmt.Sprintf("line %d: %s: key set twice", k.Line, sub))
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				*out = append(*out, fmt.Sprintf("line %d: unknown key %q", k.Line, sub))
				continue
			}
			checkNode(v, ft, sub, out)
		}
	case t.Kind() == reflect.Map && node.Kind == yaml3.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			checkNode(node.Content[i+1], t.Elem(), joinPath(path, node.Content[i].Value), out)
		}
	case t.Kind() == reflect.Slice && node.Kind == yaml3.SequenceNode:
		for i, item := range node.Content {
			checkNode(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case t.Kind() != reflect.Struct && t.Kind() != reflect.Map && t.Kind() != reflect.Slice && t.Kind() != reflect.Interface:
		if node.Kind != yaml3.ScalarNode {
			bad("wrong shape (want a single value)")
		}
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map || t.Kind() == reflect.Slice:
		if node.Kind != yaml3.ScalarNode || node.Tag != "!!null" {
			bad("wrong shape (want a %s)", map[reflect.Kind]string{reflect.Struct: "mapping", reflect.Map: "mapping", reflect.Slice: "list"}[t.Kind()])
		}
	}
}

// innerYAMLError is the decoder's own framing of an error about a value
// decoded alone (its line 1 is not the file's line).
var innerYAMLError = regexp.MustCompile(`^(yaml: unmarshal errors:\s*)?(line \d+: )?`)

var yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func nonEmptyPath(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate returns every problem with its key path; nil when the config is usable.
func (c *Config) Validate() []string {
	var p []string
	add := func(path, format string, args ...any) {
		p = append(p, path+": "+fmt.Sprintf(format, args...))
	}
	if !strings.HasPrefix(c.Homeserver.Address, "http://") && !strings.HasPrefix(c.Homeserver.Address, "https://") {
		add("homeserver.address", "must be an http:// or https:// URL, got %q", c.Homeserver.Address)
	}
	if c.Homeserver.Domain == "" {
		add("homeserver.domain", "must be set (the server name in user IDs, e.g. example.org)")
	}
	if c.Appservice.Listen == "" {
		add("appservice.listen", "must be set, e.g. 127.0.0.1:29300")
	}
	if c.Appservice.URL == "" {
		add("appservice.url", "must be set: the address the homeserver calls")
	}
	if c.Appservice.ID == "" {
		add("appservice.id", "must be set")
	}
	if err := id.ValidateUserLocalpart(c.Appservice.Bot.Localpart); err != nil {
		add("appservice.bot.localpart", "%v", err)
	}
	for key, tok := range map[string]string{"as_token": c.Appservice.ASToken, "hs_token": c.Appservice.HSToken} {
		if tok == "" || strings.Contains(tok, "generate") {
			add("appservice."+key, "must be a random secret (isthmus init writes one)")
		}
	}
	if sec := c.Bridge.Provisioning.SharedSecret; sec != "" && (len(sec) < 16 || strings.Contains(sec, "generate")) {
		add("bridge.provisioning.shared_secret", "must be empty (off) or a random secret of at least 16 characters")
	}
	if c.Appservice.ASToken != "" && c.Appservice.ASToken == c.Appservice.HSToken {
		add("appservice.hs_token", "must differ from as_token")
	}
	if c.Database.Type != storage.SQLite && c.Database.Type != storage.Postgres {
		add("database.type", "invalid value %q (want \"sqlite\" or \"postgres\")", c.Database.Type)
	}
	if c.Database.Type == storage.Postgres && !strings.HasPrefix(c.Database.URI, "postgres://") && !strings.HasPrefix(c.Database.URI, "postgresql://") {
		add("database.uri", "must be a postgres:// URI for type postgres, got %q", c.Database.URI)
	}
	for key := range c.Bridge.Permissions {
		if key != "*" && strings.HasPrefix(key, "@") {
			if _, _, err := id.UserID(key).Parse(); err != nil {
				add("bridge.permissions."+key, "not a valid user ID")
			}
		}
	}
	for domain, secret := range c.Bridge.DoublePuppet.Secrets {
		if secret == "" {
			add("bridge.double_puppet.secrets."+domain, "must not be empty")
		}
	}
	sort.Strings(p)
	return p
}

// enum implements strict YAML decoding for string enums, quoting the bad
// value and listing the good ones.
func decodeEnum[T ~string](unmarshal func(any) error, out *T, allowed ...T) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	for _, a := range allowed {
		if string(a) == s {
			*out = a
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = strconv.Quote(string(a))
	}
	return fmt.Errorf("invalid value %q (want one of %s)", s, strings.Join(names, ", "))
}

// HistoryVisibility is m.room.history_visibility for new portals.
type HistoryVisibility string

const (
	HistoryJoined        HistoryVisibility = "joined"
	HistoryInvited       HistoryVisibility = "invited"
	HistoryShared        HistoryVisibility = "shared"
	HistoryWorldReadable HistoryVisibility = "world_readable"
)

func (h *HistoryVisibility) UnmarshalYAML(unmarshal func(any) error) error {
	return decodeEnum(unmarshal, h, HistoryJoined, HistoryInvited, HistoryShared, HistoryWorldReadable)
}

// JoinRule is the join rule for group portals.
type JoinRule string

const (
	JoinPublic JoinRule = "public"
	JoinInvite JoinRule = "invite"
)

func (j *JoinRule) UnmarshalYAML(unmarshal func(any) error) error {
	return decodeEnum(unmarshal, j, JoinPublic, JoinInvite)
}

// LogLevel is a zerolog level name.
type LogLevel string

func (l *LogLevel) UnmarshalYAML(unmarshal func(any) error) error {
	return decodeEnum(unmarshal, l, "trace", "debug", "info", "warn", "error")
}

// LogFormat is how logs are written.
type LogFormat string

const (
	LogPretty LogFormat = "pretty"
	LogJSON   LogFormat = "json"
)

func (f *LogFormat) UnmarshalYAML(unmarshal func(any) error) error {
	return decodeEnum(unmarshal, f, LogPretty, LogJSON)
}
