package irc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"

	"github.com/isthmus-bridge/isthmus/bridge"
	"github.com/isthmus-bridge/isthmus/bridges/irc/ircproto"
)

func init() {
	// Refused joins in tests are retried within the test's patience.
	rejoinBase = 300 * time.Millisecond
}

func TestJoinLines(t *testing.T) {
	long := "#" + strings.Repeat("x", 150)
	for _, tc := range []struct {
		name       string
		names      []string
		keys       []string
		maxTargets int
		want       []string
	}{
		{"without a limit all channels share a line, keyed ones first",
			[]string{"#a", "#b", "#c"}, []string{"", "kb", ""}, 0,
			[]string{"JOIN #b,#a,#c kb"}},
		{"TARGMAX caps the channels per line, and each line carries its own keys",
			[]string{"#a", "#b", "#c", "#d", "#e"}, []string{"ka", "", "kc", "", ""}, 2,
			[]string{"JOIN #a,#c ka,kc", "JOIN #b,#d", "JOIN #e"}},
		{"keys run over into the next line with their channels",
			[]string{"#a", "#b", "#c"}, []string{"ka", "kb", "kc"}, 2,
			[]string{"JOIN #a,#b ka,kb", "JOIN #c kc"}},
		{"a TARGMAX of one is a line per channel",
			[]string{"#a", "#b"}, []string{"", "kb"}, 1,
			[]string{"JOIN #b kb", "JOIN #a"}},
		{"long names are split by bytes under a larger TARGMAX",
			[]string{long + "1", long + "2", long + "3"}, []string{"", "", ""}, 10,
			[]string{"JOIN " + long + "1," + long + "2", "JOIN " + long + "3"}},
		{"nothing to join is no line", nil, nil, 4, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, m := range joinLines(tc.names, tc.keys, tc.maxTargets) {
				got = append(got, m.String())
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// offlineBot is an offline network whose bot reads lines through feed on
// a closed connection, so what it sends goes nowhere.
func offlineBot(t *testing.T, edit func(*Config)) (*Network, *fakeCore, func(string)) {
	n, core := offlineNetwork(t, "keys", edit)
	conn := &Conn{nick: "IsthmusBot", cfg: &connConfig{}, done: make(chan struct{})}
	close(conn.done)
	conn.isupport.Store(ircproto.NewISupport())
	feed := func(line string) {
		m, err := ircproto.Parse(line)
		require.NoError(t, err)
		n.bot.handle(conn, m)
	}
	return n, core, feed
}

func TestChannelKeysAreLearned(t *testing.T) {
	n, _, feed := offlineBot(t, func(c *Config) {
		c.Channels = []ChannelConfig{{Channel: "#conf", Key: "fromconfig"}}
	})
	require.NoError(t, n.bot.loadChannels(context.Background()))
	assert.Equal(t, "fromconfig", n.bot.keyFor("#CONF"), "the config's key, whatever the case of the name")

	n.bot.wanted["#chan"] = wantedChannel{name: "#chan"}
	feed(":IsthmusBot!b@h JOIN #chan")
	for _, step := range []struct {
		what, line, key string
	}{
		{"MODE +k sets the key", ":op!u@h MODE #chan +k sesame", "sesame"},
		{"other modes leave it", ":op!u@h MODE #chan +o-v carol dave", "sesame"},
		{"a hidden key leaves the one known", ":op!u@h MODE #chan +k <key>", "sesame"},
		{"MODE -k clears it", ":op!u@h MODE #chan -k *", ""},
		{"a key set among other modes is found", ":op!u@h MODE #chan +ntk open", "open"},
		{"a 324 with +k gives the key", ":srv 324 IsthmusBot #chan +ntk fromlist", "fromlist"},
		{"a 324 without +k means no key", ":srv 324 IsthmusBot #chan +nt", ""},
	} {
		feed(step.line)
		assert.Equal(t, step.key, n.bot.keyFor("#chan"), step.what)
	}

	feed(":op!u@h MODE #conf +k changed")
	assert.Equal(t, "changed", n.bot.keyFor("#conf"), "a configured key follows the channel too")
	feed(":op!u@h MODE #other +k nothere")
	assert.Equal(t, "", n.bot.keyFor("#other"), "channels nobody wants are not remembered")

	assert.Equal(t, "JOIN #conf changed", n.bot.joinMessage("#conf").String())
	assert.Equal(t, "JOIN #chan", n.bot.joinMessage("#chan").String())
	assert.Equal(t, []string{"changed", ""}, n.bot.keysFor([]string{"#conf", "#chan"}))
}

func TestRefusedJoins(t *testing.T) {
	notices := func(core *fakeCore, from int, portal bridge.PortalKey) []string {
		var out []string
		for _, ev := range core.since(from) {
			if ev.Kind == bridge.RemoteMessage && ev.Portal == portal && ev.Sender == (bridge.Sender{}) &&
				ev.Content.MsgType == event.MsgNotice {
				out = append(out, ev.Content.Body)
			}
		}
		return out
	}

	t.Run("a bridged channel stays wanted, and its room is told once and again when the bot is back", func(t *testing.T) {
		n, core, feed := offlineBot(t, nil)
		key := n.channelKey("#locked")
		core.addPortal(key)
		require.NoError(t, n.bot.loadChannels(context.Background()))
		feed(":srv 473 IsthmusBot #locked :Cannot join channel (+i)")
		feed(":srv 473 IsthmusBot #locked :Cannot join channel (+i)")
		feed(":srv 474 IsthmusBot #locked :Cannot join channel (+b)")
		got := notices(core, 0, key)
		require.Len(t, got, 1, "told once, however often the join is refused")
		assert.Contains(t, got[0], "cannot get into #locked")
		assert.Contains(t, got[0], "(+i)")
		n.bot.mu.Lock()
		_, wanted := n.bot.wanted["#locked"]
		failures := n.bot.rejoins["#locked"].failures
		n.bot.mu.Unlock()
		assert.True(t, wanted, "still wanted, so the next connection joins it too")
		assert.Equal(t, 3, failures, "each refusal backs off further")

		from := core.end()
		feed(":IsthmusBot!b@h JOIN #locked")
		feed(":srv 366 IsthmusBot #locked :End of NAMES")
		assert.Equal(t, []string{"The bridge is back in #locked on IRC."}, notices(core, from, key))
		n.bot.mu.Lock()
		assert.Empty(t, n.bot.rejoins, "the retries are over")
		n.bot.mu.Unlock()

		from = core.end()
		feed(":srv 403 IsthmusBot #locked :No such channel")
		assert.Empty(t, notices(core, from, key), "an error about a channel the bot is in is not about joining it")
	})

	t.Run("a channel a user asked for first fails the request and is forgotten", func(t *testing.T) {
		n, core, feed := offlineBot(t, nil)
		wait := make(chan error, 1)
		n.bot.mu.Lock()
		n.bot.wanted["#new"] = wantedChannel{name: "#new"}
		n.bot.joinWait["#new"] = []chan error{wait}
		n.bot.mu.Unlock()
		feed(":srv 475 IsthmusBot #new :Cannot join channel (+k)")
		assert.ErrorIs(t, <-wait, ErrChannelRefused)
		n.bot.mu.Lock()
		_, wanted := n.bot.wanted["#new"]
		n.bot.mu.Unlock()
		assert.False(t, wanted)
		assert.Empty(t, notices(core, 0, n.channelKey("#new")))
	})
}

func TestRejoinDelayGrowsToItsBound(t *testing.T) {
	prev := time.Duration(0)
	for failures := 1; failures <= 40; failures++ {
		d := rejoinDelay(failures)
		assert.LessOrEqual(t, d, rejoinMax*5/4, "failure %d", failures)
		assert.Positive(t, d)
		if failures > 1 && failures <= 8 { // below the bound with the tests' base
			assert.Greater(t, d, prev, "failure %d waits longer than the one before, jitter and all", failures)
		}
		prev = d
	}
}
