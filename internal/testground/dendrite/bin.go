package dendrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// binaries are the Dendrite commands the helper runs; scripts/build-dendrite.sh builds the same.
var binaries = []string{"dendrite", "generate-keys", "generate-config", "create-account"}

// buildTimeout bounds a cold build (about two minutes on two cores, more on a cold module cache).
const buildTimeout = 15 * time.Minute

// BinDir returns the directory holding the Dendrite binaries:
// ${ISTHMUS_CACHE:-$HOME/.cache/isthmus}/dendrite-v0.13.8/bin. When one is missing it runs
// scripts/build-dendrite.sh from the repository root (found by walking up from the working
// directory to go.mod), which needs the go command and the module proxy. The answer is computed
// once per process.
func BinDir() (string, error) {
	return binDirOnce()
}

var binDirOnce = sync.OnceValues(func() (string, error) {
	dir, err := cachedBinDir()
	if err != nil {
		return "", err
	}
	if missing := missingBinaries(dir); len(missing) == 0 {
		return dir, nil
	}
	built, err := build()
	if err != nil {
		return "", err
	}
	if missing := missingBinaries(built); len(missing) > 0 {
		return "", fmt.Errorf("build-dendrite.sh printed %s, which lacks %s", built, strings.Join(missing, ", "))
	}
	return built, nil
})

// cachedBinDir is where scripts/build-dendrite.sh puts the binaries.
func cachedBinDir() (string, error) {
	cache := os.Getenv("ISTHMUS_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find cache dir: %w", err)
		}
		cache = filepath.Join(home, ".cache", "isthmus")
	}
	return filepath.Join(cache, "dendrite-"+Version, "bin"), nil
}

// missingBinaries lists the binaries that are not executable files in dir.
func missingBinaries(dir string) []string {
	var missing []string
	for _, name := range binaries {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// build runs scripts/build-dendrite.sh and returns the bin dir it prints.
func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "build-dendrite.sh")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", script, err, lastLines(stderr.String(), 20))
	}
	dir := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(dir, '\n'); i >= 0 {
		dir = dir[i+1:]
	}
	return dir, nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
