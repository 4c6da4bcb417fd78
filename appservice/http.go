package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime/debug"
	"strings"

	"go.mau.fi/util/exhttp"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Path prefixes: the spec's current one, and the legacy ones homeservers
// fall back to (transactions, users and rooms at the root; third-party
// lookups under unstable).
const (
	prefixV1               = "/_matrix/app/v1"
	prefixLegacy           = ""
	prefixUnstableThirdPty = "/_matrix/app/unstable"
)

// routes builds the HTTP handler: panic recovery, then authentication for
// every path (unknown ones too), then the routes.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{prefixV1, prefixLegacy} {
		mux.Handle(p+"/transactions/{txnId}", onlyMethod(http.MethodPut, s.putTransaction))
		mux.Handle(p+"/users/{userId}", onlyMethod(http.MethodGet, s.getUser))
		mux.Handle(p+"/rooms/{roomAlias}", onlyMethod(http.MethodGet, s.getRoom))
	}
	mux.Handle(prefixV1+"/ping", onlyMethod(http.MethodPost, s.postPing))
	for _, p := range []string{prefixV1, prefixUnstableThirdPty} {
		mux.Handle(p+"/thirdparty/protocol/{protocol}", onlyMethod(http.MethodGet, s.getProtocol))
		mux.Handle(p+"/thirdparty/location/{protocol}", onlyMethod(http.MethodGet, s.getLocations))
		mux.Handle(p+"/thirdparty/user/{protocol}", onlyMethod(http.MethodGet, s.getUsers))
		mux.Handle(p+"/thirdparty/location", onlyMethod(http.MethodGet, s.getLocationsByAlias))
		mux.Handle(p+"/thirdparty/user", onlyMethod(http.MethodGet, s.getUsersByID))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mautrix.MUnrecognized.WithMessage("Unrecognized endpoint").Write(w)
	})
	return s.recoverPanics(s.authenticate(mux))
}

// onlyMethod answers other methods with 405 M_UNRECOGNIZED, as the spec asks
// of a known path with an unsupported method.
func onlyMethod(method string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			mautrix.MUnrecognized.WithStatus(http.StatusMethodNotAllowed).WithMessage("Method not allowed").Write(w)
			return
		}
		h(w, r)
	})
}

// recoverPanics answers 500 instead of dropping the connection when a
// handler panics.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger().Error().Any("panic", p).Str("stack", string(debug.Stack())).Str("path", r.URL.Path).Msg("HTTP handler panicked")
				mautrix.MUnknown.WithMessage("Internal error").Write(w)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// readBody reads a request body of at most maxBodyBytes. On failure it has
// already answered (413 M_TOO_LARGE, or 400 M_NOT_JSON for a broken read).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		mautrix.MTooLarge.WithMessage("Request body is larger than %d bytes", maxBodyBytes).Write(w)
		return nil, false
	} else if err != nil {
		mautrix.MNotJSON.WithMessage("Could not read request body").Write(w)
		return nil, false
	}
	return body, true
}

func writeEmpty(w http.ResponseWriter) {
	exhttp.WriteEmptyJSONResponse(w, http.StatusOK)
}

// getUser answers whether a user in our namespace exists, letting the
// handler create it.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	userID := id.UserID(r.PathValue("userId"))
	if _, _, err := userID.Parse(); err != nil {
		mautrix.MInvalidParam.WithMessage("Invalid user ID").Write(w)
		return
	}
	ok, err := s.handler.QueryUser(s.requestContext(r), userID)
	s.answerQuery(w, ok, err, "user")
}

// getRoom answers whether a room alias in our namespace exists, letting the
// handler create the room.
func (s *Server) getRoom(w http.ResponseWriter, r *http.Request) {
	alias := id.RoomAlias(r.PathValue("roomAlias"))
	if localpart, server, ok := strings.Cut(string(alias), ":"); !ok || len(localpart) < 2 || localpart[0] != '#' || server == "" {
		mautrix.MInvalidParam.WithMessage("Invalid room alias").Write(w)
		return
	}
	ok, err := s.handler.QueryAlias(s.requestContext(r), alias)
	s.answerQuery(w, ok, err, "room alias")
}

func (s *Server) answerQuery(w http.ResponseWriter, ok bool, err error, what string) {
	switch {
	case err != nil:
		s.logger().Err(err).Msgf("Failed to answer %s query", what)
		mautrix.MUnknown.WithMessage("Failed to query %s", what).Write(w)
	case ok:
		writeEmpty(w)
	default:
		mautrix.MNotFound.WithMessage("No such %s", what).Write(w)
	}
}

// postPing answers the homeserver's ping (which it sends when the bridge
// calls the client API's appservice ping) with {}.
func (s *Server) postPing(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		TransactionID string `json:"transaction_id"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			jsonError(err).Write(w)
			return
		}
	}
	s.logger().Debug().Str("txn_id", req.TransactionID).Msg("Ping from the homeserver")
	writeEmpty(w)
}

// jsonError tells a body that is not JSON (M_NOT_JSON) from JSON of the
// wrong shape (M_BAD_JSON).
func jsonError(err error) mautrix.RespError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return mautrix.MBadJSON.WithMessage("Unexpected JSON shape: %v", err)
	}
	return mautrix.MNotJSON.WithMessage("Request body is not valid JSON")
}

// requestContext is the request's context with the server's logger.
func (s *Server) requestContext(r *http.Request) context.Context {
	return s.logger().WithContext(r.Context())
}
