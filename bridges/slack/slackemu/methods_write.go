package slackemu

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The methods in this file change the workspace. Each follows the
// documentation page named above it.

// chatPostMessage follows https://api.slack.com/methods/chat.postMessage.
// A bot token's messages carry bot_id; with a custom "username" they are
// bot_message messages (https://api.slack.com/events/message/bot_message).
func (s *Server) chatPostMessage(c caller, p url.Values) any {
	return s.post(c, p, "")
}

// chatMeMessage follows https://api.slack.com/methods/chat.meMessage: a
// me_message (https://api.slack.com/events/message/me_message).
func (s *Server) chatMeMessage(c caller, p url.Values) any {
	return s.post(c, p, "me_message")
}

func (s *Server) post(c caller, p url.Values, subtype string) any {
	text := p.Get("text")
	if text == "" && p.Get("blocks") == "" && p.Get("attachments") == "" {
		return errorResponse("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	if conv == nil {
		return errResp
	}
	if conv.Archived {
		return errorResponse("is_archived")
	}
	if !slices.Contains(conv.Members, c.user.ID) {
		return errorResponse("not_in_channel")
	}
	m := &Message{Type: "message", Subtype: subtype, User: c.user.ID, Text: linkURLs(text, p.Get("parse")), Team: s.team.ID}
	if b := p.Get("blocks"); b != "" && json.Valid([]byte(b)) {
		m.Blocks = json.RawMessage(b)
	}
	// "attachments": "a JSON-based array of structured attachments,
	// presented as a URL-encoded string".
	if a := p.Get("attachments"); a != "" && json.Valid([]byte(a)) {
		m.Attachments = json.RawMessage(a)
	}
	if ts := p.Get("thread_ts"); ts != "" && subtype == "" {
		if conv.find(ts) == nil {
			return errorResponse("thread_not_found")
		}
		m.ThreadTS = ts
		if truthy(p.Get("reply_broadcast")) {
			m.Subtype = "thread_broadcast"
		}
	}
	if c.token.BotID != "" {
		m.BotID = c.token.BotID
		if name := p.Get("username"); name != "" {
			m.Subtype, m.Username, m.Team = "bot_message", name, ""
			if icon := p.Get("icon_url"); icon != "" {
				m.Icons = &Icons{ImageURL: icon}
			}
		}
	}
	s.storeLocked(conv.ID, m)
	msg := m.clone()
	msg.Channel = ""
	return ok(response{"channel": conv.ID, "ts": m.TS, "message": msg})
}

// chatUpdate follows https://api.slack.com/methods/chat.update: only the
// author may edit (cant_update_message otherwise).
func (s *Server) chatUpdate(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m, errResp := s.messageLocked(c, p, "ts")
	if m == nil {
		return errResp
	}
	if m.User != c.user.ID {
		return errorResponse("cant_update_message")
	}
	text := p.Get("text")
	if text == "" && p.Get("blocks") == "" {
		return errorResponse("no_text")
	}
	text = linkURLs(text, p.Get("parse"))
	s.editLocked(conv, m, c.user.ID, text)
	return ok(response{"channel": conv.ID, "ts": m.TS, "text": text,
		"message": map[string]any{"text": text, "user": m.User}})
}

// chatDelete follows https://api.slack.com/methods/chat.delete: a user
// token may delete only its own messages (cant_delete_message).
func (s *Server) chatDelete(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m, errResp := s.messageLocked(c, p, "ts")
	if m == nil {
		return errResp
	}
	if m.User != c.user.ID && !c.user.IsAdmin {
		return errorResponse("cant_delete_message")
	}
	s.deleteLocked(conv, m.TS)
	return ok(response{"channel": conv.ID, "ts": p.Get("ts")})
}

// reactionsAdd follows https://api.slack.com/methods/reactions.add.
func (s *Server) reactionsAdd(c caller, p url.Values) any {
	return s.react(c, p, true)
}

// reactionsRemove follows https://api.slack.com/methods/reactions.remove.
func (s *Server) reactionsRemove(c caller, p url.Values) any {
	return s.react(c, p, false)
}

func (s *Server) react(c caller, p url.Values, add bool) any {
	name := strings.Trim(p.Get("name"), ":")
	if name == "" {
		return errorResponse("invalid_name")
	}
	if p.Get("channel") == "" || p.Get("timestamp") == "" {
		return errorResponse("no_item_specified")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, m, errResp := s.messageLocked(c, p, "timestamp")
	if m == nil {
		return errResp
	}
	var code string
	if add {
		code = s.addReactionLocked(conv, m, c.user.ID, name)
	} else {
		code = s.removeReactionLocked(conv, m, c.user.ID, name)
	}
	if code != "" {
		return errorResponse(code)
	}
	return ok(nil)
}

// conversationsJoin follows https://api.slack.com/methods/conversations.join:
// channels only (a private one is not found by a non-member); joining one
// the caller is in already succeeds with the already_in_channel warning.
func (s *Server) conversationsJoin(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	switch {
	case conv == nil:
		return errResp
	case conv.Kind == IM || conv.Kind == MPIM:
		return errorResponse("method_not_supported_for_channel_type")
	case conv.Archived:
		return errorResponse("is_archived")
	case slices.Contains(conv.Members, c.user.ID):
		return ok(response{"channel": s.conversationJSONLocked(conv, c.user.ID), "warning": "already_in_channel",
			"response_metadata": map[string]any{"warnings": []string{"already_in_channel"}}})
	}
	s.joinLocked(conv.ID, c.user.ID, "")
	return ok(response{"channel": s.conversationJSONLocked(conv, c.user.ID)})
}

// conversationsLeave follows https://api.slack.com/methods/conversations.leave:
// a caller who is not in the conversation gets {"ok": false,
// "not_in_channel": true} and no error; nobody leaves the general channel,
// nor a DM.
func (s *Server) conversationsLeave(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	switch {
	case conv == nil:
		return errResp
	case conv.Kind == IM:
		return errorResponse("method_not_supported_for_channel_type")
	case conv.General:
		return errorResponse("cant_leave_general")
	case conv.Archived:
		return errorResponse("is_archived")
	case !slices.Contains(conv.Members, c.user.ID):
		return response{"ok": false, "not_in_channel": true}
	case conv.Kind != PublicChannel && len(conv.Members) == 1:
		return errorResponse("last_member")
	}
	s.leaveLocked(conv.ID, c.user.ID)
	return ok(nil)
}

// conversationsKick follows https://api.slack.com/methods/conversations.kick:
// the caller removes "user" from a channel they are both in.
func (s *Server) conversationsKick(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	target := p.Get("user")
	switch {
	case conv == nil:
		return errResp
	case conv.Kind == IM || conv.Kind == MPIM:
		return errorResponse("method_not_supported_for_channel_type")
	case s.users[target] == nil:
		return errorResponse("user_not_found")
	case target == c.user.ID:
		return errorResponse("cant_kick_self")
	case conv.General:
		return errorResponse("cant_kick_from_general")
	case !slices.Contains(conv.Members, c.user.ID) || !slices.Contains(conv.Members, target):
		return errorResponse("not_in_channel")
	}
	s.leaveLocked(conv.ID, target)
	return ok(nil)
}

// storedFile is an upload in progress or done.
type storedFile struct {
	File
	owner    string
	data     []byte
	uploaded bool
	complete bool
}

// filesGetUploadURLExternal follows
// https://api.slack.com/methods/files.getUploadURLExternal: it reserves a
// file ID and an upload URL on this server.
func (s *Server) filesGetUploadURLExternal(c caller, p url.Values) any {
	name := p.Get("filename")
	length, err := strconv.Atoi(p.Get("length"))
	if name == "" || err != nil || length <= 0 {
		return errorResponse("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("F")
	s.files[id] = &storedFile{File: File{ID: id, Name: name, Size: length}, owner: c.user.ID}
	return ok(response{"upload_url": s.public + "/upload/" + id, "file_id": id})
}

// serveUpload takes the bytes of a reserved file, raw or as multipart form
// data, and answers HTTP 200 as
// https://api.slack.com/methods/files.getUploadURLExternal describes.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	var data []byte
	var err error
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		if err = r.ParseMultipartForm(64 << 20); err == nil {
			f, _, ferr := r.FormFile("file")
			if ferr != nil {
				err = ferr
			} else {
				data, err = io.ReadAll(f)
				_ = f.Close()
			}
		}
	} else {
		data, err = io.ReadAll(r.Body)
	}
	if err != nil {
		http.Error(w, "bad upload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil || f.complete {
		http.Error(w, "unknown file", http.StatusNotFound)
		return
	}
	f.data, f.uploaded = data, true
	f.Size = len(data)
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(data)))
}

// filesCompleteUploadExternal follows
// https://api.slack.com/methods/files.completeUploadExternal: "files" is
// a JSON array of {id, title}; with channel_id the files are shared there
// in one message carrying initial_comment, as a file_share message
// (https://api.slack.com/events/message/file_share).
func (s *Server) filesCompleteUploadExternal(c caller, p url.Values) any {
	var refs []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(p.Get("files")), &refs); err != nil || len(refs) == 0 {
		return errorResponse("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var done []File
	for _, ref := range refs {
		f := s.files[ref.ID]
		if f == nil || f.owner != c.user.ID || !f.uploaded || f.complete {
			return errorResponse("file_not_found")
		}
		f.complete = true
		f.Title = ref.Title
		if f.Title == "" {
			f.Title = f.Name
		}
		f.Created = time.Now().Unix()
		f.User = c.user.ID
		f.Mimetype = mimeOf(f.Name)
		f.Filetype = strings.TrimPrefix(path.Ext(f.Name), ".")
		f.URLPrivate, f.URLPrivateDownload = s.privateURLs(f.ID, f.Name)
		done = append(done, f.File)
	}
	if ch := p.Get("channel_id"); ch != "" {
		conv := s.convs[ch]
		if conv == nil || !slices.Contains(conv.Members, c.user.ID) {
			return errorResponse("channel_not_found")
		}
		m := &Message{Type: "message", Subtype: "file_share", User: c.user.ID, Text: p.Get("initial_comment"),
			Files: done, Upload: true, Team: s.team.ID, ThreadTS: p.Get("thread_ts")}
		s.storeLocked(ch, m)
	}
	summaries := make([]map[string]string, len(done))
	for i, f := range done {
		summaries[i] = map[string]string{"id": f.ID, "title": f.Title}
	}
	return ok(response{"files": summaries})
}

// AddFile stores a file as if a user had uploaded it, for messages a test
// posts with PostMessage; the returned File has working private URLs.
func (s *Server) AddFile(user, name string, data []byte) File {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("F")
	f := &storedFile{owner: user, data: data, uploaded: true, complete: true, File: File{
		ID: id, Name: name, Title: name, Size: len(data), User: user, Created: time.Now().Unix(),
		Mimetype: mimeOf(name), Filetype: strings.TrimPrefix(path.Ext(name), "."),
	}}
	f.URLPrivate, f.URLPrivateDownload = s.privateURLs(id, name)
	s.files[id] = f
	return f.File
}

// privateURLs are a file's url_private and url_private_download, with the
// path shape Slack uses ("/files-pri/TEAM-FILE/name", as in the example
// of https://api.slack.com/types/file), so clients can tell the workspace
// from the URL as they can with Slack's.
func (s *Server) privateURLs(id, name string) (string, string) {
	u := s.public + "/files-pri/" + s.team.ID + "-" + id + "/" + url.PathEscape(name)
	return u, u + "?download=1"
}

// FileData returns the bytes of an uploaded file.
func (s *Server) FileData(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil || !f.uploaded {
		return nil, false
	}
	return slices.Clone(f.data), true
}

// serveFile serves url_private: like Slack
// (https://api.slack.com/types/file#authentication) it needs the bearer
// token of a workspace member (or the d cookie for xoxc- tokens); without
// it the answer is not the file.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	teamFile, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/files-pri/"), "/")
	_, id, _ := strings.Cut(teamFile, "-")
	if _, errCode := s.authenticate(r, url.Values{}); errCode != "" {
		http.Error(w, "sign in", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	f := s.files[id]
	var data []byte
	var mt string
	if f != nil && f.complete {
		data, mt = f.data, f.Mimetype
	}
	s.mu.Unlock()
	if data == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mt)
	_, _ = w.Write(data)
}

func mimeOf(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// authRevoke follows https://api.slack.com/methods/auth.revoke: the
// calling token stops working (test=true only says it would), and the
// answer tells whether it was revoked.
func (s *Server) authRevoke(c caller, p url.Values) any {
	if p.Get("test") == "true" || p.Get("test") == "1" {
		return ok(response{"revoked": false})
	}
	s.RevokeToken(c.token.Value)
	return ok(response{"revoked": true})
}

// Revoked says whether a token was revoked (by RevokeToken or auth.revoke).
func (s *Server) Revoked(value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[value]
	return t != nil && t.revoked
}
