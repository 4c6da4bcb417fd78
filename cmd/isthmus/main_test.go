package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	mauas "maunium.net/go/mautrix/appservice"

	"github.com/isthmus-bridge/isthmus/bridge"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInitWritesAValidConfigAndRegistration(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	code, out, errOut := runCLI("init", "-c", cfgPath)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "isthmus run -c "+cfgPath)

	cfg, err := bridge.LoadConfig(cfgPath)
	require.NoError(t, err, "the written config must load as is")
	assert.Len(t, cfg.Appservice.ASToken, 64)
	assert.NotEqual(t, cfg.Appservice.ASToken, cfg.Appservice.HSToken)

	reg, err := mauas.LoadRegistration(filepath.Join(dir, "registration.yaml"))
	require.NoError(t, err)
	assert.Equal(t, cfg.Appservice.ASToken, reg.AppToken)
	assert.Equal(t, cfg.Appservice.HSToken, reg.ServerToken)
	assert.Equal(t, "isthmusbot", reg.SenderLocalpart)
	assert.True(t, reg.EphemeralEvents)
	assert.True(t, reg.SoruEphemeralEvents)

	info, err := os.Stat(cfgPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the config holds secrets")

	t.Run("a second init refuses to overwrite", func(t *testing.T) {
		before, _ := os.ReadFile(cfgPath)
		code, _, errOut := runCLI("init", "-c", cfgPath)
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, errOut, "--force")
		after, _ := os.ReadFile(cfgPath)
		assert.Equal(t, before, after)
	})

	t.Run("init --force writes fresh tokens", func(t *testing.T) {
		code, _, errOut := runCLI("init", "-c", cfgPath, "--force")
		require.Equal(t, exitOK, code, errOut)
		cfg2, err := bridge.LoadConfig(cfgPath)
		require.NoError(t, err)
		assert.NotEqual(t, cfg.Appservice.ASToken, cfg2.Appservice.ASToken)
	})

	t.Run("registration prints what init wrote", func(t *testing.T) {
		code, out, errOut := runCLI("registration", "-c", cfgPath)
		require.Equal(t, exitOK, code, errOut)
		written, err := os.ReadFile(filepath.Join(dir, "registration.yaml"))
		require.NoError(t, err)
		assert.Equal(t, string(written), out)
		assert.Contains(t, out, "sender_localpart: isthmusbot")
		assert.Contains(t, out, "receive_ephemeral: true")
	})
}

func TestRunWithoutConfigSaysWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	code, _, errOut := runCLI("run", "-c", path)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "isthmus init -c "+path)
}

func TestBadConfigExitsWithUsageCode(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	require.Equal(t, exitOK, run([]string{"init", "-c", cfgPath}, &bytes.Buffer{}, &bytes.Buffer{}))
	data, _ := os.ReadFile(cfgPath)
	require.NoError(t, os.WriteFile(cfgPath, []byte(strings.Replace(string(data), "level: info", "level: loud", 1)), 0o600))
	code, _, errOut := runCLI("run", "-c", cfgPath)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, `"loud"`)
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"run", "extra"}, {"run", "-nope"}} {
		code, _, _ := runCLI(args...)
		assert.Equal(t, exitUsage, code, "%v", args)
	}
	code, out, _ := runCLI("version")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "isthmus ")
}

func TestEveryNetworkExampleInInitIsAValidConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	require.Equal(t, exitOK, run([]string{"init", "-c", cfgPath}, &bytes.Buffer{}, &bytes.Buffer{}))
	data, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	text := string(data)
	head, examples, ok := strings.Cut(text, "\nnetworks:\n")
	require.True(t, ok)
	var lines []string
	for _, l := range strings.Split(examples, "\n") {
		lines = append(lines, strings.Replace(l, "  # ", "  ", 1))
	}
	uncommented := head + "\nnetworks:\n" + strings.Join(lines, "\n")
	cfg, err := bridge.ParseConfig([]byte(uncommented))
	require.NoError(t, err, uncommented)
	_, err = bridge.BuildNetworks(cfg)
	require.NoError(t, err, "the adapters' own examples must decode strictly")
	assert.Len(t, cfg.Networks, len(bridge.Kinds()), "every shipped kind has an example")
}
