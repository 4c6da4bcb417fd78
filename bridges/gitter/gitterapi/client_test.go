package gitterapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
)

type world struct {
	emu        *gitteremu.Server
	alice, bob gitterapi.User
	aliceTok   string
	bobTok     string
	room       gitterapi.Room
	dm         gitterapi.Room
}

func newWorld(t *testing.T, opts gitteremu.Options) *world {
	t.Helper()
	emu := gitteremu.New(opts)
	t.Cleanup(emu.Close)
	w := &world{emu: emu}
	w.alice, w.aliceTok = emu.AddUser("alice", "Alice A")
	w.bob, w.bobTok = emu.AddUser("bob", "Bob B")
	w.room = emu.AddRoom("acme/chat", "Acme talk", gitterapi.RoomOrgChannel, w.alice.ID, w.bob.ID)
	w.dm = emu.AddOneToOne(w.alice.ID, w.bob.ID)
	return w
}

func (w *world) client(t *testing.T, token string, tweak ...func(*gitterapi.Options)) *gitterapi.Client {
	t.Helper()
	opts := gitterapi.Options{
		APIURL:    w.emu.APIURL(),
		StreamURL: w.emu.StreamURL(),
		FayeURL:   w.emu.FayeURL(),
		RetryBase: time.Millisecond,
	}
	for _, f := range tweak {
		f(&opts)
	}
	c, err := gitterapi.New(opts, token)
	require.NoError(t, err)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewChecksConfig(t *testing.T) {
	cases := []struct {
		name  string
		opts  gitterapi.Options
		token string
		want  string
	}{
		{"an empty token is refused", gitterapi.Options{APIURL: "https://a/", StreamURL: "https://s/"}, "", "empty token"},
		{"an api_url without scheme is refused", gitterapi.Options{APIURL: "api.gitter.im", StreamURL: "https://s/"}, "t", "api_url"},
		{"a stream_url that is not http is refused", gitterapi.Options{APIURL: "https://a/", StreamURL: "ftp://s/"}, "t", "stream_url"},
		{"a faye_url that is not a websocket is refused", gitterapi.Options{APIURL: "https://a/", StreamURL: "https://s/", FayeURL: "https://ws/faye"}, "t", "faye_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gitterapi.New(tc.opts, tc.token)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("base URLs without a trailing slash still reach /v1", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok, func(o *gitterapi.Options) { o.APIURL = strings.TrimSuffix(o.APIURL, "/") })
		me, err := c.CurrentUser(testCtx(t))
		require.NoError(t, err)
		assert.Equal(t, "alice", me.Username)
	})
}

func TestTokenNeverShows(t *testing.T) {
	w := newWorld(t, gitteremu.Options{})
	const secret = "s3cr3t-token-value"
	c := w.client(t, secret)
	_, err := c.CurrentUser(testCtx(t))
	require.Error(t, err)
	t.Run("a refused token is ErrUnauthorized", func(t *testing.T) {
		assert.ErrorIs(t, err, gitterapi.ErrUnauthorized)
	})
	t.Run("the error text does not hold the token", func(t *testing.T) {
		assert.NotContains(t, err.Error(), secret)
	})
	t.Run("printing the client does not show the token", func(t *testing.T) {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(verb, c), secret, verb)
		}
	})
	t.Run("a refused Faye handshake is ErrUnauthorized without the token", func(t *testing.T) {
		_, err := c.DialFaye(testCtx(t))
		require.ErrorIs(t, err, gitterapi.ErrUnauthorized)
		assert.NotContains(t, err.Error(), secret)
	})
	t.Run("a refused stream is ErrUnauthorized", func(t *testing.T) {
		err := c.StreamMessages(testCtx(t), w.room.ID, nil, func(*gitterapi.Message) error { return nil })
		assert.ErrorIs(t, err, gitterapi.ErrUnauthorized)
	})
}

func TestCurrentUser(t *testing.T) {
	w := newWorld(t, gitteremu.Options{})
	c := w.client(t, w.aliceTok)
	t.Run("the token's user comes from /v1/user/me", func(t *testing.T) {
		me, err := c.CurrentUser(testCtx(t))
		require.NoError(t, err)
		assert.Equal(t, w.alice, *me)
	})
	t.Run("a server without /me is asked the documented /v1/user", func(t *testing.T) {
		w.emu.FailNext(http.MethodGet, "/v1/user/me", http.StatusNotFound, 1)
		me, err := c.CurrentUser(testCtx(t))
		require.NoError(t, err)
		assert.Equal(t, w.alice, *me)
		reqs := w.emu.Requests()
		assert.Equal(t, "/v1/user", reqs[len(reqs)-1].Path)
	})
}

func TestRooms(t *testing.T) {
	w := newWorld(t, gitteremu.Options{})
	c := w.client(t, w.aliceTok)
	ctx := testCtx(t)
	t.Run("the user's rooms include the one-to-one named after the peer", func(t *testing.T) {
		rooms, err := c.UserRooms(ctx, w.alice.ID)
		require.NoError(t, err)
		require.Len(t, rooms, 2)
		assert.Equal(t, "acme/chat", rooms[0].URI)
		assert.True(t, rooms[1].OneToOne)
		assert.Equal(t, "Bob B", rooms[1].Name)
		require.NotNil(t, rooms[1].User)
		assert.Equal(t, w.bob.ID, rooms[1].User.ID)
		all, err := c.Rooms(ctx)
		require.NoError(t, err)
		assert.Equal(t, rooms, all)
	})
	t.Run("another user's room list is forbidden", func(t *testing.T) {
		_, err := c.UserRooms(ctx, w.bob.ID)
		assert.ErrorIs(t, err, gitterapi.ErrForbidden)
	})
	t.Run("a room is found by ID", func(t *testing.T) {
		r, err := c.Room(ctx, w.room.ID)
		require.NoError(t, err)
		assert.Equal(t, "Acme talk", r.Topic)
	})
	t.Run("an unknown room is ErrNotFound", func(t *testing.T) {
		_, err := c.Room(ctx, "000000000000000000000000")
		assert.ErrorIs(t, err, gitterapi.ErrNotFound)
	})
	t.Run("joining by URI adds the user and returns the room", func(t *testing.T) {
		other := w.emu.AddRoom("acme/other", "", gitterapi.RoomOrgChannel, w.bob.ID)
		r, err := c.JoinRoom(ctx, "ACME/other")
		require.NoError(t, err)
		assert.Equal(t, other.ID, r.ID)
		assert.Contains(t, w.emu.Members(other.ID), w.alice.ID)
	})
	t.Run("joining an unknown URI is ErrNotFound", func(t *testing.T) {
		_, err := c.JoinRoom(ctx, "nobody/nothing")
		assert.ErrorIs(t, err, gitterapi.ErrNotFound)
	})
	t.Run("joining by ID adds the user", func(t *testing.T) {
		third := w.emu.AddRoom("acme/third", "", gitterapi.RoomOrgChannel, w.bob.ID)
		_, err := c.JoinRoomByID(ctx, w.alice.ID, third.ID)
		require.NoError(t, err)
		assert.Contains(t, w.emu.Members(third.ID), w.alice.ID)
	})
	t.Run("leaving removes the user", func(t *testing.T) {
		require.NoError(t, c.LeaveRoom(ctx, w.room.ID, w.alice.ID))
		assert.NotContains(t, w.emu.Members(w.room.ID), w.alice.ID)
		w.emu.Join(w.room.ID, w.alice.ID)
	})
	t.Run("the topic can be changed", func(t *testing.T) {
		topic := "New topic"
		r, err := c.UpdateRoom(ctx, w.room.ID, gitterapi.RoomUpdate{Topic: &topic})
		require.NoError(t, err)
		assert.Equal(t, topic, r.Topic)
		assert.Equal(t, topic, w.emu.Room(w.room.ID, w.bob.ID).Topic)
	})
}

func TestRoomUsersPaging(t *testing.T) {
	w := newWorld(t, gitteremu.Options{})
	for i := range 230 {
		u, _ := w.emu.AddUser(fmt.Sprintf("user%03d", i), fmt.Sprintf("User %d", i))
		w.emu.Join(w.room.ID, u.ID)
	}
	c := w.client(t, w.aliceTok)
	ctx := testCtx(t)
	t.Run("one page holds the asked number", func(t *testing.T) {
		users, err := c.RoomUsers(ctx, w.room.ID, 10, 5)
		require.NoError(t, err)
		require.Len(t, users, 5)
		assert.Equal(t, "user008", users[0].Username)
	})
	t.Run("the server's default page is 30", func(t *testing.T) {
		users, err := c.RoomUsers(ctx, w.room.ID, 0, 0)
		require.NoError(t, err)
		assert.Len(t, users, 30)
	})
	t.Run("all members are paged through", func(t *testing.T) {
		users, err := c.AllRoomUsers(ctx, w.room.ID)
		require.NoError(t, err)
		assert.Len(t, users, 232)
	})
}

func TestMessages(t *testing.T) {
	w := newWorld(t, gitteremu.Options{})
	alice := w.client(t, w.aliceTok)
	ctx := testCtx(t)
	var ids []string
	for i := range 12 {
		ids = append(ids, w.emu.Post(w.room.ID, w.bob.ID, fmt.Sprintf("m%d", i)).ID)
	}
	texts := func(ms []gitterapi.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Text)
		}
		return out
	}
	cases := []struct {
		name string
		q    gitterapi.MessageQuery
		want []string
	}{
		{"the latest come oldest first", gitterapi.MessageQuery{Limit: 3}, []string{"m9", "m10", "m11"}},
		{"beforeId pages back", gitterapi.MessageQuery{Limit: 3, BeforeID: ids[9]}, []string{"m6", "m7", "m8"}},
		{"afterId catches up", gitterapi.MessageQuery{Limit: 3, AfterID: ids[4]}, []string{"m5", "m6", "m7"}},
		{"afterId at the end is empty", gitterapi.MessageQuery{AfterID: ids[11]}, nil},
		{"skip leaves out the newest", gitterapi.MessageQuery{Limit: 2, Skip: 2}, []string{"m8", "m9"}},
		{"q searches text", gitterapi.MessageQuery{Q: "m1"}, []string{"m1", "m10", "m11"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := alice.Messages(ctx, w.room.ID, tc.q)
			require.NoError(t, err)
			assert.Equal(t, tc.want, texts(got))
		})
	}
	t.Run("sending returns the message with its ID, html and mentions", func(t *testing.T) {
		m, err := alice.SendMessage(ctx, w.room.ID, gitterapi.NewMessage{Text: "hi @bob <3"})
		require.NoError(t, err)
		assert.NotEmpty(t, m.ID)
		assert.Equal(t, "alice", m.FromUser.Username)
		assert.Equal(t, []gitterapi.Mention{{ScreenName: "bob", UserID: w.bob.ID}}, m.Mentions)
		assert.Contains(t, m.HTML, `data-screen-name="bob"`)
		assert.Contains(t, m.HTML, "&lt;3")
		got, err := alice.Message(ctx, w.room.ID, m.ID)
		require.NoError(t, err)
		assert.Equal(t, m.Text, got.Text)
	})
	t.Run("a status message keeps its flag", func(t *testing.T) {
		m, err := alice.SendMessage(ctx, w.room.ID, gitterapi.NewMessage{Text: "waves", Status: true})
		require.NoError(t, err)
		assert.True(t, m.Status)
	})
	t.Run("editing sets editedAt", func(t *testing.T) {
		m, err := alice.SendMessage(ctx, w.room.ID, gitterapi.NewMessage{Text: "tpyo"})
		require.NoError(t, err)
		e, err := alice.UpdateMessage(ctx, w.room.ID, m.ID, "typo")
		require.NoError(t, err)
		assert.Equal(t, "typo", e.Text)
		assert.False(t, e.EditedAt.IsZero())
	})
	t.Run("deleting empties the text", func(t *testing.T) {
		m, err := alice.SendMessage(ctx, w.room.ID, gitterapi.NewMessage{Text: "oops"})
		require.NoError(t, err)
		require.NoError(t, alice.DeleteMessage(ctx, w.room.ID, m.ID))
		got, err := alice.Message(ctx, w.room.ID, m.ID)
		require.NoError(t, err)
		assert.True(t, got.Deleted())
	})
	t.Run("editing someone else's message is forbidden", func(t *testing.T) {
		_, err := alice.UpdateMessage(ctx, w.room.ID, ids[0], "mine now")
		assert.ErrorIs(t, err, gitterapi.ErrForbidden)
	})
}

func TestUnreadItems(t *testing.T) {
	w := newWorld(t, gitteremu.Options{})
	c := w.client(t, w.aliceTok)
	ctx := testCtx(t)
	m1 := w.emu.Post(w.room.ID, w.bob.ID, "one")
	m2 := w.emu.Post(w.room.ID, w.bob.ID, "two @alice")
	t.Run("messages from others are unread, mentions listed apart", func(t *testing.T) {
		items, err := c.UnreadItems(ctx, w.alice.ID, w.room.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{m1.ID, m2.ID}, items.Chat)
		assert.Equal(t, []string{m2.ID}, items.Mention)
	})
	t.Run("marking read clears them and counts the reader", func(t *testing.T) {
		require.NoError(t, c.MarkRead(ctx, w.alice.ID, w.room.ID, []string{m1.ID, m2.ID}))
		assert.Empty(t, w.emu.Unread(w.room.ID, w.alice.ID))
		msgs := w.emu.Messages(w.room.ID)
		assert.Equal(t, 1, msgs[0].ReadBy)
	})
	t.Run("marking nothing sends nothing", func(t *testing.T) {
		before := len(w.emu.Requests())
		require.NoError(t, c.MarkRead(ctx, w.alice.ID, w.room.ID, nil))
		assert.Len(t, w.emu.Requests(), before)
	})
}

func TestRetries(t *testing.T) {
	t.Run("a 429 is retried even for a POST", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok)
		w.emu.FailNext(http.MethodPost, "/v1/rooms/", http.StatusTooManyRequests, 2)
		_, err := c.SendMessage(testCtx(t), w.room.ID, gitterapi.NewMessage{Text: "x"})
		require.NoError(t, err)
		assert.Len(t, w.emu.Messages(w.room.ID), 1, "sent exactly once")
	})
	t.Run("a 5xx on a GET is retried", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok)
		w.emu.FailNext(http.MethodGet, "/v1/rooms", http.StatusBadGateway, 2)
		_, err := c.Rooms(testCtx(t))
		require.NoError(t, err)
	})
	t.Run("a 5xx on a POST is returned as temporary, not retried", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok)
		w.emu.FailNext(http.MethodPost, "/v1/rooms/", http.StatusInternalServerError, 1)
		_, err := c.SendMessage(testCtx(t), w.room.ID, gitterapi.NewMessage{Text: "x"})
		var apiErr *gitterapi.APIError
		require.True(t, errors.As(err, &apiErr))
		assert.True(t, apiErr.Temporary())
		assert.Empty(t, w.emu.Messages(w.room.ID))
	})
	t.Run("retries stop after MaxRetries", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{})
		c := w.client(t, w.aliceTok, func(o *gitterapi.Options) { o.MaxRetries = 2 })
		w.emu.FailNext(http.MethodGet, "/v1/rooms", http.StatusServiceUnavailable, 10)
		_, err := c.Rooms(testCtx(t))
		require.Error(t, err)
		n := 0
		for _, r := range w.emu.Requests() {
			if r.Path == "/v1/rooms" {
				n++
			}
		}
		assert.Equal(t, 3, n, "one try and two retries")
	})
	t.Run("a spent rate-limit budget waits for the window, then goes on", func(t *testing.T) {
		w := newWorld(t, gitteremu.Options{RateLimit: 3, RateWindow: 300 * time.Millisecond})
		c := w.client(t, w.aliceTok)
		start := time.Now()
		for range 5 {
			_, err := c.Rooms(testCtx(t))
			require.NoError(t, err)
		}
		assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
		for _, r := range w.emu.Requests() {
			assert.NotEqual(t, "", r.UserID)
		}
	})
}
