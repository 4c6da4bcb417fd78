package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/id"
)

// thirdPartyRecorder adds third-party lookups to the recorder.
type thirdPartyRecorder struct {
	*recorder
	lastFields url.Values
}

var _ ThirdPartyHandler = (*thirdPartyRecorder)(nil)

func (tp *thirdPartyRecorder) GetProtocol(_ context.Context, protocol string) (*Protocol, error) {
	if protocol != "irc" {
		return nil, nil
	}
	return &Protocol{UserFields: []string{"network", "nickname"}, LocationFields: []string{"network", "channel"},
		FieldTypes: map[string]FieldType{}, Instances: []ProtocolInstance{{Desc: "Libera", NetworkID: "libera", Fields: map[string]string{}}}}, nil
}

func (tp *thirdPartyRecorder) GetLocations(_ context.Context, protocol string, fields url.Values) ([]Location, error) {
	tp.lastFields = fields
	if fields.Get("channel") == "" {
		return nil, nil
	}
	return []Location{{Alias: "#irc_libera_go:example.org", Protocol: protocol, Fields: map[string]string{"channel": fields.Get("channel")}}}, nil
}

func (tp *thirdPartyRecorder) GetUsers(_ context.Context, protocol string, fields url.Values) ([]ThirdPartyUser, error) {
	tp.lastFields = fields
	if fields.Get("nickname") == "" {
		return nil, nil
	}
	return []ThirdPartyUser{{UserID: "@irc_libera_bob:example.org", Protocol: protocol, Fields: map[string]string{"nickname": "bob"}}}, nil
}

func (tp *thirdPartyRecorder) GetLocationsByAlias(_ context.Context, alias id.RoomAlias) ([]Location, error) {
	if alias != "#irc_libera_go:example.org" {
		return nil, nil
	}
	return []Location{{Alias: alias, Protocol: "irc", Fields: map[string]string{"channel": "#go"}}}, nil
}

func (tp *thirdPartyRecorder) GetUsersByID(_ context.Context, userID id.UserID) ([]ThirdPartyUser, error) {
	return []ThirdPartyUser{{UserID: userID, Protocol: "irc", Fields: map[string]string{"nickname": "bob"}}}, nil
}

func TestAuthentication(t *testing.T) {
	rec := &recorder{users: map[id.UserID]bool{"@irc_bob:example.org": true}}
	srv := newServer(t, sqliteDB(t), &thirdPartyRecorder{recorder: rec})
	endpoints := []struct {
		method, path string
		body         string
		okStatus     int // the answer once authenticated
	}{
		{"PUT", "/_matrix/app/v1/transactions/TXN", `{"events":[]}`, 200},
		{"PUT", "/transactions/TXN", `{"events":[]}`, 200},
		{"GET", "/_matrix/app/v1/users/@irc_bob:example.org", "", 200},
		{"GET", "/users/@irc_bob:example.org", "", 200},
		{"GET", "/_matrix/app/v1/rooms/%23irc_nothing:example.org", "", 404},
		{"GET", "/rooms/%23irc_nothing:example.org", "", 404},
		{"POST", "/_matrix/app/v1/ping", `{"transaction_id":"p1"}`, 200},
		{"GET", "/_matrix/app/v1/thirdparty/protocol/irc", "", 200},
		{"GET", "/_matrix/app/v1/thirdparty/location/irc?channel=%23go", "", 200},
		{"GET", "/_matrix/app/v1/thirdparty/user/irc?nickname=bob", "", 200},
		{"GET", "/_matrix/app/v1/thirdparty/location?alias=%23irc_libera_go:example.org", "", 200},
		{"GET", "/_matrix/app/v1/thirdparty/user?userid=@irc_libera_bob:example.org", "", 200},
		{"GET", "/_matrix/app/unstable/thirdparty/protocol/irc", "", 200},
		{"GET", "/_matrix/app/v1/no/such/endpoint", "", 404},
	}
	type auth struct {
		name   string
		header string
		query  string
		status int
		code   string
	}
	auths := []auth{
		{name: "without a token is unauthorized", status: 401, code: "M_UNAUTHORIZED"},
		{name: "with a wrong bearer token is forbidden", header: "Bearer nope", status: 403, code: "M_FORBIDDEN"},
		{name: "with a wrong query token is forbidden", query: "nope", status: 403, code: "M_FORBIDDEN"},
		{name: "with a non-bearer Authorization header is unauthorized", header: "Basic " + testHSToken, status: 401, code: "M_UNAUTHORIZED"},
		{name: "with a wrong header and a right query token is forbidden", header: "Bearer nope", query: testHSToken, status: 403, code: "M_FORBIDDEN"},
		{name: "with the bearer token passes", header: "Bearer " + testHSToken},
		{name: "with the query token passes", query: testHSToken},
	}
	for i, ep := range endpoints {
		for j, a := range auths {
			t.Run(ep.method+" "+ep.path+" "+a.name, func(t *testing.T) {
				path := strings.Replace(ep.path, "TXN", "auth-"+string(rune('a'+i))+string(rune('a'+j)), 1)
				if a.query != "" {
					sep := "?"
					if strings.Contains(path, "?") {
						sep = "&"
					}
					path += sep + "access_token=" + url.QueryEscape(a.query)
				}
				req := httptest.NewRequest(ep.method, path, strings.NewReader(ep.body))
				if a.header != "" {
					req.Header.Set("Authorization", a.header)
				}
				res := httptest.NewRecorder()
				srv.Handler().ServeHTTP(res, req)
				if a.status != 0 {
					assert.Equal(t, a.status, res.Code)
					assert.Equal(t, a.code, errcode(t, res))
				} else {
					assert.Equal(t, ep.okStatus, res.Code, "body %s", res.Body)
				}
			})
		}
	}
}

func TestMalformedTransactions(t *testing.T) {
	db := sqliteDB(t)
	rec := &recorder{}
	srv := newServer(t, db, rec)
	huge := `{"events":[],"padding":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"a body that is not JSON is M_NOT_JSON", `hello`, 400, "M_NOT_JSON"},
		{"truncated JSON is M_NOT_JSON", `{"events":[{"type":"m.room.message"`, 400, "M_NOT_JSON"},
		{"an empty body is M_NOT_JSON", ``, 400, "M_NOT_JSON"},
		{"a body that is not UTF-8 is M_NOT_JSON", "{\"events\":[{\"type\":\"m.room.message\",\"room_id\":\"!a:b\",\"content\":{\"body\":\"\xff\"}}]}", 400, "M_NOT_JSON"},
		{"a top-level array is M_BAD_JSON", `[]`, 400, "M_BAD_JSON"},
		{"events as an object is M_BAD_JSON", `{"events":{}}`, 400, "M_BAD_JSON"},
		{"events as a string is M_BAD_JSON", `{"events":"nope"}`, 400, "M_BAD_JSON"},
		{"an event that is a number is M_BAD_JSON", `{"events":[{"type":"m.room.message","room_id":"!a:b"},5]}`, 400, "M_BAD_JSON"},
		{"an event without a type is M_BAD_JSON", `{"events":[{"room_id":"!a:b","content":{}}]}`, 400, "M_BAD_JSON"},
		{"a null event is M_BAD_JSON", `{"events":[null]}`, 400, "M_BAD_JSON"},
		{"a type that is not a string is M_BAD_JSON", `{"events":[{"type":5,"room_id":"!a:b"}]}`, 400, "M_BAD_JSON"},
		{"a room_id that is not a string is M_BAD_JSON", `{"events":[{"type":"m.room.message","room_id":["!a:b"]}]}`, 400, "M_BAD_JSON"},
		{"a body over the size limit is M_TOO_LARGE", huge, 413, "M_TOO_LARGE"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := put(srv, "bad-"+string(rune('a'+i)), []byte(c.body))
			assert.Equal(t, c.status, res.Code)
			assert.Equal(t, c.code, errcode(t, res))
		})
	}
	t.Run("nothing was stored or handled", func(t *testing.T) {
		assert.Zero(t, countRows(t, db, "appservice_journal"))
		assert.Zero(t, countRows(t, db, "appservice_txn"))
		assert.Empty(t, rec.handledIDs())
		assert.Zero(t, srv.Stats().Backlog)
	})
	t.Run("the same transaction ID is accepted once fixed", func(t *testing.T) {
		res := put(srv, "bad-a", txnJSON(t, msg("a", 1)))
		assert.Equal(t, 200, res.Code)
		require.Eventually(t, func() bool { return len(rec.handledIDs()) == 1 }, waitTime, tick)
	})
}

func TestQueries(t *testing.T) {
	rec := &recorder{
		users:   map[id.UserID]bool{"@irc_bob:example.org": true},
		aliases: map[id.RoomAlias]bool{"#irc_go:example.org": true},
	}
	srv := newServer(t, sqliteDB(t), rec)
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"an existing user answers {}", "GET", "/_matrix/app/v1/users/@irc_bob:example.org", "", 200, ""},
		{"an unknown user is M_NOT_FOUND", "GET", "/_matrix/app/v1/users/@irc_carol:example.org", "", 404, "M_NOT_FOUND"},
		{"a failing user query is M_UNKNOWN", "GET", "/_matrix/app/v1/users/@error:example.org", "", 500, "M_UNKNOWN"},
		{"a malformed user ID is M_INVALID_PARAM", "GET", "/_matrix/app/v1/users/bob", "", 400, "M_INVALID_PARAM"},
		{"an existing alias answers {}", "GET", "/_matrix/app/v1/rooms/%23irc_go:example.org", "", 200, ""},
		{"an unknown alias is M_NOT_FOUND", "GET", "/rooms/%23irc_rust:example.org", "", 404, "M_NOT_FOUND"},
		{"a malformed alias is M_INVALID_PARAM", "GET", "/_matrix/app/v1/rooms/irc_go", "", 400, "M_INVALID_PARAM"},
		{"a ping without body answers {}", "POST", "/_matrix/app/v1/ping", "", 200, ""},
		{"a ping with a transaction ID answers {}", "POST", "/_matrix/app/v1/ping", `{"transaction_id":"mautrix-go_1"}`, 200, ""},
		{"a ping that is not JSON is M_NOT_JSON", "POST", "/_matrix/app/v1/ping", `{`, 400, "M_NOT_JSON"},
		{"a wrong method is 405 M_UNRECOGNIZED", "GET", "/_matrix/app/v1/transactions/x", "", 405, "M_UNRECOGNIZED"},
		{"an unknown path is M_UNRECOGNIZED", "GET", "/_matrix/app/v2/users/@a:b", "", 404, "M_UNRECOGNIZED"},
		{"third-party lookups without support are M_UNRECOGNIZED", "GET", "/_matrix/app/v1/thirdparty/protocol/irc", "", 404, "M_UNRECOGNIZED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := do(srv.Handler(), c.method, c.path, []byte(c.body))
			assert.Equal(t, c.status, res.Code, "body %s", res.Body)
			if c.code != "" {
				assert.Equal(t, c.code, errcode(t, res))
			} else {
				assert.JSONEq(t, `{}`, res.Body.String())
			}
		})
	}
}

func TestThirdPartyLookups(t *testing.T) {
	tp := &thirdPartyRecorder{recorder: &recorder{}}
	srv := newServer(t, sqliteDB(t), tp)
	cases := []struct {
		name, path string
		status     int
		want       string // JSON, or the errcode
	}{
		{"a known protocol is described", "/_matrix/app/v1/thirdparty/protocol/irc", 200,
			`{"user_fields":["network","nickname"],"location_fields":["network","channel"],"icon":"","field_types":{},"instances":[{"desc":"Libera","fields":{},"network_id":"libera"}]}`},
		{"an unknown protocol is M_NOT_FOUND", "/_matrix/app/v1/thirdparty/protocol/xmpp", 404, "M_NOT_FOUND"},
		{"a location is found by fields", "/_matrix/app/v1/thirdparty/location/irc?channel=%23go", 200,
			`[{"alias":"#irc_libera_go:example.org","protocol":"irc","fields":{"channel":"#go"}}]`},
		{"no location is M_NOT_FOUND", "/_matrix/app/v1/thirdparty/location/irc", 404, "M_NOT_FOUND"},
		{"a user is found by fields", "/_matrix/app/unstable/thirdparty/user/irc?nickname=bob", 200,
			`[{"userid":"@irc_libera_bob:example.org","protocol":"irc","fields":{"nickname":"bob"}}]`},
		{"a location is found by alias", "/_matrix/app/v1/thirdparty/location?alias=%23irc_libera_go:example.org", 200,
			`[{"alias":"#irc_libera_go:example.org","protocol":"irc","fields":{"channel":"#go"}}]`},
		{"an unknown alias is M_NOT_FOUND", "/_matrix/app/v1/thirdparty/location?alias=%23nope:example.org", 404, "M_NOT_FOUND"},
		{"a missing alias is M_MISSING_PARAM", "/_matrix/app/v1/thirdparty/location", 400, "M_MISSING_PARAM"},
		{"a user is found by ID", "/_matrix/app/v1/thirdparty/user?userid=@irc_libera_bob:example.org", 200,
			`[{"userid":"@irc_libera_bob:example.org","protocol":"irc","fields":{"nickname":"bob"}}]`},
		{"a missing user ID is M_MISSING_PARAM", "/_matrix/app/v1/thirdparty/user", 400, "M_MISSING_PARAM"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := do(srv.Handler(), "GET", c.path, nil)
			assert.Equal(t, c.status, res.Code, "body %s", res.Body)
			if c.status == 200 {
				assert.JSONEq(t, c.want, res.Body.String())
			} else {
				assert.Equal(t, c.want, errcode(t, res))
			}
		})
	}
	t.Run("the access_token parameter never reaches the handler", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/_matrix/app/v1/thirdparty/user/irc?nickname=bob&access_token="+testHSToken, nil)
		res := httptest.NewRecorder()
		srv.Handler().ServeHTTP(res, req)
		require.Equal(t, 200, res.Code)
		assert.Equal(t, url.Values{"nickname": {"bob"}}, tp.lastFields)
	})
}

func TestTransactionsBeforeStartAndAfterStop(t *testing.T) {
	srv, err := NewServer(testConfig(), sqliteDB(t), &recorder{})
	require.NoError(t, err)
	t.Run("a transaction before Start is 503", func(t *testing.T) {
		res := put(srv, "early", txnJSON(t, msg("a", 1)))
		assert.Equal(t, http.StatusServiceUnavailable, res.Code)
	})
	require.NoError(t, srv.Start(testContext()))
	require.NoError(t, srv.Stop(context.Background()))
	t.Run("a transaction after Stop is 503", func(t *testing.T) {
		res := put(srv, "late", txnJSON(t, msg("a", 1)))
		assert.Equal(t, http.StatusServiceUnavailable, res.Code)
	})
	t.Run("Start after Stop fails", func(t *testing.T) {
		assert.Error(t, srv.Start(testContext()))
	})
}

func TestPingBodyIsReadLoosely(t *testing.T) {
	srv := newServer(t, sqliteDB(t), &recorder{})
	body, _ := json.Marshal(map[string]any{"transaction_id": "x", "extra": []int{1}})
	res := do(srv.Handler(), "POST", "/_matrix/app/v1/ping", body)
	assert.Equal(t, 200, res.Code)
	res = do(srv.Handler(), "POST", "/_matrix/app/v1/ping", bytes.Repeat([]byte(" "), 10))
	assert.Equal(t, 400, res.Code, "whitespace only is not JSON")
}

func TestSecretsAreNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	log := zerolog.New(&logs).Level(zerolog.TraceLevel)
	srv, err := NewServer(testConfig(), sqliteDB(t), &recorder{})
	require.NoError(t, err)
	require.NoError(t, srv.Start(log.WithContext(context.Background())))
	defer srv.Stop(context.Background())

	requests := []*http.Request{
		httptest.NewRequest("PUT", "/_matrix/app/v1/transactions/a?access_token="+testHSToken, strings.NewReader(`{"events":[]}`)),
		httptest.NewRequest("PUT", "/_matrix/app/v1/transactions/b?access_token=guessed-secret", strings.NewReader(`{"events":[]}`)),
		httptest.NewRequest("GET", "/_matrix/app/v1/users/@error:example.org?access_token="+testHSToken, nil),
		httptest.NewRequest("PUT", "/_matrix/app/v1/transactions/c?access_token="+testHSToken, strings.NewReader(`{"events":5}`)),
	}
	wrongHeader := httptest.NewRequest("GET", "/_matrix/app/v1/users/@a:b", nil)
	wrongHeader.Header.Set("Authorization", "Bearer guessed-secret")
	requests = append(requests, wrongHeader)
	for _, req := range requests {
		srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
	}
	require.NotEmpty(t, logs.String(), "something was logged")
	for _, secret := range []string{testHSToken, testConfig().ASToken, "guessed-secret"} {
		assert.NotContains(t, logs.String(), secret)
	}
}
