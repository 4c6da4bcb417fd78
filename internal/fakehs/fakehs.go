// Package fakehs is a fast fake homeserver for benchmarks: it answers the
// client-server calls the bridge makes with the smallest valid responses and
// counts sent events, so a benchmark measures the bridge, not a database-
// backed homeserver. Correctness is tested against real Dendrite instead.
package fakehs

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the fake homeserver.
type Server struct {
	URL  string
	srv  *httptest.Server
	sent atomic.Int64
	next atomic.Int64

	mu        sync.Mutex
	txns      map[string]string // txn path → event ID, as a real server dedupes
	latencies []time.Duration   // for bodies holding "t=<unix ns> "
}

// New starts a fake homeserver on a loopback port.
func New() *Server {
	s := &Server{txns: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops it.
func (s *Server) Close() { s.srv.Close() }

// Sent is the number of message events sent (not counting repeats of a
// transaction ID).
func (s *Server) Sent() int64 { return s.sent.Load() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	w.Header().Set("Content-Type", "application/json")
	switch {
	case p == "/_matrix/client/versions":
		write(w, map[string]any{"versions": []string{"v1.11"}})
	case p == "/_fakehs/sent":
		write(w, map[string]any{"sent": s.sent.Load()})
	case p == "/_fakehs/reset":
		s.mu.Lock()
		s.latencies = nil
		s.mu.Unlock()
		write(w, map[string]any{})
	case p == "/_fakehs/latency":
		write(w, s.percentiles())
	case strings.HasSuffix(p, "/register"):
		write(w, map[string]any{"user_id": "@x:fake"})
	case strings.HasSuffix(p, "/createRoom"):
		write(w, map[string]any{"room_id": "!r" + strconv.FormatInt(s.next.Add(1), 10) + ":fake"})
	case strings.Contains(p, "/join"):
		room := p[strings.LastIndex(p, "/")+1:]
		if strings.HasSuffix(p, "/join") {
			parts := strings.Split(p, "/")
			room = parts[len(parts)-2]
		}
		write(w, map[string]any{"room_id": room})
	case strings.Contains(p, "/send/"):
		s.mu.Lock()
		id, ok := s.txns[p+r.URL.Query().Get("user_id")]
		if !ok {
			id = "$e" + strconv.FormatInt(s.next.Add(1), 10)
			s.txns[p+r.URL.Query().Get("user_id")] = id
			s.sent.Add(1)
			var body struct{ Body string }
			if json.NewDecoder(r.Body).Decode(&body) == nil && strings.Contains(body.Body, "t=") {
				_, stamp, _ := strings.Cut(body.Body, "t=")
				stamp, _, _ = strings.Cut(stamp, " ")
				if ns, err := strconv.ParseInt(stamp, 10, 64); err == nil {
					s.latencies = append(s.latencies, time.Since(time.Unix(0, ns)))
				}
			}
		}
		s.mu.Unlock()
		write(w, map[string]any{"event_id": id})
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		write(w, map[string]any{"event_id": "$s" + strconv.FormatInt(s.next.Add(1), 10)})
	default:
		write(w, map[string]any{})
	}
}

func write(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

// percentiles of the latencies recorded so far, in milliseconds.
func (s *Server) percentiles() map[string]float64 {
	s.mu.Lock()
	l := append([]time.Duration(nil), s.latencies...)
	s.mu.Unlock()
	if len(l) == 0 {
		return map[string]float64{}
	}
	slices.Sort(l)
	at := func(q float64) float64 { return float64(l[int(q*float64(len(l)-1))].Microseconds()) / 1000 }
	return map[string]float64{"p50": at(0.5), "p99": at(0.99), "max": at(1), "n": float64(len(l))}
}
