package puppet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mau.fi/util/dbutil"
	mauas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/puppet"
	"github.com/isthmus-bridge/isthmus/storage/storagetest"
)

const (
	appserviceID = "isthmus"
	otherDomain  = "other.org"
	dpASToken    = "as-token-of-the-double-puppet-appservice"
	sharedSecret = "correct horse battery staple"
	aliceToken   = "syt_alice_own_token"
	testRoom     = id.RoomID("!room:example.org")
	alice        = id.UserID("@alice:example.org")
	bob          = id.UserID("@bob:other.org")
)

// dpEnv is a double-puppet store on a fresh database. The fake homeserver
// serves both example.org and, through the discovery stub, other.org.
type dpEnv struct {
	hs        *fakeHS
	as        *mauas.AppService
	db        *dbutil.Database
	dp        *puppet.DoublePuppets
	discovery *int
	dropped   *[]string
}

func newDPEnv(t *testing.T, db *dbutil.Database, secrets map[string]string) *dpEnv {
	t.Helper()
	hs := newFakeHS(t)
	hs.configure(func(hs *fakeHS) {
		hs.asTokens[dpASToken] = true
		hs.sharedSecret = sharedSecret
		hs.tokens[aliceToken] = alice
	})
	env := &dpEnv{hs: hs, as: hs.appService(), db: upgraded(t, db), discovery: new(int), dropped: new([]string)}
	env.dp = env.reopen(t, secrets)
	return env
}

// reopen makes a new store on the same database, as after a restart with
// another config.
func (env *dpEnv) reopen(t *testing.T, secrets map[string]string) *puppet.DoublePuppets {
	t.Helper()
	dp, err := puppet.NewDoublePuppets(env.db, env.as, env.hs.URL(), testDomain, secrets, appserviceID)
	require.NoError(t, err)
	var mu sync.Mutex
	puppet.SetDiscovery(dp, func(_ context.Context, server string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		*env.discovery++
		if server == otherDomain {
			return env.hs.URL(), nil
		}
		return "", fmt.Errorf("no homeserver for %s", server)
	})
	dp.OnDropped = func(_ context.Context, mxid id.UserID, reason string) {
		mu.Lock()
		defer mu.Unlock()
		*env.dropped = append(*env.dropped, mxid.String()+": "+reason)
	}
	return dp
}

// sendThrough sends a text as the user's double puppet and returns what the
// homeserver received.
func (env *dpEnv) sendThrough(t *testing.T, mxid id.UserID) map[string]any {
	t.Helper()
	ctx := context.Background()
	intent, err := env.dp.Intent(ctx, mxid)
	require.NoError(t, err)
	require.NotNil(t, intent)
	require.NoError(t, env.as.StateStore.SetMembership(ctx, testRoom, mxid, event.MembershipJoin))
	// SendMessageEvent adds the marker; mautrix's SendText shortcut does not.
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: "hello from the native app"}
	_, err = intent.SendMessageEvent(ctx, testRoom, event.EventMessage, content)
	require.NoError(t, err)
	sent := env.hs.sentEvents()
	require.NotEmpty(t, sent)
	return sent[len(sent)-1]
}

func TestDoublePuppetLogin(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newDPEnv(t, db, nil)
		env.hs.addUserToken("syt_bobs_token", bob)
		tests := []struct {
			name  string
			token string
			want  error
		}{
			{"an unknown token is refused as invalid", "syt_nonsense", puppet.ErrInvalidToken},
			{"an empty token is refused as invalid", "", puppet.ErrInvalidToken},
			{"someone else's token is refused as a mismatch", "syt_bobs_token", puppet.ErrTokenMismatch},
			{"the user's own token is stored", aliceToken, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := env.dp.Login(ctx, alice, tt.token)
				d, getErr := env.dp.Get(ctx, alice)
				require.NoError(t, getErr)
				if tt.want != nil {
					assert.ErrorIs(t, err, tt.want)
					assert.Nil(t, d, "nothing is stored on failure")
					return
				}
				require.NoError(t, err)
				require.NotNil(t, d)
				assert.Equal(t, puppet.SourceUser, d.Source)
				assert.Equal(t, env.hs.URL(), d.HomeserverURL)
				assert.WithinDuration(t, time.Now(), d.CreatedAt, time.Minute)
			})
		}
		t.Run("the stored token acts as the user and marks its events", func(t *testing.T) {
			sent := env.sendThrough(t, alice)
			assert.Equal(t, string(alice), sent["sender"])
			assert.Equal(t, appserviceID, sent[puppet.DoublePuppetKey])
		})
	})
}

func TestDoublePuppetAutoLogin(t *testing.T) {
	secrets := map[string]string{testDomain: "as_token:" + dpASToken, otherDomain: sharedSecret}
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, env *dpEnv)
	}{
		{"an as_token secret masquerades without storing a token", func(t *testing.T, ctx context.Context, env *dpEnv) {
			require.NoError(t, env.dp.AutoLogin(ctx, alice))
			d, err := env.dp.Get(ctx, alice)
			require.NoError(t, err)
			require.NotNil(t, d)
			assert.Equal(t, puppet.SourceSecret, d.Source)
			assert.Equal(t, env.hs.URL(), d.HomeserverURL)
			var stored string
			require.NoError(t, env.db.QueryRow(ctx, "SELECT access_token FROM double_puppet WHERE mxid=$1", alice).Scan(&stored))
			assert.Empty(t, stored, "the configured as_token is not copied into the table")
			sent := env.sendThrough(t, alice)
			assert.Equal(t, string(alice), sent["sender"])
			assert.Equal(t, appserviceID, sent[puppet.DoublePuppetKey])
		}},
		{"an as_token that may not act as the user is refused", func(t *testing.T, ctx context.Context, env *dpEnv) {
			env.hs.configure(func(hs *fakeHS) { hs.forbidden[alice] = true })
			assert.ErrorIs(t, env.dp.AutoLogin(ctx, alice), puppet.ErrInvalidToken)
			d, err := env.dp.Get(ctx, alice)
			require.NoError(t, err)
			assert.Nil(t, d)
		}},
		{"a shared secret logs in on the discovered homeserver", func(t *testing.T, ctx context.Context, env *dpEnv) {
			require.NoError(t, env.dp.AutoLogin(ctx, bob))
			d, err := env.dp.Get(ctx, bob)
			require.NoError(t, err)
			require.NotNil(t, d)
			assert.Equal(t, puppet.SourceSecret, d.Source)
			assert.Equal(t, 1, env.hs.count("POST login"))
			sent := env.sendThrough(t, bob)
			assert.Equal(t, string(bob), sent["sender"])
			assert.Equal(t, appserviceID, sent[puppet.DoublePuppetKey])
		}},
		{"a homeserver with the legacy module gets the proof as a password", func(t *testing.T, ctx context.Context, env *dpEnv) {
			env.hs.configure(func(hs *fakeHS) { hs.legacyLogin = true })
			require.NoError(t, env.dp.AutoLogin(ctx, bob))
			assert.Equal(t, string(bob), env.sendThrough(t, bob)["sender"])
		}},
		{"a wrong shared secret is refused and nothing is stored", func(t *testing.T, ctx context.Context, env *dpEnv) {
			env.hs.configure(func(hs *fakeHS) { hs.sharedSecret = "another secret" })
			assert.Error(t, env.dp.AutoLogin(ctx, bob))
			d, err := env.dp.Get(ctx, bob)
			require.NoError(t, err)
			assert.Nil(t, d)
		}},
		{"a homeserver without a secret gives ErrNoSecret and no request", func(t *testing.T, ctx context.Context, env *dpEnv) {
			assert.ErrorIs(t, env.dp.AutoLogin(ctx, id.UserID("@carol:"+testDomain+"x")), puppet.ErrNoSecret)
			assert.Empty(t, env.hs.snapshot())
		}},
		{"logging in again revokes the device of the previous login", func(t *testing.T, ctx context.Context, env *dpEnv) {
			require.NoError(t, env.dp.AutoLogin(ctx, bob))
			require.NoError(t, env.dp.AutoLogin(ctx, bob))
			assert.Equal(t, 2, env.hs.count("POST login"))
			assert.Equal(t, 1, env.hs.count("POST logout"))
			assert.Equal(t, 1, *env.discovery, "the homeserver is discovered once")
			require.NoError(t, env.dp.Validate(ctx, bob), "the new token works")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
				tt.run(t, context.Background(), newDPEnv(t, db, secrets))
			})
		})
	}
}

func TestDoublePuppetIntent(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newDPEnv(t, db, nil)
		t.Run("a user without a double puppet gets no intent and no error", func(t *testing.T) {
			intent, err := env.dp.Intent(ctx, alice)
			assert.NoError(t, err)
			assert.Nil(t, intent)
		})
		t.Run("the intent is the user's own, marked as a double puppet", func(t *testing.T) {
			require.NoError(t, env.dp.Login(ctx, alice, aliceToken))
			intent, err := env.dp.Intent(ctx, alice)
			require.NoError(t, err)
			require.NotNil(t, intent)
			assert.Equal(t, alice, intent.UserID)
			assert.True(t, intent.IsCustomPuppet)
			assert.True(t, intent.IsDoublePuppet())
			again, err := env.dp.Intent(ctx, alice)
			require.NoError(t, err)
			assert.Same(t, intent, again)
		})
		t.Run("a logged-out user gets no intent", func(t *testing.T) {
			require.NoError(t, env.dp.Logout(ctx, alice))
			intent, err := env.dp.Intent(ctx, alice)
			assert.NoError(t, err)
			assert.Nil(t, intent)
		})
	})
}

func TestDoublePuppetValidate(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newDPEnv(t, db, map[string]string{testDomain: "as_token:" + dpASToken})
		t.Run("a user without a double puppet is not logged in", func(t *testing.T) {
			assert.ErrorIs(t, env.dp.Validate(ctx, alice), puppet.ErrNotLoggedIn)
		})
		require.NoError(t, env.dp.Login(ctx, alice, aliceToken))
		t.Run("a working token is kept", func(t *testing.T) {
			require.NoError(t, env.dp.Validate(ctx, alice))
			assert.Empty(t, *env.dropped)
		})
		t.Run("a server error keeps the token", func(t *testing.T) {
			env.hs.failOnce("GET whoami", http.StatusInternalServerError)
			err := env.dp.Validate(ctx, alice)
			assert.Error(t, err)
			assert.NotErrorIs(t, err, puppet.ErrTokenGone)
			d, _ := env.dp.Get(ctx, alice)
			assert.NotNil(t, d)
		})
		t.Run("a revoked token is dropped and the user told", func(t *testing.T) {
			env.hs.revoke(aliceToken)
			err := env.dp.Validate(ctx, alice)
			assert.ErrorIs(t, err, puppet.ErrTokenGone)
			d, _ := env.dp.Get(ctx, alice)
			assert.Nil(t, d)
			intent, err := env.dp.Intent(ctx, alice)
			assert.NoError(t, err)
			assert.Nil(t, intent)
			require.Len(t, *env.dropped, 1)
			assert.Contains(t, (*env.dropped)[0], string(alice))
		})
		t.Run("a forbidden masquerade is dropped", func(t *testing.T) {
			require.NoError(t, env.dp.AutoLogin(ctx, alice))
			env.hs.configure(func(hs *fakeHS) { hs.forbidden[alice] = true })
			defer env.hs.configure(func(hs *fakeHS) { delete(hs.forbidden, alice) })
			assert.ErrorIs(t, env.dp.Validate(ctx, alice), puppet.ErrTokenGone)
			assert.Len(t, *env.dropped, 2)
		})
		t.Run("a masquerade whose secret left the config is dropped", func(t *testing.T) {
			require.NoError(t, env.dp.AutoLogin(ctx, alice))
			unconfigured := env.reopen(t, nil)
			intent, err := unconfigured.Intent(ctx, alice)
			assert.ErrorIs(t, err, puppet.ErrNoSecret)
			assert.Nil(t, intent)
			assert.ErrorIs(t, unconfigured.Validate(ctx, alice), puppet.ErrTokenGone)
			d, _ := unconfigured.Get(ctx, alice)
			assert.Nil(t, d)
		})
	})
}

func TestDoublePuppetLogout(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		env := newDPEnv(t, db, map[string]string{otherDomain: sharedSecret})
		t.Run("logging out a bridge-made login revokes its device", func(t *testing.T) {
			require.NoError(t, env.dp.AutoLogin(ctx, bob))
			require.NoError(t, env.dp.Logout(ctx, bob))
			assert.Equal(t, 1, env.hs.count("POST logout"))
			d, _ := env.dp.Get(ctx, bob)
			assert.Nil(t, d)
		})
		t.Run("logging out a user's own token leaves their session alone", func(t *testing.T) {
			require.NoError(t, env.dp.Login(ctx, alice, aliceToken))
			require.NoError(t, env.dp.Logout(ctx, alice))
			assert.Equal(t, 1, env.hs.count("POST logout"), "no new logout")
			d, _ := env.dp.Get(ctx, alice)
			assert.Nil(t, d)
		})
		t.Run("logging out without a double puppet is fine", func(t *testing.T) {
			assert.NoError(t, env.dp.Logout(ctx, alice))
		})
	})
}

func TestDoublePuppetTokensAreNeverLogged(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *dbutil.Database) {
		var logs bytes.Buffer
		log := zerolog.New(&logs).Level(zerolog.TraceLevel)
		ctx := log.WithContext(context.Background())
		env := newDPEnv(t, db, map[string]string{testDomain: "as_token:" + dpASToken, otherDomain: sharedSecret})
		env.as.Log = log

		require.NoError(t, env.dp.Login(ctx, alice, aliceToken))
		require.NoError(t, env.dp.Validate(ctx, alice))
		assert.ErrorIs(t, env.dp.Login(ctx, alice, "syt_wrong_secret_token"), puppet.ErrInvalidToken)
		require.NoError(t, env.dp.AutoLogin(ctx, alice))
		require.NoError(t, env.dp.AutoLogin(ctx, bob))
		require.NoError(t, env.dp.AutoLogin(ctx, bob))
		require.NoError(t, env.dp.Validate(ctx, bob))
		env.hs.configure(func(hs *fakeHS) { delete(hs.tokens, "syt_issued_2") })
		assert.ErrorIs(t, env.dp.Validate(ctx, bob), puppet.ErrTokenGone)
		require.NoError(t, env.dp.Logout(ctx, alice))

		out := logs.String()
		require.Contains(t, out, "Double puppet stored", "the log was captured")
		require.Contains(t, out, "Double puppet dropped")
		// The HMAC proof of a shared-secret login is as good as a token.
		proof := sharedSecretProof(sharedSecret, bob)
		for _, secret := range []string{aliceToken, "syt_wrong_secret_token", "syt_issued_1", "syt_issued_2", dpASToken, testASToken, sharedSecret, proof} {
			assert.NotContains(t, out, secret)
		}
	})
}

func TestIsDoublePuppetEcho(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    bool
	}{
		{"an event with our marker is an echo", `{"msgtype":"m.text","body":"hi","fi.mau.double_puppet_source":"isthmus"}`, true},
		{"another bridge's marker is not our echo", `{"msgtype":"m.text","body":"hi","fi.mau.double_puppet_source":"mautrix-slack"}`, false},
		{"an event without a marker is not an echo", `{"msgtype":"m.text","body":"hi"}`, false},
		{"a marker that is not a string is not an echo", `{"msgtype":"m.text","body":"hi","fi.mau.double_puppet_source":true}`, false},
		{"a redaction with our marker is an echo", `{"redacts":"$x","fi.mau.double_puppet_source":"isthmus"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evt := &event.Event{}
			raw := `{"type":"m.room.message","sender":"@alice:example.org","room_id":"!r:example.org","event_id":"$e","content":` + tt.content + `}`
			require.NoError(t, json.Unmarshal([]byte(raw), evt))
			assert.Equal(t, tt.want, puppet.IsDoublePuppetEcho(evt, appserviceID))
		})
	}
	t.Run("a nil event is not an echo", func(t *testing.T) {
		assert.False(t, puppet.IsDoublePuppetEcho(nil, appserviceID))
	})
	t.Run("no appservice ID matches nothing", func(t *testing.T) {
		evt := &event.Event{Content: event.Content{Raw: map[string]any{puppet.DoublePuppetKey: ""}}}
		assert.False(t, puppet.IsDoublePuppetEcho(evt, ""))
	})
}

func TestNewDoublePuppetsChecksItsInputs(t *testing.T) {
	hs := newFakeHS(t)
	tests := []struct {
		name    string
		hsURL   string
		secrets map[string]string
		asID    string
		marker  string
		wantErr string
	}{
		{"a missing homeserver URL is refused", "", nil, appserviceID, "", "homeserver URL"},
		{"a missing appservice ID is refused", hs.URL(), nil, "", "", "appservice ID"},
		{"an empty secret is refused", hs.URL(), map[string]string{otherDomain: ""}, appserviceID, "", "empty secret"},
		{"an empty as_token is refused", hs.URL(), map[string]string{otherDomain: "as_token:"}, appserviceID, "", "empty secret"},
		{"an appservice with another marker is refused", hs.URL(), nil, appserviceID, "someone-else", "marks double-puppet events"},
		{"an appservice without a marker gets ours", hs.URL(), nil, appserviceID, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := hs.appService()
			as.DoublePuppetValue = tt.marker
			_, err := puppet.NewDoublePuppets(nil, as, tt.hsURL, testDomain, tt.secrets, tt.asID)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, appserviceID, as.DoublePuppetValue)
		})
	}
}
