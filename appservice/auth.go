package appservice

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"maunium.net/go/mautrix"
)

var (
	errMissingToken = mautrix.RespError{ErrCode: "M_UNAUTHORIZED", StatusCode: http.StatusUnauthorized, Err: "Missing hs_token"}
	errWrongToken   = mautrix.MForbidden.WithMessage("Invalid hs_token")
)

// authenticate lets a request through only with the homeserver's hs_token,
// from "Authorization: Bearer" or the deprecated access_token query
// parameter. A missing token answers 401 M_UNAUTHORIZED, a wrong one 403
// M_FORBIDDEN. Tokens are compared as SHA-256 sums in constant time, and
// never logged.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := requestToken(r)
		if !ok {
			errMissingToken.Write(w)
			return
		}
		sum := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(sum[:], s.hsTokenHash[:]) != 1 {
			s.logger().Warn().Str("path", r.URL.Path).Str("remote_addr", r.RemoteAddr).Msg("Request with a wrong hs_token")
			errWrongToken.Write(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestToken finds the token; an Authorization header that is not a
// bearer token counts as no token.
func requestToken(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		return token, strings.EqualFold(scheme, "Bearer") && token != ""
	}
	token := r.URL.Query().Get("access_token")
	return token, token != ""
}
