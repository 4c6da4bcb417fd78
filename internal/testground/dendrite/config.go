package dendrite

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v2"
)

// configure writes the signing key and dendrite.yaml into s.Dir. It starts from the CI defaults of
// generate-config (SQLite files and the media and JetStream directories already inside the
// directory) and changes only what tests need.
func (s *Server) configure(opts Options) error {
	keyPath := filepath.Join(s.Dir, "matrix_key.pem")
	if err := s.runTool("generate-keys", "-private-key", keyPath); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "media"), 0o755); err != nil {
		return fmt.Errorf("create media dir: %w", err)
	}
	out, err := s.toolOutput("generate-config", "-ci", "-dir", s.Dir, "-server", s.Domain)
	if err != nil {
		return err
	}
	var cfg map[any]any
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		return fmt.Errorf("parse generated config: %w", err)
	}

	var asFiles []any
	if opts.RegistrationPath != "" {
		abs, err := filepath.Abs(opts.RegistrationPath)
		if err != nil {
			return fmt.Errorf("registration path: %w", err)
		}
		asFiles = []any{abs}
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
	}
	edits := []struct {
		path  string
		value any
	}{
		{"global.server_name", s.Domain},
		{"global.private_key", keyPath},
		{"global.disable_federation", true},
		// -ci keeps JetStream in memory; on disk, events queued for an appservice survive Restart.
		{"global.jetstream.in_memory", false},
		{"global.jetstream.storage_path", filepath.Join(s.Dir, "jetstream")},
		// The default cache may grow to 1 GiB per server; tests run several at once.
		{"global.cache.max_size_estimated", 64 << 20},
		{"app_service_api.config_files", asFiles},
		{"client_api.registration_disabled", true},
		{"client_api.registration_shared_secret", s.SharedSecret},
		{"client_api.rate_limiting.enabled", false},
		{"media_api.base_path", filepath.Join(s.Dir, "media")},
		// -ci logs at trace level to stderr and to a file; we keep only the stream.
		{"logging", []any{map[any]any{"type": "std", "level": level}}},
	}
	for _, e := range edits {
		if err := setKey(cfg, e.path, e.value); err != nil {
			return err
		}
	}
	if err := checkDatabasesIn(cfg, s.Dir); err != nil {
		return err
	}

	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := os.WriteFile(s.ConfigPath, data, 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// setKey sets the dotted key path in cfg. Every key on the way, and the last one, must already
// exist: a missing key means the generated config changed shape, and a typo would otherwise be
// ignored silently by Dendrite.
func setKey(cfg map[any]any, path string, value any) error {
	keys := strings.Split(path, ".")
	m := cfg
	for i, k := range keys {
		v, ok := m[k]
		if !ok {
			return fmt.Errorf("config key %s: %s not in generated config", path, strings.Join(keys[:i+1], "."))
		}
		if i == len(keys)-1 {
			m[k] = value
			return nil
		}
		next, ok := v.(map[any]any)
		if !ok {
			return fmt.Errorf("config key %s: %s is %T, not a map", path, strings.Join(keys[:i+1], "."), v)
		}
		m = next
	}
	return nil
}

// checkDatabasesIn makes sure every connection_string is empty (use the global one) or a SQLite
// file inside dir, so a test never touches a shared database.
func checkDatabasesIn(node any, dir string) error {
	switch n := node.(type) {
	case map[any]any:
		for k, v := range n {
			if k == "connection_string" {
				cs, _ := v.(string)
				if cs != "" && !strings.HasPrefix(cs, "file:"+dir+string(filepath.Separator)) {
					return fmt.Errorf("config: database %q is outside %s", cs, dir)
				}
				continue
			}
			if err := checkDatabasesIn(v, dir); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range n {
			if err := checkDatabasesIn(v, dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// runTool runs one of the helper binaries in s.Dir.
func (s *Server) runTool(name string, args ...string) error {
	_, err := s.toolOutput(name, args...)
	return err
}

// toolOutput runs one of the helper binaries in s.Dir and returns its standard output.
func (s *Server) toolOutput(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
