package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/isthmus-bridge/isthmus/appservice"
	"github.com/isthmus-bridge/isthmus/bridge"
)

// configTemplate is the config "isthmus init" writes: every key with its
// default and a comment, so the file is its own reference.
var configTemplate = template.Must(template.New("config").Parse(`# Isthmus configuration. Reference: README.md, "Configuration".

homeserver:
  # Where the bridge reaches the homeserver's client API.
  address: "http://127.0.0.1:8008"
  # The server name in user IDs (@alice:example.org -> example.org).
  domain: example.org

appservice:
  # Where the bridge listens for the homeserver.
  listen: "127.0.0.1:29300"
  # How the homeserver reaches that listener (goes into registration.yaml).
  url: "http://127.0.0.1:29300"
  id: isthmus
  bot:
    localpart: isthmusbot
    displayname: Isthmus
    avatar: ""
  # Secrets shared with the homeserver. Keep them private; regenerate with
  # "isthmus init --force" (then register the new registration.yaml).
  as_token: "{{.ASToken}}"
  hs_token: "{{.HSToken}}"

database:
  # sqlite (a file next to this config) or postgres.
  type: sqlite
  uri: isthmus.db
  # type: postgres
  # uri: "postgres://isthmus@localhost/isthmus?sslmode=disable"

bridge:
  # Who may use the bridge: "*", a server name or a user ID, mapped to
  # relay (talk in bridged rooms), user (log in) or admin (link rooms).
  permissions:
    "*": relay
    "example.org": user
    "@admin:example.org": admin
  double_puppet:
    # Per homeserver domain: "as_token:<token>" of an appservice there whose
    # namespace covers its users, or a shared-secret login key.
    secrets: {}
  portal:
    # joined: people joining later do not see earlier messages.
    history_visibility: joined
    federate: true
    join_rule: public
  # A Matrix space per login (a Slack workspace, an IRC network) holding
  # the portals its user is in.
  spaces: false
  provisioning:
    # Bearer secret of the HTTP API for logging users in without a
    # management room (/_isthmus/provision/v1); empty = off.
    shared_secret: "{{.ProvisioningSecret}}"

logging:
  level: info      # trace, debug, info, warn, error
  format: pretty   # pretty or json

metrics:
  # Prometheus metrics, e.g. "127.0.0.1:9100"; empty = off.
  listen: ""

# One section per network kind; uncomment and edit the ones you use.
networks:
{{- range .Examples}}
{{.}}
{{- end}}
`))

func cmdInit(configPath, regPath string, force bool, stdout, stderr io.Writer) int {
	if !force {
		for _, p := range []string{configPath, regPath} {
			if _, err := os.Stat(p); err == nil {
				fmt.Fprintf(stderr, "isthmus init: %s already exists; use --force to overwrite it (this replaces the tokens)\n", p)
				return exitUsage
			} else if !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(stderr, "isthmus init: %v\n", err)
				return exitRuntime
			}
		}
	}
	var examples []string
	for _, k := range bridge.Kinds() {
		if ex := k.ExampleConfig(); ex != "" {
			examples = append(examples, commentOut(exampleSection(k.Kind(), ex)))
		}
	}
	var buf bytes.Buffer
	err := configTemplate.Execute(&buf, map[string]any{
		"ASToken":            appservice.GenerateToken(),
		"HSToken":            appservice.GenerateToken(),
		"ProvisioningSecret": appservice.GenerateToken(),
		"Examples":           examples,
	})
	if err != nil {
		fmt.Fprintf(stderr, "isthmus init: %v\n", err)
		return exitRuntime
	}
	cfg, err := bridge.ParseConfig(buf.Bytes())
	if err != nil {
		fmt.Fprintf(stderr, "isthmus init: generated config is invalid (a bug): %v\n", err)
		return exitRuntime
	}
	reg, err := registrationYAML(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus init: %v\n", err)
		return exitRuntime
	}
	if err := os.MkdirAll(filepath.Dir(configPath), 0o700); err != nil {
		fmt.Fprintf(stderr, "isthmus init: %v\n", err)
		return exitRuntime
	}
	if err := os.WriteFile(configPath, buf.Bytes(), 0o600); err != nil {
		fmt.Fprintf(stderr, "isthmus init: %v\n", err)
		return exitRuntime
	}
	if err := os.WriteFile(regPath, []byte(reg), 0o600); err != nil {
		fmt.Fprintf(stderr, "isthmus init: %v\n", err)
		return exitRuntime
	}
	fmt.Fprintf(stdout, "Wrote %s and %s.\n\nNext:\n"+
		"  1. Edit %s: homeserver.address and homeserver.domain, bridge.permissions, networks.\n"+
		"  2. Register %s with your homeserver (Synapse: app_service_config_files; Dendrite: app_service_api.config_files) and restart it.\n"+
		"  3. Run:  isthmus run -c %s\n", configPath, regPath, configPath, regPath, configPath)
	return exitOK
}

// exampleSection puts an adapter's example under its kind's key, whether
// or not the adapter wrote the key itself.
func exampleSection(kind, ex string) string {
	ex = dedent(strings.TrimRight(ex, "\n"))
	if strings.HasPrefix(ex, kind+":") {
		return ex
	}
	lines := strings.Split(ex, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return kind + ":\n" + strings.Join(lines, "\n")
}

// dedent removes the indentation all non-empty lines share.
func dedent(text string) string {
	lines := strings.Split(text, "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		}
	}
	return strings.Join(lines, "\n")
}

// commentOut comments a section out, indented under "networks:".
func commentOut(section string) string {
	lines := strings.Split(section, "\n")
	for i, l := range lines {
		lines[i] = "  # " + l
	}
	return strings.Join(lines, "\n")
}
