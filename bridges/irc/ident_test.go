package irc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdentServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newIdentServer(zerolog.Nop())
	require.NoError(t, s.listen(ctx, "127.0.0.1:0"))

	// A real connection to know both ports, as an IRC server would see it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	s.add(client, "alice")
	k, _ := keyOf(client)

	ask := func(query string) string {
		c, err := net.Dial("tcp", s.ln.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_, err = fmt.Fprintf(c, "%s\r\n", query)
		require.NoError(t, err)
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		return line
	}

	t.Run("a known connection is answered with its user name", func(t *testing.T) {
		assert.Equal(t, fmt.Sprintf("%d, %d : USERID : UNIX : alice\r\n", k.local, k.remote), ask(fmt.Sprintf("%d , %d", k.local, k.remote)))
	})
	t.Run("an unknown connection is NO-USER", func(t *testing.T) {
		assert.Contains(t, ask(fmt.Sprintf("%d, %d", k.local, k.remote+1)), "NO-USER")
	})
	t.Run("garbage is INVALID-PORT", func(t *testing.T) {
		assert.Contains(t, ask("hello"), "INVALID-PORT")
	})
	t.Run("a closed connection is forgotten", func(t *testing.T) {
		s.remove(client)
		assert.Contains(t, ask(fmt.Sprintf("%d, %d", k.local, k.remote)), "NO-USER")
	})
}
