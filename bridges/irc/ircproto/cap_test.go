package ircproto_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

// step is one server line and what the negotiator must answer.
type step struct {
	server  string
	send    []string // client lines, as Message.String gives them
	wantErr error
}

func lines(msgs []*ircproto.Message) []string {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.String()
	}
	return out
}

// converse plays steps against n and checks every answer.
func converse(t *testing.T, n *ircproto.CapNegotiator, steps []step) {
	t.Helper()
	for _, s := range steps {
		out, err := n.Handle(mustParse(t, s.server))
		if s.wantErr != nil {
			require.ErrorIs(t, err, s.wantErr, "after %q", s.server)
		} else {
			require.NoError(t, err, "after %q", s.server)
		}
		require.Equal(t, s.send, lines(out), "answer to %q", s.server)
	}
}

// plainOpening is the common start of a SASL PLAIN exchange: the server
// offers ls, we request sasl, it is acknowledged and we pick PLAIN.
func plainOpening(ls string, more []step) []step {
	return append([]step{
		{server: ":srv CAP * LS :" + ls, send: []string{"CAP REQ sasl"}},
		{server: ":srv CAP * ACK :sasl", send: []string{"AUTHENTICATE PLAIN"}},
	}, more...)
}

var plainPayload = base64.StdEncoding.EncodeToString([]byte("\x00bridge\x00hunter2"))

func TestCapNegotiation(t *testing.T) {
	sasl := &ircproto.SASLConfig{Username: "bridge", Password: "hunter2"}
	tests := []struct {
		name    string
		cfg     ircproto.CapConfig
		steps   []step
		done    bool
		enabled []string
	}{
		{
			name: "a multi-line LS ends in one REQ of the wanted caps on offer, and CAP END after the ACK",
			cfg:  ircproto.CapConfig{},
			steps: []step{
				{server: ":srv CAP * LS * :multi-prefix extended-join account-notify batch unknown-cap"},
				{server: ":srv CAP * LS :server-time message-tags echo-message sasl=PLAIN,EXTERNAL cap-notify",
					send: []string{"CAP REQ :server-time message-tags echo-message account-notify extended-join multi-prefix batch cap-notify"}},
				{server: ":srv CAP me ACK :server-time message-tags echo-message account-notify extended-join multi-prefix batch cap-notify",
					send: []string{"CAP END"}},
			},
			done:    true,
			enabled: []string{"account-notify", "batch", "cap-notify", "echo-message", "extended-join", "message-tags", "multi-prefix", "server-time"},
		},
		{
			name: "a server offering nothing we want gets CAP END at once",
			steps: []step{
				{server: ":srv CAP * LS :foo bar", send: []string{"CAP END"}},
			},
			done: true,
		},
		{
			name: "SASL PLAIN runs between ACK and CAP END",
			cfg:  ircproto.CapConfig{Want: []string{"sasl", "server-time"}, SASL: sasl},
			steps: []step{
				{server: ":srv CAP * LS :sasl=PLAIN,EXTERNAL server-time", send: []string{"CAP REQ :sasl server-time"}},
				{server: ":srv CAP * ACK :sasl server-time", send: []string{"AUTHENTICATE PLAIN"}},
				{server: "AUTHENTICATE +", send: []string{"AUTHENTICATE " + plainPayload}},
				{server: ":srv 900 me me!b@h bridge :You are now logged in as bridge"},
				{server: ":srv 903 me :SASL authentication successful", send: []string{"CAP END"}},
			},
			done:    true,
			enabled: []string{"sasl", "server-time"},
		},
		{
			name:    "SASL is tried when the sasl cap has no value (CAP 3.1 servers)",
			cfg:     ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl},
			steps:   plainOpening("sasl", nil),
			enabled: []string{"sasl"},
		},
		{
			name: "an optional SASL failure still ends with CAP END",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl},
			steps: plainOpening("sasl=PLAIN", []step{
				{server: "AUTHENTICATE +", send: []string{"AUTHENTICATE " + plainPayload}},
				{server: ":srv 904 me :SASL authentication failed", send: []string{"CAP END"}},
			}),
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "a required SASL failure is an error and sends no CAP END",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: &ircproto.SASLConfig{Username: "bridge", Password: "hunter2", Required: true}},
			steps: plainOpening("sasl=PLAIN", []step{
				{server: "AUTHENTICATE +", send: []string{"AUTHENTICATE " + plainPayload}},
				{server: ":srv 908 me PLAIN,EXTERNAL :are available SASL mechanisms"},
				{server: ":srv 904 me :SASL authentication failed", wantErr: ircproto.ErrSASLFailed},
			}),
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "an aborted exchange counts as a failure",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl},
			steps: plainOpening("sasl", []step{
				{server: ":srv 906 me :SASL authentication aborted", send: []string{"CAP END"}},
			}),
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "already being authenticated counts as success",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl},
			steps: plainOpening("sasl", []step{
				{server: ":srv 907 me :You have already authenticated", send: []string{"CAP END"}},
			}),
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "a mechanism the server does not offer is not tried",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: &ircproto.SASLConfig{Username: "b", Password: "p", Required: true}},
			steps: []step{
				{server: ":srv CAP * LS :sasl=EXTERNAL", send: []string{"CAP REQ sasl"}},
				{server: ":srv CAP * ACK :sasl", wantErr: ircproto.ErrSASLFailed},
			},
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "required SASL on a server without sasl is an error",
			cfg:  ircproto.CapConfig{SASL: &ircproto.SASLConfig{Username: "b", Password: "p", Required: true}},
			steps: []step{
				{server: ":srv CAP * LS :server-time", send: []string{"CAP REQ server-time"}},
				{server: ":srv CAP * ACK server-time", wantErr: ircproto.ErrSASLFailed},
			},
			done:    true,
			enabled: []string{"server-time"},
		},
		{
			name: "EXTERNAL sends an empty response",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: &ircproto.SASLConfig{Mechanism: "external"}},
			steps: []step{
				{server: ":srv CAP * LS :sasl=PLAIN,EXTERNAL", send: []string{"CAP REQ sasl"}},
				{server: ":srv CAP * ACK :sasl", send: []string{"AUTHENTICATE EXTERNAL"}},
				{server: "AUTHENTICATE +", send: []string{"AUTHENTICATE +"}},
				{server: ":srv 903 me :SASL authentication successful", send: []string{"CAP END"}},
			},
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "an unexpected SASL challenge is aborted",
			cfg:  ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl},
			steps: plainOpening("sasl", []step{
				{server: "AUTHENTICATE c29tZXRoaW5n", send: []string{"AUTHENTICATE *"}},
				{server: ":srv 906 me :SASL authentication aborted", send: []string{"CAP END"}},
			}),
			done:    true,
			enabled: []string{"sasl"},
		},
		{
			name: "a NAK of several caps retries them one by one",
			cfg:  ircproto.CapConfig{Want: []string{"server-time", "batch", "chghost"}},
			steps: []step{
				{server: ":srv CAP * LS :server-time batch chghost", send: []string{"CAP REQ :server-time batch chghost"}},
				{server: ":srv CAP * NAK :server-time batch chghost", send: []string{"CAP REQ server-time", "CAP REQ batch", "CAP REQ chghost"}},
				{server: ":srv CAP * ACK server-time"},
				{server: ":srv CAP * NAK batch"},
				{server: ":srv CAP * ACK chghost", send: []string{"CAP END"}},
			},
			done:    true,
			enabled: []string{"chghost", "server-time"},
		},
		{
			name: "an ACK with a minus disables a cap",
			cfg:  ircproto.CapConfig{Want: []string{"server-time"}},
			steps: []step{
				{server: ":srv CAP * LS :server-time", send: []string{"CAP REQ server-time"}},
				{server: ":srv CAP * ACK :server-time", send: []string{"CAP END"}},
				{server: ":srv CAP * ACK :-server-time"},
			},
			done: true,
		},
		{
			name: "legacy ack modifiers are stripped",
			cfg:  ircproto.CapConfig{Want: []string{"server-time"}},
			steps: []step{
				{server: ":srv CAP * LS :=server-time", send: []string{"CAP REQ server-time"}},
				{server: ":srv CAP * ACK :~server-time", send: []string{"CAP END"}},
			},
			done:    true,
			enabled: []string{"server-time"},
		},
		{
			name: "NEW after registration requests newly offered caps and DEL removes them",
			cfg:  ircproto.CapConfig{Want: []string{"server-time", "away-notify"}},
			steps: []step{
				{server: ":srv CAP * LS :server-time cap-notify", send: []string{"CAP REQ server-time"}},
				{server: ":srv CAP * ACK :server-time", send: []string{"CAP END"}},
				{server: ":srv 001 me :Welcome"},
				{server: ":srv CAP me NEW :away-notify unrelated", send: []string{"CAP REQ away-notify"}},
				{server: ":srv CAP me ACK :away-notify"},
				{server: ":srv CAP me DEL :server-time"},
			},
			done:    true,
			enabled: []string{"away-notify"},
		},
		{
			name: "a server that does not know CAP ends negotiation without a reply",
			steps: []step{
				{server: ":srv 421 * CAP :Unknown command"},
			},
			done: true,
		},
		{
			name: "a welcome before any CAP reply ends negotiation",
			steps: []step{
				{server: ":srv 001 me :Welcome"},
			},
			done: true,
		},
		{
			name: "required SASL on a server that ignores CAP is an error",
			cfg:  ircproto.CapConfig{SASL: &ircproto.SASLConfig{Username: "b", Password: "p", Required: true}},
			steps: []step{
				{server: ":srv 001 me :Welcome", wantErr: ircproto.ErrSASLFailed},
			},
			done: true,
		},
		{
			name: "a CAP line missing its cap list is ignored",
			steps: []step{
				{server: ":srv CAP *"},
				{server: ":srv CAP * LS :", send: []string{"CAP END"}},
			},
			done: true,
		},
		{
			name: "an invalid CAP command error ends negotiation",
			steps: []step{
				{server: ":srv 410 * FOO :Invalid CAP command", send: []string{"CAP END"}},
			},
			done: true,
		},
		{
			name: "unrelated lines are ignored",
			steps: []step{
				{server: ":srv NOTICE * :*** Looking up your hostname..."},
				{server: "PING :srv"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ircproto.NewCapNegotiator(tt.cfg)
			assert.Equal(t, "CAP LS 302", n.Start().String())
			converse(t, n, tt.steps)
			assert.Equal(t, tt.done, n.Done())
			if tt.enabled == nil {
				tt.enabled = []string{}
			}
			assert.Equal(t, tt.enabled, n.EnabledCaps())
		})
	}
}

func TestCapNegotiatorRemembersSASLOutcome(t *testing.T) {
	n := ircproto.NewCapNegotiator(ircproto.CapConfig{Want: []string{"sasl"}, SASL: &ircproto.SASLConfig{Username: "bridge", Password: "pw"}})
	n.Start()
	converse(t, n, []step{
		{server: ":srv CAP * LS :sasl=PLAIN", send: []string{"CAP REQ sasl"}},
		{server: ":srv CAP * ACK :sasl", send: []string{"AUTHENTICATE PLAIN"}},
		{server: ":srv 908 me PLAIN,EXTERNAL :are available SASL mechanisms"},
		{server: ":srv 900 me me!b@h bridge-account :You are now logged in"},
		{server: ":srv 903 me :SASL authentication successful", send: []string{"CAP END"}},
	})
	assert.True(t, n.Authenticated())
	assert.Empty(t, n.SASLRefusal())
	assert.Equal(t, "bridge-account", n.Account())
	assert.Equal(t, []string{"PLAIN", "EXTERNAL"}, n.SASLMechanisms())
	v, ok := n.Available("sasl")
	assert.True(t, ok)
	assert.Equal(t, "PLAIN", v)
	assert.True(t, n.Enabled("sasl"))
	assert.False(t, n.Enabled("server-time"))

	converse(t, n, []step{{server: ":srv 901 me me!b@h :You are now logged out"}})
	assert.Empty(t, n.Account())
}

func TestCapNegotiatorRemembersSASLRefusal(t *testing.T) {
	sasl := &ircproto.SASLConfig{Username: "bridge", Password: "pw"}
	n := ircproto.NewCapNegotiator(ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl})
	n.Start()
	converse(t, n, plainOpening("sasl=PLAIN", []step{
		{server: "AUTHENTICATE +", send: []string{"AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("\x00bridge\x00pw"))}},
		{server: ":srv 904 me :SASL authentication failed", send: []string{"CAP END"}},
	}))
	assert.False(t, n.Authenticated())
	assert.Equal(t, "SASL authentication failed", n.SASLRefusal())

	n = ircproto.NewCapNegotiator(ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl})
	n.Start()
	converse(t, n, []step{{server: ":srv CAP * LS :server-time", send: []string{"CAP END"}}})
	assert.Empty(t, n.SASLRefusal(), "a server without SASL refused nothing")
}

func TestCapNegotiatorFailuresThatAreNoRefusal(t *testing.T) {
	sasl := &ircproto.SASLConfig{Username: "bridge", Password: "pw"}
	payload := step{server: "AUTHENTICATE +", send: []string{"AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("\x00bridge\x00pw"))}}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name:  "a payload too long (905) says nothing of the password",
			steps: []step{payload, {server: ":srv 905 me :SASL message too long", send: []string{"CAP END"}}},
		},
		{
			name:  "an aborted exchange (906) says nothing of the password",
			steps: []step{payload, {server: ":srv 906 me :SASL authentication aborted", send: []string{"CAP END"}}},
		},
		{
			name:  "a locked nick (902) says nothing of the password",
			steps: []step{payload, {server: ":srv 902 me :You must use a nick assigned to you", send: []string{"CAP END"}}},
		},
		{
			name: "a 904 because PLAIN is not offered (908 lists what is) says nothing of the password",
			steps: []step{
				{server: ":srv 908 me EXTERNAL :are available SASL mechanisms"},
				{server: ":srv 904 me :SASL authentication failed", send: []string{"CAP END"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ircproto.NewCapNegotiator(ircproto.CapConfig{Want: []string{"sasl"}, SASL: sasl})
			n.Start()
			converse(t, n, plainOpening("sasl", tt.steps))
			assert.False(t, n.Authenticated())
			assert.Empty(t, n.SASLRefusal())
			assert.True(t, n.Done())
		})
	}
}

func TestCapNegotiatorAbort(t *testing.T) {
	n := ircproto.NewCapNegotiator(ircproto.CapConfig{})
	assert.Empty(t, n.Abort(), "nothing is owed before Start")

	n = ircproto.NewCapNegotiator(ircproto.CapConfig{})
	n.Start()
	assert.Equal(t, []string{"CAP END"}, lines(n.Abort()))
	assert.True(t, n.Done())
	assert.Empty(t, n.Abort(), "CAP END is sent once")
}

func TestCapNegotiatorSplitsALongREQ(t *testing.T) {
	var want []string
	for i := range 60 {
		want = append(want, "vendor.example/some-long-capability-name-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	n := ircproto.NewCapNegotiator(ircproto.CapConfig{Want: want})
	n.Start()
	// The server, too, has to spread the list over continuation lines.
	for i := 0; i < 50; i += 10 {
		out, err := n.Handle(mustParse(t, ":srv CAP * LS * :"+strings.Join(want[i:i+10], " ")))
		require.NoError(t, err)
		require.Empty(t, out)
	}
	out, err := n.Handle(mustParse(t, ":srv CAP * LS :"+strings.Join(want[50:], " ")))
	require.NoError(t, err)
	require.Greater(t, len(out), 1, "60 long names do not fit one REQ")
	var requested []string
	for _, m := range out {
		b, err := m.Bytes()
		require.NoError(t, err)
		assert.LessOrEqual(t, len(b), 512)
		requested = append(requested, strings.Fields(m.Trailing())...)
	}
	assert.Equal(t, want, requested)

	for i, m := range out {
		reply, err := n.Handle(mustParse(t, ":srv CAP * ACK :"+m.Trailing()))
		require.NoError(t, err)
		if i < len(out)-1 {
			assert.Empty(t, reply, "CAP END waits for every ACK")
		} else {
			assert.Equal(t, []string{"CAP END"}, lines(reply))
		}
	}
}

func TestSASLPlainPayload(t *testing.T) {
	// The example from the IRCv3 SASL specification.
	assert.Equal(t, "AGppbGxlcwBzZXNhbWU=", ircproto.SASLPlainPayload("", "jilles", "sesame"))
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("admin\x00user\x00pw")), ircproto.SASLPlainPayload("admin", "user", "pw"))
}

func TestAuthenticateLines(t *testing.T) {
	tests := []struct {
		name   string
		length int
		want   []int // chunk lengths; 0 stands for "+"
	}{
		{"an empty payload is a single plus", 0, []int{0}},
		{"a short payload is one line", 24, []int{24}},
		{"399 bytes fit one line", 399, []int{399}},
		{"exactly 400 bytes are followed by a plus", 400, []int{400, 0}},
		{"401 bytes take two lines", 401, []int{400, 1}},
		{"exactly 800 bytes end with a plus", 800, []int{400, 400, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := strings.Repeat("A", tt.length)
			out := ircproto.AuthenticateLines(payload)
			require.Len(t, out, len(tt.want))
			var joined strings.Builder
			for i, m := range out {
				assert.Equal(t, "AUTHENTICATE", m.Command)
				if tt.want[i] == 0 {
					assert.Equal(t, []string{"+"}, m.Params)
					continue
				}
				assert.Len(t, m.Params[0], tt.want[i])
				joined.WriteString(m.Params[0])
			}
			assert.Equal(t, payload, joined.String())
		})
	}
}

func TestRegistrationLines(t *testing.T) {
	tests := []struct {
		name string
		reg  ircproto.Registration
		caps bool
		want []string
	}{
		{
			name: "a full registration sends PASS, CAP LS, NICK and USER in that order",
			reg:  ircproto.Registration{Password: "serverpw", Nick: "alice[m]", Username: "alice", Realname: "Alice Liddell"},
			caps: true,
			want: []string{"PASS serverpw", "CAP LS 302", "NICK alice[m]", "USER alice 0 * :Alice Liddell"},
		},
		{
			name: "without a password or caps only NICK and USER are sent",
			reg:  ircproto.Registration{Nick: "bot"},
			want: []string{"NICK bot", "USER bot 0 * bot"},
		},
		{
			name: "a password with spaces is sent as trailing",
			reg:  ircproto.Registration{Password: "user:pass word", Nick: "bot"},
			want: []string{"PASS :user:pass word", "NICK bot", "USER bot 0 * bot"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var caps *ircproto.CapNegotiator
			if tt.caps {
				caps = ircproto.NewCapNegotiator(ircproto.CapConfig{})
			}
			out, err := tt.reg.Lines(caps)
			require.NoError(t, err)
			assert.Equal(t, tt.want, lines(out))
			for _, m := range out {
				_, err := m.Bytes()
				assert.NoError(t, err)
			}
		})
	}
}

func TestRegistrationRejectsWhatCannotBeSent(t *testing.T) {
	for name, reg := range map[string]ircproto.Registration{
		"an empty nick":                  {},
		"a nick with a space":            {Nick: "a b"},
		"a nick starting with a colon":   {Nick: ":a"},
		"a username with a space":        {Nick: "a", Username: "x y"},
		"a realname with a line break":   {Nick: "a", Realname: "x\r\nQUIT"},
		"a password with a line break":   {Nick: "a", Password: "pw\nQUIT"},
		"a nick with a line break":       {Nick: "a\r\nQUIT"},
		"a username starting with colon": {Nick: "a", Username: ":u"},
	} {
		t.Run("registration refuses "+name, func(t *testing.T) {
			_, err := reg.Lines(nil)
			assert.ErrorIs(t, err, ircproto.ErrInvalidRegistration)
		})
	}
}
