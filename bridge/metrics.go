package bridge

import (
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
	metricRemoteBacklog = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "isthmus_remote_queue_depth",
		Help: "Remote events queued or running.",
	}, func() float64 {
		if current == nil {
			return 0
		}
		return float64(current.RemoteBacklog())
	})
)

// current is the running bridge for gauge callbacks; one per process.
var current *Bridge
