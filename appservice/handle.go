package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
)

// work is one worker goroutine: it takes a ready room's head event, runs one
// attempt, and reports the outcome, until the dispatcher closes.
func (s *Server) work() {
	defer s.workers.Done()
	for {
		rq, it, ok := s.disp.next()
		if !ok {
			return
		}
		out, delay := s.attempt(it)
		if out == outcomeDone {
			s.reaper.add(it.key)
		}
		s.disp.finish(rq, out, delay)
	}
}

// attempt runs HandleEvent once for an event and decides what comes next.
func (s *Server) attempt(it *item) (outcome, time.Duration) {
	log := s.logger().With().
		Stringer("room_id", it.roomID).
		Stringer("event_id", it.eventID).
		Str("event_type", it.evtType).
		Logger()
	ctx := log.WithContext(s.ctx)

	evt, err := decodeEvent(it)
	if err != nil {
		s.fail(ctx, evt, fmt.Errorf("%w: decode event: %w", ErrPermanent, err))
		return outcomeDone, 0
	}

	start := time.Now()
	err = s.callHandler(ctx, evt)
	metricHandlerDuration.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		metricEvents.WithLabelValues(evtHandled).Inc()
		return outcomeDone, 0
	case s.ctx.Err() != nil:
		// Stop gave up waiting and cancelled the handler: not the event's
		// fault, so no attempt is counted and it replays on the next start.
		return outcomeAbandon, 0
	case errors.Is(err, ErrPermanent), it.attempts+1 >= s.cfg.MaxAttempts:
		s.fail(ctx, evt, err)
		return outcomeDone, 0
	}
	it.attempts++
	if dbErr := s.journal.setAttempts(ctx, it.key, it.attempts); dbErr != nil {
		log.Err(dbErr).Msg("Failed to record the attempt count")
	}
	metricEvents.WithLabelValues(evtRetried).Inc()
	delay := s.backoff(it.attempts)
	log.Warn().Err(err).
		Int("attempt", it.attempts).
		Int("max_attempts", s.cfg.MaxAttempts).
		Dur("retry_in", delay).
		Msg("Handling event failed, retrying later")
	return outcomeRetry, delay
}

// callHandler calls HandleEvent, turning a panic into an error so that one
// bad event does not take the bridge down.
func (s *Server) callHandler(ctx context.Context, evt *event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(ctx).Error().Str("stack", string(debug.Stack())).Any("panic", p).Msg("Event handler panicked")
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return s.handler.HandleEvent(ctx, evt)
}

// fail gives up on an event: it is logged, counted, and reported to the
// handler's EventFailed.
func (s *Server) fail(ctx context.Context, evt *event.Event, err error) {
	metricEvents.WithLabelValues(evtFailed).Inc()
	zerolog.Ctx(ctx).Error().Err(err).Msg("Giving up on event")
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(ctx).Error().Str("stack", string(debug.Stack())).Any("panic", p).Msg("EventFailed panicked")
		}
	}()
	s.handler.EventFailed(ctx, evt, err)
}

// backoff is the wait after the given number of failed attempts: the base,
// doubled each time, capped.
func (s *Server) backoff(attempts int) time.Duration {
	d := s.retryBase
	for i := 1; i < attempts && d < s.retryMax; i++ {
		d *= 2
	}
	return min(d, s.retryMax)
}

// decodeEvent parses a journaled event. Content of a type mautrix does not
// know stays unparsed (Content.Raw still has it); content that does not fit
// its known type is an error. On error the returned event still carries
// the room, ID and type, for EventFailed.
func decodeEvent(it *item) (*event.Event, error) {
	evt := &event.Event{}
	if err := json.Unmarshal([]byte(it.raw), evt); err != nil {
		return &event.Event{ID: it.eventID, RoomID: it.roomID, Type: event.Type{Type: it.evtType}}, err
	}
	if evt.StateKey != nil {
		evt.Type.Class = event.StateEventType
	} else {
		evt.Type.Class = event.MessageEventType
	}
	evt.Mautrix.EventSource = event.SourceTimeline
	if len(evt.Content.VeryRaw) == 0 {
		return evt, nil
	}
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrUnsupportedContentType) {
		return evt, fmt.Errorf("parse %s content: %w", evt.Type.Type, err)
	}
	return evt, nil
}
