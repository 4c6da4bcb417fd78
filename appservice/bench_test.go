package appservice

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/storage"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// countingHandler is a no-op handler that counts events.
type countingHandler struct {
	recorder
	n atomic.Int64
}

func (h *countingHandler) HandleEvent(context.Context, *event.Event) error {
	h.n.Add(1)
	return nil
}

// BenchmarkIngest sends b.N message events, spread over 100 rooms, in
// transactions of 50 (Dendrite's batch size) one after another, as a
// homeserver does, over loopback HTTP. journaled-events/s is the rate at
// which PUTs were answered (journal written); handled-events/s includes the
// no-op handler having seen every event.
func BenchmarkIngest(b *testing.B) {
	for _, typ := range []storage.Type{storage.SQLite, storage.Postgres} {
		b.Run(string(typ), func(b *testing.B) {
			h := &countingHandler{}
			srv := newServer(b, storagetest.Open(b, typ), h)
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			const perTxn = 50
			bodies := make([][]byte, 0, b.N/perTxn+1)
			for i := 0; i < b.N; i += perTxn {
				evts := make([]map[string]any, 0, perTxn)
				for j := i; j < min(i+perTxn, b.N); j++ {
					evts = append(evts, msg(fmt.Sprintf("r%02d", j%100), j))
				}
				bodies = append(bodies, txnJSON(b, evts...))
			}
			client := hs.Client()

			b.ResetTimer()
			start := time.Now()
			for i, body := range bodies {
				req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/_matrix/app/v1/transactions/b%d", hs.URL, i), bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+testHSToken)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("transaction %d: status %d", i, res.StatusCode)
				}
			}
			journaled := time.Since(start)
			for h.n.Load() < int64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			handled := time.Since(start)
			b.StopTimer()

			b.ReportMetric(float64(b.N)/journaled.Seconds(), "journaled-events/s")
			b.ReportMetric(float64(b.N)/handled.Seconds(), "handled-events/s")
		})
	}
}
