// Command isthmus runs the Isthmus Matrix bridge.
//
//	isthmus init [-c config.yaml] [--force]   write config.yaml and registration.yaml
//	isthmus run [-c config.yaml]              run the bridge (the default)
//	isthmus registration [-c config.yaml]     print registration.yaml for the config
//	isthmus version
//
// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("isthmus "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("c", "config.yaml", "path to config.yaml")
	force := fs.Bool("force", false, "init: overwrite existing files")
	regPath := fs.String("r", "", "init: where to write registration.yaml (default: next to the config)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "isthmus %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return exitUsage
	}
	switch cmd {
	case "init":
		if *regPath == "" {
			*regPath = filepath.Join(filepath.Dir(*configPath), "registration.yaml")
		}
		return cmdInit(*configPath, *regPath, *force, stdout, stderr)
	case "run":
		return cmdRun(*configPath, stderr)
	case "registration":
		return cmdRegistration(*configPath, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "isthmus %s\n", Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "isthmus: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

const usage = `Usage:
  isthmus init [-c config.yaml] [-r registration.yaml] [--force]
  isthmus run [-c config.yaml]
  isthmus registration [-c config.yaml]
  isthmus version
`

// loadConfig reads the config, telling a newcomer what to do when it is
// missing.
func loadConfig(path string, stderr io.Writer) (*bridge.Config, int) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "isthmus: no config at %s.\n"+
			"Create one with:  isthmus init -c %s\n"+
			"then register the registration.yaml it writes with your homeserver and start again with:  isthmus run -c %s\n",
			path, path, path)
		return nil, exitUsage
	}
	cfg, err := bridge.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus: bad config: %v\n", err)
		return nil, exitUsage
	}
	return cfg, exitOK
}

func newLogger(cfg *bridge.Config, out io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(string(cfg.Logging.Level))
	if err != nil || cfg.Logging.Level == "" {
		level = zerolog.InfoLevel
	}
	w := out
	if cfg.Logging.Format != bridge.LogJSON {
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func cmdRun(path string, stderr io.Writer) int {
	cfg, code := loadConfig(path, stderr)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg, stderr)
	nets, err := bridge.BuildNetworks(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus: bad config: %v\n", err)
		return exitUsage
	}
	if cfg.Database.Type == "" || cfg.Database.Type == "sqlite" {
		cfg.Database.URI = resolveNextTo(path, cfg.Database.URI)
	}
	br, err := bridge.New(cfg, log, nets)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus: bad config: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := br.Run(log.WithContext(ctx), bridge.Options{}); err != nil {
		log.Error().Err(err).Msg("Bridge stopped with an error")
		return exitRuntime
	}
	return exitOK
}

// resolveNextTo makes a relative SQLite path relative to the config file,
// so the bridge finds its database whatever the working directory.
func resolveNextTo(configPath, uri string) string {
	if uri == "" || filepath.IsAbs(uri) || uri[0] == ':' || len(uri) > 5 && uri[:5] == "file:" {
		return uri
	}
	return filepath.Join(filepath.Dir(configPath), uri)
}

func cmdRegistration(path string, stdout, stderr io.Writer) int {
	cfg, code := loadConfig(path, stderr)
	if cfg == nil {
		return code
	}
	text, err := registrationYAML(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus: %v\n", err)
		return exitUsage
	}
	fmt.Fprint(stdout, text)
	return exitOK
}

func registrationYAML(cfg *bridge.Config) (string, error) {
	nets, err := bridge.BuildNetworks(cfg)
	if err != nil {
		return "", fmt.Errorf("bad config: %w", err)
	}
	br, err := bridge.New(cfg, zerolog.Nop(), nets)
	if err != nil {
		return "", fmt.Errorf("bad config: %w", err)
	}
	text, err := br.Registration().YAML()
	if err != nil {
		return "", fmt.Errorf("encode registration: %w", err)
	}
	return text, nil
}
