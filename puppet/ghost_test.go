package puppet_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

// ghostEnv is a ghost store on a fresh database, talking to a fake homeserver.
type ghostEnv struct {
	hs     *fakeHS
	db     *dbutil.Database
	ghosts *puppet.Ghosts
	irc    *puppet.Namer
}

func newGhostEnv(t *testing.T, db *dbutil.Database) *ghostEnv {
	t.Helper()
	hs := newFakeHS(t)
	irc := mustNamer(t, "irc_{network}_{id}", "libera", testDomain)
	slack := mustNamer(t, "slack_{network}_{id}", "acme", testDomain)
	ghosts, err := puppet.NewGhosts(upgraded(t, db), hs.appService(), irc, slack)
	require.NoError(t, err)
	return &ghostEnv{hs: hs, db: db, ghosts: ghosts, irc: irc}
}

// withGhost runs fn on each database engine with a fresh environment and
// the (not yet registered) ghost of the libera user remoteID.
func withGhost(t *testing.T, remoteID string, fn func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost)) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newGhostEnv(t, db)
		g, err := env.ghosts.Get(ctx, "libera", remoteID)
		require.NoError(t, err)
		fn(t, ctx, env, g)
	})
}

// avatarSource is a remote avatar that counts how often it is fetched.
type avatarSource struct {
	mu      sync.Mutex
	fetches int
}

func (a *avatarSource) fetch(context.Context) ([]byte, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fetches++
	return []byte("\x89PNG fake"), "image/png", nil
}

func (a *avatarSource) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fetches
}

func TestGhostGetMakesNoRequest(t *testing.T) {
	withGhost(t, "Alice", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		assert.Equal(t, id.UserID("@irc_libera__alice:example.org"), g.MXID)
		assert.Equal(t, "libera", g.Network)
		assert.Equal(t, "Alice", g.RemoteID)
		assert.Empty(t, env.hs.snapshot(), "Get must not call the homeserver")

		again, err := env.ghosts.Get(ctx, "libera", "Alice")
		require.NoError(t, err)
		assert.Same(t, g, again, "one ghost, one object, one lock")

		var rows int
		require.NoError(t, env.db.QueryRow(ctx, "SELECT COUNT(*) FROM ghost WHERE mxid=$1", g.MXID).Scan(&rows))
		assert.Equal(t, 1, rows)
	})
}

func TestGhostGetRefusesWhatItCannotName(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newGhostEnv(t, db)
		tests := []struct {
			name     string
			network  string
			remoteID string
			want     error
		}{
			{"an unknown network is refused", "oftc", "alice", puppet.ErrUnknownNetwork},
			{"an empty remote ID is refused", "libera", "", puppet.ErrEmptyRemoteID},
			{"a remote ID too long for an MXID is refused", "libera", strings.Repeat("x", 250), puppet.ErrIDTooLong},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g, err := env.ghosts.Get(ctx, tt.network, tt.remoteID)
				assert.ErrorIs(t, err, tt.want)
				assert.Nil(t, g)
			})
		}
	})
}

func TestGhostsParseAndByMXID(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newGhostEnv(t, db)
		tests := []struct {
			name     string
			userID   id.UserID
			network  string
			remoteID string
		}{
			{"an IRC ghost is found by its MXID", "@irc_libera__bob:example.org", "libera", "Bob"},
			{"a Slack ghost is found by its MXID", "@slack_acme__u123:example.org", "acme", "U123"},
			{"a real user is no ghost", "@bob:example.org", "", ""},
			{"a ghost-like ID on another server is no ghost", "@irc_libera_bob:example.com", "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				network, remoteID, ok := env.ghosts.Parse(tt.userID)
				assert.Equal(t, tt.network != "", ok)
				assert.Equal(t, tt.network, network)
				assert.Equal(t, tt.remoteID, remoteID)
				g, err := env.ghosts.ByMXID(ctx, tt.userID)
				require.NoError(t, err)
				if tt.network == "" {
					assert.Nil(t, g)
				} else {
					require.NotNil(t, g)
					assert.Equal(t, tt.userID, g.MXID)
				}
			})
		}
	})
}

func TestGhostEnsureRegistersOnce(t *testing.T) {
	withGhost(t, "alice", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		require.NoError(t, g.Ensure(ctx))
		require.NoError(t, g.Ensure(ctx))
		assert.Equal(t, map[string]int{"POST register": 1}, env.hs.snapshot())
	})
}

func TestGhostProfileIsPushedOnlyWhenItChanged(t *testing.T) {
	withGhost(t, "alice", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		var avatar avatarSource
		steps := []struct {
			name       string
			profile    puppet.Profile
			want       map[string]int
			wantName   string
			wantAvatar string
		}{
			{"the first update registers and sets name and avatar",
				puppet.Profile{Name: "Alice", AvatarID: "a1", FetchAvatar: avatar.fetch},
				map[string]int{"POST register": 1, "PUT displayname": 1, "POST upload": 1, "PUT avatar_url": 1},
				"Alice", "mxc://example.org/media1"},
			{"the same profile again sends nothing",
				puppet.Profile{Name: "Alice", AvatarID: "a1", FetchAvatar: avatar.fetch},
				map[string]int{}, "Alice", "mxc://example.org/media1"},
			{"a new name sends only the name",
				puppet.Profile{Name: "Alice (away)", AvatarID: "a1", FetchAvatar: avatar.fetch},
				map[string]int{"PUT displayname": 1}, "Alice (away)", "mxc://example.org/media1"},
			{"a new avatar ID uploads and sets only the avatar",
				puppet.Profile{Name: "Alice (away)", AvatarID: "a2", FetchAvatar: avatar.fetch},
				map[string]int{"POST upload": 1, "PUT avatar_url": 1}, "Alice (away)", "mxc://example.org/media2"},
			{"an empty avatar ID removes the avatar without an upload",
				puppet.Profile{Name: "Alice (away)"},
				map[string]int{"PUT avatar_url": 1}, "Alice (away)", ""},
			{"no avatar again sends nothing",
				puppet.Profile{Name: "Alice (away)"},
				map[string]int{}, "Alice (away)", ""},
			{"an empty name leaves the name alone",
				puppet.Profile{},
				map[string]int{}, "Alice (away)", ""},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				before := env.hs.snapshot()
				require.NoError(t, g.UpdateProfile(ctx, step.profile))
				assert.Equal(t, step.want, env.hs.since(before))
				name, _ := env.hs.profile(g.MXID, "displayname")
				assert.Equal(t, step.wantName, name)
				assert.Equal(t, step.wantName, g.DisplayName())
				avatar, _ := env.hs.profile(g.MXID, "avatar_url")
				assert.Equal(t, step.wantAvatar, avatar)
				assert.Equal(t, id.ContentURIString(step.wantAvatar), g.AvatarURL())
			})
		}
		assert.Equal(t, 2, avatar.count(), "the avatar is fetched once per avatar ID")
	})
}

func TestGhostWithoutAvatarMakesNoAvatarRequest(t *testing.T) {
	withGhost(t, "bob", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		require.NoError(t, g.UpdateProfile(ctx, puppet.Profile{Name: "Bob"}))
		assert.Equal(t, map[string]int{"POST register": 1, "PUT displayname": 1}, env.hs.snapshot())
	})
}

func TestGhostProfileSurvivesARestart(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newGhostEnv(t, db)
		var avatar avatarSource
		profile := puppet.Profile{Name: "Carol", AvatarID: "c1", FetchAvatar: avatar.fetch}
		g, err := env.ghosts.Get(ctx, "libera", "carol")
		require.NoError(t, err)
		require.NoError(t, g.UpdateProfile(ctx, profile))

		// A new process: a new store on the same database and homeserver.
		restarted, err := puppet.NewGhosts(env.db, env.hs.appService(), env.irc)
		require.NoError(t, err)
		g2, err := restarted.Get(ctx, "libera", "carol")
		require.NoError(t, err)
		assert.Equal(t, "Carol", g2.DisplayName())
		assert.Equal(t, id.ContentURIString("mxc://example.org/media1"), g2.AvatarURL())
		before := env.hs.snapshot()
		require.NoError(t, g2.UpdateProfile(ctx, profile))
		assert.Empty(t, env.hs.since(before), "an unchanged profile is not re-sent after a restart")
		assert.Equal(t, 1, avatar.count())
	})
}

func TestGhostConcurrentUpdatesPushOnce(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newGhostEnv(t, db)
		var avatar avatarSource
		profile := puppet.Profile{Name: "Dave", AvatarID: "d1", FetchAvatar: avatar.fetch}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				g, err := env.ghosts.Get(ctx, "libera", "dave")
				if err == nil {
					err = g.UpdateProfile(ctx, profile)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, map[string]int{"POST register": 1, "PUT displayname": 1, "POST upload": 1, "PUT avatar_url": 1}, env.hs.snapshot())
		assert.Equal(t, 1, avatar.count())
	})
}

func TestGhostProfileReadsDoNotWaitForAPush(t *testing.T) {
	withGhost(t, "gina", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		require.NoError(t, g.UpdateProfile(ctx, puppet.Profile{Name: "Gina"}))
		fetching, release := make(chan struct{}), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- g.UpdateProfile(ctx, puppet.Profile{Name: "Gina", AvatarID: "slow", FetchAvatar: func(context.Context) ([]byte, string, error) {
				close(fetching)
				<-release
				return []byte("img"), "image/png", nil
			}})
		}()
		<-fetching
		assert.Equal(t, "Gina", g.DisplayName(), "read while the avatar is still being fetched")
		assert.Empty(t, g.AvatarURL())
		close(release)
		require.NoError(t, <-done)
		assert.NotEmpty(t, g.AvatarURL())
	})
}

func TestGhostFailedPushesAreRetried(t *testing.T) {
	withGhost(t, "erin", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		var avatar avatarSource
		profile := puppet.Profile{Name: "Erin", AvatarID: "e1", FetchAvatar: avatar.fetch}

		t.Run("a failed avatar set keeps the name and reports the error", func(t *testing.T) {
			env.hs.failOnce("PUT avatar_url", http.StatusForbidden)
			err := g.UpdateProfile(ctx, profile)
			assert.ErrorContains(t, err, "set avatar")
			assert.Equal(t, "Erin", g.DisplayName())
			assert.Empty(t, g.AvatarURL())
		})
		t.Run("the retry sets the avatar without uploading it again", func(t *testing.T) {
			before := env.hs.snapshot()
			require.NoError(t, g.UpdateProfile(ctx, profile))
			assert.Equal(t, map[string]int{"PUT avatar_url": 1}, env.hs.since(before))
			assert.Equal(t, 1, avatar.count())
			assert.Equal(t, id.ContentURIString("mxc://example.org/media1"), g.AvatarURL())
		})
		t.Run("a failed fetch changes nothing", func(t *testing.T) {
			boom := errors.New("remote avatar gone")
			before := env.hs.snapshot()
			err := g.UpdateProfile(ctx, puppet.Profile{Name: "Erin", AvatarID: "e2", FetchAvatar: func(context.Context) ([]byte, string, error) {
				return nil, "", boom
			}})
			assert.ErrorIs(t, err, boom)
			assert.Empty(t, env.hs.since(before))
			assert.Equal(t, id.ContentURIString("mxc://example.org/media1"), g.AvatarURL())
		})
		t.Run("an avatar ID without a fetcher is an error, not a panic", func(t *testing.T) {
			err := g.UpdateProfile(ctx, puppet.Profile{Name: "Erin", AvatarID: "e3"})
			assert.ErrorContains(t, err, "without FetchAvatar")
		})
	})
}

func TestGhostChangedTemplateMovesTheGhost(t *testing.T) {
	withGhost(t, "frank", func(t *testing.T, ctx context.Context, env *ghostEnv, g *puppet.Ghost) {
		require.NoError(t, g.UpdateProfile(ctx, puppet.Profile{Name: "Frank"}))

		renamed := mustNamer(t, "libera_{id}", "libera", testDomain)
		moved, err := puppet.NewGhosts(env.db, env.hs.appService(), renamed)
		require.NoError(t, err)
		g2, err := moved.Get(ctx, "libera", "frank")
		require.NoError(t, err)
		assert.Equal(t, id.UserID("@libera_frank:example.org"), g2.MXID)
		assert.Empty(t, g2.DisplayName(), "the new account has no profile yet")
		before := env.hs.snapshot()
		require.NoError(t, g2.UpdateProfile(ctx, puppet.Profile{Name: "Frank"}))
		assert.Equal(t, map[string]int{"POST register": 1, "PUT displayname": 1}, env.hs.since(before))
	})
}

func TestNewGhostsRefusesTwoNamersForOneNetwork(t *testing.T) {
	a := mustNamer(t, "irc_{network}_{id}", "libera", testDomain)
	b := mustNamer(t, "libera_{id}", "libera", testDomain)
	_, err := puppet.NewGhosts(nil, nil, a, b)
	assert.ErrorContains(t, err, "two ghost namers")
}

// BenchmarkGhostsGet measures the lookup the router does for every remote
// message: a ghost that is already loaded.
func BenchmarkGhostsGet(b *testing.B) {
	ctx := context.Background()
	hs := newFakeHS(b)
	irc := mustNamer(b, "irc_{network}_{id}", "libera", testDomain)
	ghosts, err := puppet.NewGhosts(upgraded(b, storagetest.Open(b, "sqlite")), hs.appService(), irc)
	require.NoError(b, err)
	_, err = ghosts.Get(ctx, "libera", "alice")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ghosts.Get(ctx, "libera", "alice"); err != nil {
			b.Fatal(err)
		}
	}
}
