package appservice

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Transaction outcomes for metricTransactions.
const (
	txnAccepted    = "accepted"    // journaled and answered 200
	txnDuplicate   = "duplicate"   // seen before, answered 200 without handling
	txnRejected    = "rejected"    // malformed, answered 4xx
	txnUnavailable = "unavailable" // not running or given up while held back, 503
	txnError       = "error"       // the journal write failed, 500
)

// Event outcomes for metricEvents.
const (
	evtHandled = "handled" // HandleEvent returned nil
	evtRetried = "retried" // HandleEvent failed and will be tried again
	evtFailed  = "failed"  // given up: EventFailed was called
)

// The gauges move by deltas, not Set, so several servers in one process (as
// in tests) add up instead of overwriting each other.
var (
	metricTransactions = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_appservice_transactions_total",
		Help: "Transactions received from the homeserver, by outcome.",
	}, []string{"outcome"})
	metricEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_appservice_events_total",
		Help: "Handler attempts on journaled events, by outcome.",
	}, []string{"outcome"})
	metricBacklog = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "isthmus_appservice_backlog_events",
		Help: "Journaled events waiting for or in a handler.",
	})
	metricInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "isthmus_appservice_handlers_in_flight",
		Help: "HandleEvent calls running now.",
	})
	metricHandlerDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "isthmus_appservice_handler_duration_seconds",
		Help:    "Time spent in one HandleEvent call.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to 16 s
	})
)

func init() {
	// Every outcome shows from the start, at zero.
	for _, o := range []string{txnAccepted, txnDuplicate, txnRejected, txnUnavailable, txnError} {
		metricTransactions.WithLabelValues(o)
	}
	for _, o := range []string{evtHandled, evtRetried, evtFailed} {
		metricEvents.WithLabelValues(o)
	}
}
