package bridge

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	metricRemoteEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_remote_events_total",
		Help: "Remote events by outcome (handled, retried, failed).",
	}, []string{"outcome"})
	metricRemoteDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "isthmus_remote_event_seconds",
		Help:    "Time to bridge one remote event to Matrix.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	metricMatrixEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_matrix_events_total",
		Help: "Matrix events routed to networks by outcome.",
	}, []string{"outcome"})
	metricSessions = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "isthmus_sessions",
		Help: "Sessions by network and state.",
	}, []string{"network", "state"})
	_ = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "isthmus_remote_queue_depth",
		Help: "Remote events queued or running.",
	}, func() float64 {
		br := current.Load()
		if br == nil {
			return 0
		}
		return float64(br.RemoteBacklog())
	})
)

// current is the running bridge for gauge callbacks; one per process.
var current atomic.Pointer[Bridge]

var metricHomeserverLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "isthmus_homeserver_request_seconds",
	Help:    "Latency of requests to the homeserver by method and outcome.",
	Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
}, []string{"method", "outcome"})

// timedTransport measures every request the intents make to the homeserver.
type timedTransport struct{ base http.RoundTripper }

func (t timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	outcome := "error"
	if err == nil {
		outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	metricHomeserverLatency.WithLabelValues(req.Method, outcome).Observe(time.Since(start).Seconds())
	if err != nil && req.Context().Err() == nil {
		err = hsUnreachable{err}
	}
	return resp, err
}

// hsUnreachable marks an error of a request to the homeserver that got no
// answer at all (refused, reset, timed out): an outage to wait out.
type hsUnreachable struct{ err error }

func (e hsUnreachable) Error() string { return "homeserver unreachable: " + e.err.Error() }
func (e hsUnreachable) Unwrap() error { return e.err }
