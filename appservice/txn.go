package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// transaction is the body of PUT /transactions/{txnId}. Only "events" can
// make a transaction fail; every other field is kept raw and read loosely,
// so that an odd to-device or device-list payload never blocks the
// homeserver's queue. The to-device, device-list and key-count fields are
// not used yet (the bridge does no end-to-end encryption).
type transaction struct {
	Events []json.RawMessage `json:"events"`

	Ephemeral        json.RawMessage `json:"ephemeral"`
	MSC2409Ephemeral json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`

	ToDevice            json.RawMessage `json:"to_device"`
	MSC2409ToDevice     json.RawMessage `json:"de.sorunome.msc2409.to_device"`
	DeviceLists         json.RawMessage `json:"device_lists"`
	MSC3202DeviceLists  json.RawMessage `json:"org.matrix.msc3202.device_lists"`
	OTKCounts           json.RawMessage `json:"device_one_time_keys_count"`
	MSC3202OTKCounts    json.RawMessage `json:"org.matrix.msc3202.device_one_time_keys_count"`
	FallbackKeys        json.RawMessage `json:"device_unused_fallback_key_types"`
	MSC3202FallbackKeys json.RawMessage `json:"org.matrix.msc3202.device_unused_fallback_key_types"`
}

// eventHeader is what a journaled event must have: a type. The room decides
// the queue; an event without room_id (never sent by a homeserver, as every
// PDU has one) goes to the shared "" queue rather than failing the whole
// transaction, which the homeserver would retry forever.
type eventHeader struct {
	Type    string `json:"type"`
	RoomID  string `json:"room_id"`
	EventID string `json:"event_id"`
}

// parseTransaction validates a body and turns its events into journal items.
// The error is the answer for the homeserver: M_NOT_JSON for a body that is
// not JSON (or not UTF-8), M_BAD_JSON for JSON of the wrong shape.
func parseTransaction(body []byte) (*transaction, []*item, *mautrix.RespError) {
	if !utf8.Valid(body) {
		e := mautrix.MNotJSON.WithMessage("Request body is not UTF-8")
		return nil, nil, &e
	}
	var txn transaction
	if err := json.Unmarshal(body, &txn); err != nil {
		e := jsonError(err)
		return nil, nil, &e
	}
	items := make([]*item, len(txn.Events))
	for i, raw := range txn.Events {
		var hdr eventHeader
		if err := json.Unmarshal(raw, &hdr); err != nil {
			e := mautrix.MBadJSON.WithMessage("events[%d] is not a valid event: %v", i, err)
			return nil, nil, &e
		}
		if hdr.Type == "" {
			e := mautrix.MBadJSON.WithMessage("events[%d] has no type", i)
			return nil, nil, &e
		}
		items[i] = &item{
			roomID:  id.RoomID(hdr.RoomID),
			eventID: id.EventID(hdr.EventID),
			evtType: hdr.Type,
			raw:     string(raw),
		}
	}
	return &txn, items, nil
}

var (
	errNotRunning = mautrix.MUnknown.WithStatus(http.StatusServiceUnavailable).WithMessage("The bridge is not running; retry later")
	errBusy       = mautrix.MLimitExceeded.WithStatus(http.StatusServiceUnavailable).WithMessage("The bridge is busy; retry later")
)

// putTransaction receives a transaction: it validates it, waits while the
// backlog is full, journals it (or recognises it as a duplicate), queues its
// events and only then answers 200. Once the journal write has begun, the
// work no longer depends on the request's context.
func (s *Server) putTransaction(w http.ResponseWriter, r *http.Request) {
	txnID := r.PathValue("txnId")
	log := s.logger().With().Str("txn_id", txnID).Logger()
	body, ok := readBody(w, r)
	if !ok {
		metricTransactions.WithLabelValues(txnRejected).Inc()
		return
	}
	txn, items, rerr := parseTransaction(body)
	if rerr != nil {
		metricTransactions.WithLabelValues(txnRejected).Inc()
		log.Warn().Str("errcode", rerr.ErrCode).Str("error", rerr.Err).Msg("Rejected malformed transaction")
		rerr.Write(w)
		return
	}
	if s.state.Load() != stateRunning {
		metricTransactions.WithLabelValues(txnUnavailable).Inc()
		errNotRunning.Write(w)
		return
	}
	if err := s.disp.reserve(r.Context(), len(items)); err != nil {
		metricTransactions.WithLabelValues(txnUnavailable).Inc()
		log.Debug().Err(err).Int("events", len(items)).Msg("Gave up holding a transaction back")
		errBusy.Write(w)
		return
	}
	ctx := log.WithContext(context.WithoutCancel(r.Context()))
	dup, err := s.ingest(ctx, txnID, items)
	switch {
	case err != nil:
		s.disp.release(len(items))
		metricTransactions.WithLabelValues(txnError).Inc()
		log.Err(err).Msg("Failed to journal transaction")
		mautrix.MUnknown.WithMessage("Failed to store transaction").Write(w)
		return
	case dup:
		s.disp.release(len(items))
		metricTransactions.WithLabelValues(txnDuplicate).Inc()
		log.Debug().Msg("Ignored a transaction seen before")
		writeEmpty(w)
		return
	}
	metricTransactions.WithLabelValues(txnAccepted).Inc()
	log.Debug().Int("events", len(items)).Msg("Journaled transaction")
	s.deliverEphemeral(ctx, txn)
	writeEmpty(w)
}

// ingest journals a transaction and queues its events, under ingestMu so
// that the queues see transactions in journal order.
func (s *Server) ingest(ctx context.Context, txnID string, items []*item) (dup bool, err error) {
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	dup, err = s.journal.insert(ctx, txnID, items)
	if err != nil || dup {
		return dup, err
	}
	s.disp.enqueue(items)
	return false, nil
}

// deliverEphemeral hands the transaction's ephemeral events to the handler,
// from the stable field or else the MSC2409 one. Entries that do not parse
// are skipped: ephemeral events are best effort.
func (s *Server) deliverEphemeral(ctx context.Context, txn *transaction) {
	raw := txn.Ephemeral
	if isNull(raw) {
		raw = txn.MSC2409Ephemeral
	}
	if isNull(raw) {
		return
	}
	log := zerolog.Ctx(ctx)
	var evts []json.RawMessage
	if err := json.Unmarshal(raw, &evts); err != nil {
		log.Warn().Err(err).Msg("Ignored ephemeral events that are not a list")
		return
	}
	for i, r := range evts {
		evt, err := decodeEphemeral(r)
		if err != nil {
			log.Debug().Err(err).Int("index", i).Msg("Ignored an ephemeral event that does not parse")
			continue
		}
		elog := log.With().Stringer("room_id", evt.RoomID).Str("event_type", evt.Type.Type).Logger()
		s.callEphemeral(elog.WithContext(ctx), evt)
	}
}

func decodeEphemeral(raw json.RawMessage) (*event.Event, error) {
	evt := &event.Event{}
	if err := json.Unmarshal(raw, evt); err != nil {
		return nil, err
	}
	if evt.Type.Type == "" {
		return nil, fmt.Errorf("no type")
	}
	evt.Type.Class = event.EphemeralEventType
	evt.Mautrix.EventSource = event.SourceEphemeral
	if len(evt.Content.VeryRaw) > 0 {
		if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrUnsupportedContentType) {
			return nil, fmt.Errorf("parse %s content: %w", evt.Type.Type, err)
		}
	}
	return evt, nil
}

func (s *Server) callEphemeral(ctx context.Context, evt *event.Event) {
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(ctx).Error().Any("panic", p).Str("stack", string(debug.Stack())).Msg("Ephemeral event handler panicked")
		}
	}()
	s.handler.HandleEphemeral(ctx, evt)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
