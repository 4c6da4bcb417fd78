package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler is every HTTP route the bridge serves on appservice.listen: the
// appservice API for the homeserver, /_isthmus/health and, when it is on,
// the provisioning API.
func (br *Bridge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_isthmus/health", br.serveHealth)
	br.routeProvisioning(mux)
	mux.Handle("/", br.Server.Handler())
	return mux
}

type health struct {
	Status        string         `json:"status"`
	RemoteBacklog int            `json:"remote_backlog"`
	Sessions      map[string]int `json:"sessions"`
}

func (br *Bridge) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := health{Status: "ok", RemoteBacklog: br.RemoteBacklog(), Sessions: map[string]int{}}
	br.sessMu.RLock()
	for _, list := range br.sessions {
		for _, e := range list {
			h.Sessions[string(e.currentState().Kind)]++
		}
	}
	br.sessMu.RUnlock()
	if err := br.db.RawDB.PingContext(r.Context()); err != nil {
		h.Status = "database unreachable"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h)
}

// Run starts the bridge, serves the homeserver until ctx is done, then
// stops gracefully. It returns an error when starting fails.
func (br *Bridge) Run(ctx context.Context, opts Options) error {
	if err := br.Start(ctx, opts); err != nil {
		_ = br.Stop(context.Background())
		return err
	}
	current.Store(br)
	ln, err := net.Listen("tcp", br.Config.Appservice.Listen)
	if err != nil {
		_ = br.Stop(context.Background())
		return fmt.Errorf("listen on %s: %w", br.Config.Appservice.Listen, err)
	}
	srv := &http.Server{Handler: br.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var metricsSrv *http.Server
	if br.Config.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		metricsSrv = &http.Server{Addr: br.Config.Metrics.Listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.ListenAndServe() }()
	}
	br.Log.Info().Str("listen", br.Config.Appservice.Listen).Int("networks", len(br.networks)).Msg("Bridge is running")
	// br.ctx, not ctx: the retries must end when the bridge stops, however
	// Run ends.
	go br.announceBot(br.ctx)
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("http server: %w", err)
		}
	}
	br.Log.Info().Msg("Stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdownCtx)
	}
	if err := br.Stop(shutdownCtx); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// announceBot registers the bot and sets its profile once the homeserver
// answers; a homeserver that is down is not a reason to stop the bridge.
func (br *Bridge) announceBot(ctx context.Context) {
	bot := br.AS.BotIntent()
	for delay := time.Second; ; delay = min(delay*2, time.Minute) {
		err := br.ensureBot(ctx)
		if err == nil {
			name := br.Config.Appservice.Bot.Displayname
			if name != "" {
				err = bot.SetDisplayName(ctx, name)
			}
		}
		if err == nil {
			return
		}
		br.Log.Warn().Err(err).Dur("retry_in", delay).Msg("Homeserver not reachable yet")
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// ensureBot registers the bot once. mautrix's intent writes its Registered
// flag without a lock, so the first registration is serialised here.
func (br *Bridge) ensureBot(ctx context.Context) error {
	br.botMu.Lock()
	defer br.botMu.Unlock()
	if br.botReady {
		return nil
	}
	if err := br.AS.BotIntent().EnsureRegistered(ctx); err != nil {
		return fmt.Errorf("register bridge bot: %w", err)
	}
	br.botReady = true
	return nil
}
