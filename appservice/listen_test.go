package appservice

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
)

func TestListenAndServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	gate := make(chan struct{})
	defer close(gate)
	rec := &recorder{handle: func(ctx context.Context, evt *event.Event) error {
		if evt.RoomID == roomID("slow") {
			<-gate
		}
		return nil
	}}
	srv := newServer(t, sqliteDB(t), rec, withMaxBacklog(1), func(s *Server) { s.cfg.Listen = addr })
	ctx, cancel := context.WithCancel(testContext())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }()

	send := func(txnID string, body []byte) (int, error) {
		req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testHSToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		return res.StatusCode, nil
	}
	require.Eventually(t, func() bool {
		code, err := send("t1", txnJSON(t, msg("slow", 1)))
		return err == nil && code == 200
	}, waitTime, tick)

	t.Run("a transaction held back by backpressure is answered 503 on shutdown", func(t *testing.T) {
		answered := make(chan int, 1)
		go func() {
			code, _ := send("t2", txnJSON(t, msg("fast", 1)))
			answered <- code
		}()
		require.Eventually(t, func() bool { return srv.Stats().HeldTransactions == 1 }, waitTime, tick)
		cancel()
		assert.Equal(t, http.StatusServiceUnavailable, <-answered)
	})
	t.Run("ListenAndServe returns nil after a graceful shutdown", func(t *testing.T) {
		assert.NoError(t, <-served)
	})
	t.Run("a busy address is an error", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer busy.Close()
		srv.cfg.Listen = busy.Addr().String()
		assert.Error(t, srv.ListenAndServe(context.Background()))
	})
}
