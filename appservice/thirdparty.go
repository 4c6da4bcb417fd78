package appservice

import (
	"context"
	"net/http"
	"net/url"

	"go.mau.fi/util/exhttp"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// ThirdPartyHandler is an optional capability of a Handler: the third-party
// lookups behind the client API's /thirdparty endpoints. The server finds it
// by type assertion; without it those endpoints answer 404 M_UNRECOGNIZED.
// Every method is called on the HTTP request's goroutine and may block for a
// lookup (the homeserver's client waits). Returning nil or an empty list
// answers 404 M_NOT_FOUND; an error answers 500.
type ThirdPartyHandler interface {
	Handler
	// GetProtocol describes one protocol from the registration's list.
	GetProtocol(ctx context.Context, protocol string) (*Protocol, error)
	// GetLocations finds portal rooms for a remote location given by
	// protocol-specific fields (e.g. network and channel).
	GetLocations(ctx context.Context, protocol string, fields url.Values) ([]Location, error)
	// GetUsers finds ghosts for a remote user given by protocol-specific
	// fields (e.g. network and nickname).
	GetUsers(ctx context.Context, protocol string, fields url.Values) ([]ThirdPartyUser, error)
	// GetLocationsByAlias is the reverse lookup: the remote locations behind
	// a portal alias.
	GetLocationsByAlias(ctx context.Context, alias id.RoomAlias) ([]Location, error)
	// GetUsersByID is the reverse lookup: the remote users behind a ghost.
	GetUsersByID(ctx context.Context, userID id.UserID) ([]ThirdPartyUser, error)
}

// Protocol describes a third-party protocol to clients.
type Protocol struct {
	UserFields     []string             `json:"user_fields"`
	LocationFields []string             `json:"location_fields"`
	Icon           string               `json:"icon"`
	FieldTypes     map[string]FieldType `json:"field_types"`
	Instances      []ProtocolInstance   `json:"instances"`
}

// FieldType says what a user or location field may hold.
type FieldType struct {
	Regexp      string `json:"regexp"`
	Placeholder string `json:"placeholder"`
}

// ProtocolInstance is one network of a protocol, e.g. one IRC network.
type ProtocolInstance struct {
	Desc      string            `json:"desc"`
	Icon      string            `json:"icon,omitempty"`
	Fields    map[string]string `json:"fields"`
	NetworkID string            `json:"network_id"`
}

// Location is a portal room for a remote location.
type Location struct {
	Alias    id.RoomAlias      `json:"alias"`
	Protocol string            `json:"protocol"`
	Fields   map[string]string `json:"fields"`
}

// ThirdPartyUser is a ghost for a remote user.
type ThirdPartyUser struct {
	UserID   id.UserID         `json:"userid"`
	Protocol string            `json:"protocol"`
	Fields   map[string]string `json:"fields"`
}

var errMissingParam = mautrix.RespError{ErrCode: "M_MISSING_PARAM", StatusCode: http.StatusBadRequest}

var errNoThirdParty = mautrix.MUnrecognized.WithMessage("Third-party lookups are not supported")

// thirdParty returns the handler's ThirdPartyHandler, or answers 404.
func (s *Server) thirdParty(w http.ResponseWriter) (ThirdPartyHandler, bool) {
	tp, ok := s.handler.(ThirdPartyHandler)
	if !ok {
		errNoThirdParty.Write(w)
	}
	return tp, ok
}

// lookupFields are the query parameters minus the deprecated access_token,
// which must never reach a handler.
func lookupFields(r *http.Request) url.Values {
	q := r.URL.Query()
	q.Del("access_token")
	return q
}

func (s *Server) getProtocol(w http.ResponseWriter, r *http.Request) {
	if tp, ok := s.thirdParty(w); ok {
		p, err := tp.GetProtocol(s.requestContext(r), r.PathValue("protocol"))
		s.answerLookup(w, p, p != nil, err, "protocol")
	}
}

func (s *Server) getLocations(w http.ResponseWriter, r *http.Request) {
	if tp, ok := s.thirdParty(w); ok {
		l, err := tp.GetLocations(s.requestContext(r), r.PathValue("protocol"), lookupFields(r))
		s.answerLookup(w, l, len(l) > 0, err, "location")
	}
}

func (s *Server) getUsers(w http.ResponseWriter, r *http.Request) {
	if tp, ok := s.thirdParty(w); ok {
		u, err := tp.GetUsers(s.requestContext(r), r.PathValue("protocol"), lookupFields(r))
		s.answerLookup(w, u, len(u) > 0, err, "user")
	}
}

func (s *Server) getLocationsByAlias(w http.ResponseWriter, r *http.Request) {
	reverseLookup(s, w, r, "alias", "location", func(ctx context.Context, tp ThirdPartyHandler, v string) ([]Location, error) {
		return tp.GetLocationsByAlias(ctx, id.RoomAlias(v))
	})
}

func (s *Server) getUsersByID(w http.ResponseWriter, r *http.Request) {
	reverseLookup(s, w, r, "userid", "user", func(ctx context.Context, tp ThirdPartyHandler, v string) ([]ThirdPartyUser, error) {
		return tp.GetUsersByID(ctx, id.UserID(v))
	})
}

// reverseLookup answers a lookup by a Matrix ID given in the query
// parameter param.
func reverseLookup[T any](s *Server, w http.ResponseWriter, r *http.Request, param, what string,
	lookup func(context.Context, ThirdPartyHandler, string) ([]T, error)) {
	tp, ok := s.thirdParty(w)
	if !ok {
		return
	}
	v := r.URL.Query().Get(param)
	if v == "" {
		errMissingParam.WithMessage("Missing %s parameter", param).Write(w)
		return
	}
	res, err := lookup(s.requestContext(r), tp, v)
	s.answerLookup(w, res, len(res) > 0, err, what)
}

func (s *Server) answerLookup(w http.ResponseWriter, result any, found bool, err error, what string) {
	switch {
	case err != nil:
		s.logger().Err(err).Msgf("Failed third-party %s lookup", what)
		mautrix.MUnknown.WithMessage("Failed to look up %s", what).Write(w)
	case !found:
		mautrix.MNotFound.WithMessage("No matching %s", what).Write(w)
	default:
		exhttp.WriteJSONResponse(w, http.StatusOK, result)
	}
}
