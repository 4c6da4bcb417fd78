package slackemu

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
)

// Front is slack.com in front of several emulated workspaces. Every Slack
// workspace is served at the same base URL (https://api.slack.com/web: "a
// collection of HTTP RPC-style methods, all with URLs in the form
// https://slack.com/api/METHOD_FAMILY.method"), and a token belongs to
// the one workspace it was issued in
// (https://api.slack.com/authentication/token-types), so the token of a
// call decides the workspace it acts in. A Front does the same: each Web
// API call goes to the workspace that issued its token, found where
// Server.authenticate looks for it (the bearer header, else the "token"
// parameter of the query or the body). The call reaches that workspace
// unchanged, headers and cookies included: an xoxc- token's "d" cookie is
// checked there.
//
// What a workspace hands out (the websocket URLs of rtm.connect and
// apps.connections.open, upload_url, url_private, team icons) is on the
// Front's host too, under the workspace's team ID ("/T0002/upload/F…"),
// as Slack serves every workspace's files and websockets from shared
// hosts (files.slack.com, wss-primary.slack.com). It matters to clients:
// slack-go sends a token only to https Slack hosts or the host of its API
// URL (GetFile, UploadToURL), so a file URL on another host than the API
// URL would be refused. The workspaces' own addresses keep working.
type Front struct {
	srv  *httptest.Server
	emus []*Server
}

// NewFront starts one API URL for the given workspaces and moves what
// they hand out from then on behind it; it is closed when the test ends.
// Two workspaces with one team ID are a mistake in the test and panic.
func NewFront(t interface{ Cleanup(func()) }, emus ...*Server) *Front {
	for i, s := range emus {
		if slices.ContainsFunc(emus[:i], func(o *Server) bool { return o.team.ID == s.team.ID }) {
			panic("slackemu: two workspaces with team ID " + s.team.ID)
		}
	}
	f := &Front{emus: slices.Clone(emus)}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", f.serveAPI)
	for _, s := range emus {
		mux.Handle("/"+s.team.ID+"/", http.StripPrefix("/"+s.team.ID, s.srv.Config.Handler))
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	for _, s := range emus {
		s.mu.Lock()
		s.public = f.srv.URL + "/" + s.team.ID
		s.mu.Unlock()
	}
	return f
}

// APIURL is the base URL to give the bridge's api_url; it serves every
// workspace of the Front.
func (f *Front) APIURL() string { return f.srv.URL + "/api/" }

// serveAPI hands a call to the workspace that issued its token. The
// answers it gives itself are the ones https://api.slack.com/methods/auth.test
// lists for a call no workspace takes: not_authed without a token,
// invalid_auth for a token nobody issued. Those calls are in no
// workspace's Calls.
func (f *Front) serveAPI(w http.ResponseWriter, r *http.Request) {
	token, err := callToken(r)
	if err != nil {
		writeJSON(w, errorResponse("invalid_form_data"))
		return
	}
	if token == "" {
		writeJSON(w, errorResponse("not_authed"))
		return
	}
	var owners []*Server
	for _, s := range f.emus {
		if s.issued(token) {
			owners = append(owners, s)
		}
	}
	switch len(owners) {
	case 0:
		writeJSON(w, errorResponse("invalid_auth"))
	case 1:
		owners[0].srv.Config.Handler.ServeHTTP(w, r)
	default:
		// Slack never issues one token twice; a test that does has a bug.
		http.Error(w, "slackemu: a token issued by several workspaces", http.StatusInternalServerError)
	}
}

// callToken reads a call's token without using up its body: the body is
// read once, put back for the workspace, and parsed from a copy.
func callToken(r *http.Request) (string, error) {
	if v := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); v != "" {
		return v, nil
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return "", err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	peek := r.Clone(r.Context())
	peek.Body = io.NopCloser(bytes.NewReader(body))
	p, err := params(peek)
	if peek.MultipartForm != nil {
		_ = peek.MultipartForm.RemoveAll()
	}
	if err != nil {
		return "", err
	}
	return p.Get("token"), nil
}

// issued says whether the workspace issued a token, revoked or not (a
// revoked token still goes to its workspace, which answers
// token_revoked), app-level tokens included.
func (s *Server) issued(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[token] != nil || s.apps[token] != nil
}
