package gitteremu_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitterapi"
	"github.com/isthmus-bridge/isthmus/bridges/gitter/gitteremu"
)

func get(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAuth(t *testing.T) {
	emu := gitteremu.New(gitteremu.Options{})
	defer emu.Close()
	u, tok := emu.AddUser("alice", "Alice")
	cases := []struct {
		name   string
		url    string
		header http.Header
		status int
	}{
		{"a bearer token is accepted", "v1/user/me", http.Header{"Authorization": {"Bearer " + tok}}, 200},
		{"the access_token query of the presence docs is accepted", "v1/user/me?access_token=" + tok, nil, 200},
		{"no token is 401", "v1/user/me", nil, 401},
		{"a wrong token is 401", "v1/user/me", http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"a non-bearer scheme is 401", "v1/user/me", http.Header{"Authorization": {"Token " + tok}}, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, emu.APIURL()+tc.url, tc.header)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
		})
	}
	t.Run("recorded requests never hold the token", func(t *testing.T) {
		for _, r := range emu.Requests() {
			assert.NotContains(t, r.Query, tok)
		}
		assert.Equal(t, u.ID, emu.Requests()[0].UserID)
	})
}

func TestStreamFraming(t *testing.T) {
	emu := gitteremu.New(gitteremu.Options{Heartbeat: 10 * time.Millisecond})
	defer emu.Close()
	alice, tok := emu.AddUser("alice", "Alice")
	bob, _ := emu.AddUser("bob", "Bob")
	room := emu.AddRoom("acme/chat", "", gitterapi.RoomOrgChannel, alice.ID, bob.ID)
	resp := get(t, emu.StreamURL()+"v1/rooms/"+room.ID+"/chatMessages", http.Header{"Authorization": {"Bearer " + tok}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rd := bufio.NewReader(resp.Body)

	t.Run("keep-alives are a space and a newline", func(t *testing.T) {
		buf := make([]byte, 2)
		_, err := io.ReadFull(rd, buf)
		require.NoError(t, err)
		assert.Equal(t, " \n", string(buf))
	})
	t.Run("messages are JSON objects ended by a carriage return", func(t *testing.T) {
		emu.Post(room.ID, bob.ID, "line one\nline two")
		var frame string
		for {
			s, err := rd.ReadString('\r')
			require.NoError(t, err)
			if s = strings.TrimLeft(s, " \n"); s != "" {
				frame = s
				break
			}
		}
		assert.True(t, strings.HasPrefix(frame, `{"id":`), frame)
		assert.Contains(t, frame, `"text":"line one\nline two"`)
	})
}

func TestDeleteMethod(t *testing.T) {
	emu := gitteremu.New(gitteremu.Options{})
	defer emu.Close()
	alice, tok := emu.AddUser("alice", "Alice")
	room := emu.AddRoom("acme/chat", "", gitterapi.RoomOrgChannel, alice.ID)
	m := emu.Post(room.ID, alice.ID, "bye")
	req, err := http.NewRequest(http.MethodDelete, emu.APIURL()+"v1/rooms/"+room.ID+"/chatMessages/"+m.ID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	t.Run("DELETE on a message empties its text like an update to nothing", func(t *testing.T) {
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.True(t, emu.Messages(room.ID)[0].Deleted())
	})
}

func TestJoinByUsernameOpensTheOneToOneRoom(t *testing.T) {
	emu := gitteremu.New(gitteremu.Options{})
	defer emu.Close()
	_, tok := emu.AddUser("alice", "Alice")
	bob, _ := emu.AddUser("bob", "Bob")
	client, err := gitterapi.New(gitterapi.Options{APIURL: emu.APIURL(), StreamURL: emu.StreamURL(), FayeURL: emu.FayeURL()}, tok)
	require.NoError(t, err)
	first, err := client.JoinRoom(context.Background(), "bob")
	require.NoError(t, err)
	t.Run("a username opens a one-to-one room with that user", func(t *testing.T) {
		assert.True(t, first.OneToOne)
		require.NotNil(t, first.User)
		assert.Equal(t, bob.ID, first.User.ID)
	})
	t.Run("asking again gives the same room", func(t *testing.T) {
		again, err := client.JoinRoom(context.Background(), "/bob")
		require.NoError(t, err)
		assert.Equal(t, first.ID, again.ID)
	})
	t.Run("an unknown name is not found", func(t *testing.T) {
		_, err := client.JoinRoom(context.Background(), "nobody")
		assert.ErrorIs(t, err, gitterapi.ErrNotFound)
	})
}
