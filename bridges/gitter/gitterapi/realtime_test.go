package gitterapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
)

// collector gathers what a stream or Faye connection delivers.
type collector[T any] struct {
	mu    sync.Mutex
	items []T
}

func (c *collector[T]) add(v T) {
	c.mu.Lock()
	c.items = append(c.items, v)
	c.mu.Unlock()
}

func (c *collector[T]) get() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.items...)
}

func TestStreamMessages(t *testing.T) {
	t.Run("posted, edited and deleted messages arrive in order between keep-alives", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{Heartbeat: 5 * time.Millisecond})
		c := w.client(t, w.aliceTok)
		ctx, cancel := context.WithCancel(testCtx(t))
		var got collector[gitterapi.Message]
		opened := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- c.StreamMessages(ctx, w.room.ID, func(context.Context) error { close(opened); return nil },
				func(m *gitterapi.Message) error { got.add(*m); return nil })
		}()
		<-opened
		require.Eventually(t, func() bool { return w.emu.StreamCount() == 1 }, 5*time.Second, time.Millisecond)
		m := w.emu.Post(w.room.ID, w.bob.ID, "one\ntwo")
		time.Sleep(20 * time.Millisecond) // several keep-alives in between
		w.emu.Edit(w.room.ID, w.bob.ID, m.ID, "one\nthree")
		w.emu.Delete(w.room.ID, w.bob.ID, m.ID)
		require.Eventually(t, func() bool { return len(got.get()) == 3 }, 5*time.Second, time.Millisecond)
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		items := got.get()
		assert.Equal(t, "one\ntwo", items[0].Text)
		assert.True(t, items[0].EditedAt.IsZero())
		assert.Equal(t, "one\nthree", items[1].Text)
		assert.False(t, items[1].EditedAt.IsZero())
		assert.True(t, items[2].Deleted())
	})
	t.Run("a silent stream is reported stalled", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{Heartbeat: time.Hour})
		c := w.client(t, w.aliceTok, func(o *gitterapi.Options) { o.StreamIdle = 50 * time.Millisecond })
		err := c.StreamMessages(testCtx(t), w.room.ID, nil, func(*gitterapi.Message) error { return nil })
		assert.ErrorIs(t, err, gitterapi.ErrStreamStalled)
	})
	t.Run("a dropped stream ends with an error", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok)
		done := make(chan error, 1)
		go func() {
			done <- c.StreamMessages(testCtx(t), w.room.ID, nil, func(*gitterapi.Message) error { return nil })
		}()
		require.Eventually(t, func() bool { return w.emu.StreamCount() == 1 }, 5*time.Second, time.Millisecond)
		w.emu.DropStreams()
		err := <-done
		require.Error(t, err)
		assert.NotErrorIs(t, err, context.Canceled)
	})
	t.Run("a refused stream is a temporary API error", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		w.emu.RefuseStreams(true)
		c := w.client(t, w.aliceTok)
		err := c.StreamMessages(testCtx(t), w.room.ID, nil, func(*gitterapi.Message) error { return nil })
		var apiErr *gitterapi.APIError
		require.True(t, errors.As(err, &apiErr))
		assert.True(t, apiErr.Temporary())
	})
	t.Run("an error from onOpen or fn ends the stream with it", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok)
		boom := errors.New("boom")
		err := c.StreamMessages(testCtx(t), w.room.ID, func(context.Context) error { return boom }, nil)
		assert.ErrorIs(t, err, boom)
		require.Eventually(t, func() bool { return w.emu.StreamCount() == 0 }, 5*time.Second, time.Millisecond)
		done := make(chan error, 1)
		go func() {
			done <- c.StreamMessages(testCtx(t), w.room.ID, nil, func(*gitterapi.Message) error { return boom })
		}()
		require.Eventually(t, func() bool { return w.emu.StreamCount() == 1 }, 5*time.Second, time.Millisecond)
		w.emu.Post(w.room.ID, w.bob.ID, "x")
		assert.ErrorIs(t, <-done, boom)
	})
}

type fayeData struct {
	channel string
	ev      gitterapi.FayeEvent
}

// runFaye dials and runs a Faye connection for the test's lifetime.
func runFaye(t *testing.T, c *gitterapi.Client) (*gitterapi.FayeConn, *collector[fayeData], chan error) {
	t.Helper()
	f, err := c.DialFaye(testCtx(t))
	require.NoError(t, err)
	var got collector[fayeData]
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		done <- f.Run(ctx, func(ch string, data json.RawMessage) {
			var ev gitterapi.FayeEvent
			require.NoError(t, json.Unmarshal(data, &ev))
			got.add(fayeData{ch, ev})
		})
	}()
	return f, &got, done
}

func TestFaye(t *testing.T) {
	t.Run("subscribed channels deliver messages, members and presence", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok)
		f, got, _ := runFaye(t, c)
		assert.NotEmpty(t, f.ClientID())
		ctx := testCtx(t)
		for _, ch := range []string{
			gitterapi.RoomChannel(w.room.ID),
			gitterapi.RoomMessagesChannel(w.room.ID),
			gitterapi.RoomUsersChannel(w.room.ID),
			gitterapi.UserRoomsChannel(w.alice.ID),
		} {
			require.NoError(t, f.Subscribe(ctx, ch))
		}
		m := w.emu.Post(w.room.ID, w.bob.ID, "hello")
		w.emu.SetPresence(w.room.ID, w.bob.ID, true)
		carol, _ := w.emu.AddUser("carol", "Carol")
		w.emu.Join(w.room.ID, carol.ID)
		w.emu.Leave(w.room.ID, w.alice.ID)
		require.Eventually(t, func() bool { return len(got.get()) == 5 }, 5*time.Second, time.Millisecond)
		items := got.get()

		assert.Equal(t, gitterapi.RoomMessagesChannel(w.room.ID), items[0].channel)
		assert.Equal(t, gitterapi.OpCreate, items[0].ev.Operation)
		var gm gitterapi.Message
		require.NoError(t, json.Unmarshal(items[0].ev.Model, &gm))
		assert.Equal(t, m.ID, gm.ID)

		assert.Equal(t, gitterapi.FayeEvent{Notification: "presence", UserID: w.bob.ID, Status: "in"}, items[1].ev)

		assert.Equal(t, gitterapi.RoomUsersChannel(w.room.ID), items[2].channel)
		assert.Equal(t, gitterapi.OpCreate, items[2].ev.Operation)

		assert.Equal(t, gitterapi.OpRemove, items[3].ev.Operation)
		assert.Equal(t, gitterapi.UserRoomsChannel(w.alice.ID), items[4].channel)
		assert.Equal(t, gitterapi.OpRemove, items[4].ev.Operation)
	})
	t.Run("a room the user is not in cannot be subscribed", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		private := w.emu.AddRoom("bob/private", "", gitterapi.RoomUserChannel, w.bob.ID)
		f, _, _ := runFaye(t, w.client(t, w.aliceTok))
		err := f.Subscribe(testCtx(t), gitterapi.RoomMessagesChannel(private.ID))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Forbidden")
	})
	t.Run("a held connect is renewed and the connection lives on", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{FayeTimeout: 10 * time.Millisecond})
		f, got, _ := runFaye(t, w.client(t, w.aliceTok))
		require.NoError(t, f.Subscribe(testCtx(t), gitterapi.RoomMessagesChannel(w.room.ID)))
		time.Sleep(60 * time.Millisecond)
		w.emu.Post(w.room.ID, w.bob.ID, "still here")
		require.Eventually(t, func() bool { return len(got.get()) == 1 }, 5*time.Second, time.Millisecond)
	})
	t.Run("a server that forgot the client asks for a new handshake", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		_, _, done := runFaye(t, w.client(t, w.aliceTok))
		require.Eventually(t, func() bool {
			w.emu.ForgetFayeClients()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, gitterapi.ErrRehandshake)
				return true
			default:
				return false
			}
		}, 5*time.Second, 5*time.Millisecond)
	})
	t.Run("a dropped socket ends Run with an error", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		_, _, done := runFaye(t, w.client(t, w.aliceTok))
		w.emu.DropFaye()
		err := <-done
		require.Error(t, err)
	})
	t.Run("eyeballs publish the user's presence to their rooms", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		bobFaye, got, _ := runFaye(t, w.client(t, w.bobTok))
		require.NoError(t, bobFaye.Subscribe(testCtx(t), gitterapi.RoomChannel(w.room.ID)))
		alice := w.client(t, w.aliceTok)
		aliceFaye, _, _ := runFaye(t, alice)
		require.NoError(t, alice.Eyeballs(testCtx(t), aliceFaye.ClientID(), false))
		require.Eventually(t, func() bool { return len(got.get()) == 1 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, gitterapi.FayeEvent{Notification: "presence", UserID: w.alice.ID, Status: "out"}, got.get()[0].ev)
	})
	t.Run("closing ends Run and fails later subscriptions", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		f, _, done := runFaye(t, w.client(t, w.aliceTok))
		require.NoError(t, f.Close())
		<-done
		assert.Error(t, f.Subscribe(testCtx(t), gitterapi.RoomChannel(w.room.ID)))
	})
}
