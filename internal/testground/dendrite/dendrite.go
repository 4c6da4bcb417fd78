// Package dendrite gives integration tests a real Matrix homeserver: a fresh Dendrite (v0.13.8) per
// test, on a free 127.0.0.1 port, with SQLite databases and a persistent JetStream inside the test's
// temporary directory, federation and open registration off, and rate limiting off.
//
// Start one with [Start]; it stops and its data is removed when the test ends. Users come from
// [Server.CreateUser] (shared-secret registration, then a password login). An appservice
// registration file given in [Options.RegistrationPath] is loaded at start, which is how bridge
// tests talk to it.
//
// The binaries are built once per machine by scripts/build-dendrite.sh into a cache directory (see
// [BinDir]). When they are missing and cannot be built, Start skips the test, unless the
// environment variable ISTHMUS_REQUIRE_DENDRITE is set (CI sets it to 1), in which case it fails.
//
// What an appservice sees from this Dendrite (read from its source, v0.13.8):
//   - Transactions are PUT to {url}/_matrix/app/v1/transactions/{txnId} with
//     "Authorization: Bearer {hs_token}"; the transaction ID is the JetStream timestamp of the first
//     event, so a retried batch keeps its ID.
//   - Up to 50 events per transaction; no ephemeral events (EDUs), no to-device messages.
//   - Any answer but 200 (or a connection error) makes it sleep 2, 4, 8, ... up to 64 s before
//     retrying the same batch; one 200 resets the back-off.
//   - The sender_localpart user exists as soon as the server is up. Other users in the namespace
//     must be registered with m.login.application_service before the as_token may act as them
//     (?user_id=); registering one twice answers 400 M_USER_IN_USE.
//   - rate_limited is not implemented (it only logs a warning).
//
// Start takes about 0.3 s on a 2-core machine (0.1 s of it writing keys and config), a restart
// 0.1 s, a graceful stop 0.06 s.
package dendrite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Dendrite release the binaries are built from.
const Version = "v0.13.8"

// Domain is the server name of every Server: user IDs look like @alice:isthmus.test.
const Domain = "isthmus.test"

const (
	readyTimeout = 60 * time.Second
	stopGrace    = 10 * time.Second
	logTailLines = 80
)

// Options change how a Server is configured. The zero value is a plain homeserver.
type Options struct {
	// RegistrationPath is an appservice registration file to load (app_service_api.config_files).
	// Empty means no appservice. A relative path is taken from the test's working directory.
	RegistrationPath string
	// LogLevel is Dendrite's log level ("trace", "debug", "info", "warn", "error"); empty is "info".
	LogLevel string
}

// Server is one running Dendrite. Its exported fields do not change over its life, across
// [Server.Restart] too.
type Server struct {
	// URL is the client-server API base URL, e.g. "http://127.0.0.1:41234", without a trailing slash.
	URL string
	// Domain is the server name, always [Domain].
	Domain string
	// Dir holds the config, keys, databases, media and log; it is removed when the test ends.
	Dir string
	// ConfigPath is Dir/dendrite.yaml.
	ConfigPath string
	// LogPath is the file Dendrite's output goes to, across restarts.
	LogPath string
	// SharedSecret is client_api.registration_shared_secret, for /_synapse/admin/v1/register.
	SharedSecret string

	bin  string
	addr string // host:port, fixed at the first start so URL stays valid across restarts

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of the dendrite binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// errAddrInUse means the chosen port was taken between picking and binding it.
var errAddrInUse = errors.New("address already in use")

// Start configures and starts a fresh Dendrite for t and waits until its client API answers. It
// registers a cleanup that stops the server (SIGTERM, then SIGKILL after 10 s), prints the tail
// of its log if t failed, and removes its data. It skips or fails t when the binaries are missing
// (see the package doc) and fails t on any other error.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		unavailable(t, err)
	}
	dir := t.TempDir()
	s := &Server{
		Domain:       Domain,
		Dir:          dir,
		ConfigPath:   filepath.Join(dir, "dendrite.yaml"),
		LogPath:      filepath.Join(dir, "dendrite.log"),
		SharedSecret: randomHex(16),
		bin:          bin,
	}
	if err := s.configure(opts); err != nil {
		t.Fatalf("configure dendrite: %v", err)
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", s.LogPath, s.logTail(0))
		}
	})

	const attempts = 3
	for i := 1; ; i++ {
		s.addr = freeAddr(t)
		s.URL = "http://" + s.addr
		err := s.launch(t)
		if err == nil {
			break
		}
		if i < attempts && errors.Is(err, errAddrInUse) {
			continue
		}
		t.Fatalf("start dendrite: %v", err)
	}
	return s
}

// unavailable skips t, or fails it when ISTHMUS_REQUIRE_DENDRITE is set (to anything but "0").
func unavailable(t testing.TB, err error) {
	t.Helper()
	if v := os.Getenv("ISTHMUS_REQUIRE_DENDRITE"); v != "" && v != "0" {
		t.Fatalf("dendrite %s is required (ISTHMUS_REQUIRE_DENDRITE=%s) but unavailable: %v", Version, v, err)
	}
	t.Skipf("skipping: dendrite %s binaries unavailable (run scripts/build-dendrite.sh; "+
		"set ISTHMUS_REQUIRE_DENDRITE=1 to fail instead): %v", Version, err)
}

// Stop stops the server gracefully (SIGTERM, then SIGKILL after 10 s) and keeps its data, so
// [Server.Restart] can bring it back. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Restart stops the server if it runs, then starts it again on the same address with the same
// data, and waits until it answers. Events queued for an appservice survive the restart.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	if err := s.launch(t); err != nil {
		t.Fatalf("restart dendrite: %v", err)
	}
}

// launch starts the binary on s.addr and waits until the client API answers. On failure the
// process is gone; the cleanup registered by Start prints the log.
func (s *Server) launch(t testing.TB) error {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("already running")
	}

	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	info, err := logFile.Stat()
	if err != nil {
		return fmt.Errorf("stat log: %w", err)
	}
	logStart := info.Size()

	cmd := exec.Command(filepath.Join(s.bin, "dendrite"),
		"-config", s.ConfigPath,
		"-http-bind-address", s.addr,
	)
	cmd.Dir = s.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	if err := s.waitReady(p); err != nil {
		p.terminate()
		tail := s.logTail(logStart)
		if strings.Contains(tail, "address already in use") {
			return fmt.Errorf("listen on %s: %w", s.addr, errAddrInUse)
		}
		return fmt.Errorf("%w (the log's tail is printed when the test ends)", err)
	}
	s.proc = p
	// The start time is worth seeing next to slow tests; it shows with -v or on failure.
	t.Logf("dendrite %s up at %s in %v", Version, s.URL, time.Since(begin).Round(time.Millisecond))
	return nil
}

// waitReady polls /_matrix/client/versions until it answers 200, the process exits, or
// readyTimeout passes.
func (s *Server) waitReady(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/_matrix/client/versions", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("dendrite exited before answering: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("dendrite did not answer on %s within %v", s.URL, readyTimeout)
		case <-tick.C:
		}
	}
}

// stop ends the running process, if any.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.terminate()
	s.proc = nil
}

// terminate sends SIGTERM, waits up to stopGrace, then kills, and returns once the process is reaped.
func (p *process) terminate() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail returns the last logTailLines lines of the log written from byte offset from on.
func (s *Server) logTail(from int64) string {
	data, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if from > 0 && from <= int64(len(data)) {
		data = data[from:]
	}
	return lastLines(string(data), logTailLines)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
