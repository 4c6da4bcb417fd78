package slackemu

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The methods in this file read the workspace (and open DMs). Each follows
// the documentation page named above it.

// authTest follows https://api.slack.com/methods/auth.test.
func (s *Server) authTest(c caller, _ url.Values) any {
	r := ok(response{
		"url":     "https://" + s.team.Domain + ".slack.com/",
		"team":    s.team.Name,
		"user":    c.user.Name,
		"team_id": s.team.ID,
		"user_id": c.user.ID,
	})
	if c.token.BotID != "" {
		r["bot_id"] = c.token.BotID
	}
	return r
}

// teamInfo follows https://api.slack.com/methods/team.info: the caller's
// workspace, with its icon in several sizes.
func (s *Server) teamInfo(_ caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := p.Get("team"); t != "" && t != s.team.ID {
		return errorResponse("team_not_found")
	}
	team := s.team
	team.Icon = maps.Clone(s.team.Icon)
	return ok(response{"team": team})
}

// SetTeamIcon gives the workspace an icon, served (like Slack's CDN)
// without authentication at the URLs team.info lists.
func (s *Server) SetTeamIcon(png []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teamIcon = png
	icon := map[string]any{"image_default": false}
	for _, size := range []int{34, 44, 68, 88, 102, 132, 230} {
		icon[fmt.Sprintf("image_%d", size)] = fmt.Sprintf("%s/team-icon/%s_%d.png", s.public, s.team.ID, size)
	}
	s.team.Icon = icon
}

func (s *Server) serveTeamIcon(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	png := s.teamIcon
	s.mu.Unlock()
	if png == nil {
		http.Error(w, "no icon", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}

// usersInfo follows https://api.slack.com/methods/users.info.
func (s *Server) usersInfo(_ caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[p.Get("user")]
	if u == nil || p.Get("user") == "" {
		return errorResponse("user_not_found")
	}
	cp := *u
	return ok(response{"user": &cp})
}

// userOrSelf is the "user" argument, or the caller when it is absent.
func userOrSelf(c caller, p url.Values) string {
	if id := p.Get("user"); id != "" {
		return id
	}
	return c.user.ID
}

// usersProfileGet follows https://api.slack.com/methods/users.profile.get:
// the caller's own profile unless "user" is given.
func (s *Server) usersProfileGet(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userOrSelf(c, p)]
	if u == nil {
		return errorResponse("user_not_found")
	}
	prof := u.Profile
	return ok(response{"profile": &prof})
}

// usersGetPresence follows https://api.slack.com/methods/users.getPresence:
// the caller's own presence carries the extra fields the page lists.
func (s *Server) usersGetPresence(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := userOrSelf(c, p)
	st := s.presence[id]
	if st == nil {
		return errorResponse("user_not_found")
	}
	r := ok(response{"presence": s.presenceLocked(id)})
	if id == c.user.ID {
		conns := 0
		for conn := range s.conns {
			if conn.user == id {
				conns++
			}
		}
		r["online"] = st.online
		r["auto_away"] = !st.online && !st.manualAway
		r["manual_away"] = st.manualAway
		r["connection_count"] = conns
	}
	return r
}

// usersSetPresence follows https://api.slack.com/methods/users.setPresence:
// "auto" or "away"; the user's own connections get manual_presence_change
// (https://api.slack.com/events/manual_presence_change).
func (s *Server) usersSetPresence(c caller, p url.Values) any {
	pres := p.Get("presence")
	if pres != "auto" && pres != "away" {
		return errorResponse("invalid_presence")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.presenceLocked(c.user.ID)
	s.presence[c.user.ID].manualAway = pres == "away"
	now := s.presenceLocked(c.user.ID)
	for conn := range s.conns {
		if conn.user == c.user.ID {
			conn.sendLocked(map[string]any{"type": "manual_presence_change", "presence": now})
		}
	}
	s.announcePresenceLocked(c.user.ID, before)
	return ok(nil)
}

// conversationsInfo follows https://api.slack.com/methods/conversations.info.
func (s *Server) conversationsInfo(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	if conv == nil {
		return errResp
	}
	return ok(response{"channel": s.conversationJSONLocked(conv, c.user.ID)})
}

// usersConversations follows https://api.slack.com/methods/users.conversations:
// the conversations a user is in, filtered by "types" (default
// public_channel) and paginated with "limit" and "cursor".
func (s *Server) usersConversations(c caller, p url.Values) any {
	types := p.Get("types")
	if types == "" {
		types = "public_channel"
	}
	want := map[ConversationKind]bool{}
	for _, t := range strings.Split(types, ",") {
		switch strings.TrimSpace(t) {
		case "public_channel":
			want[PublicChannel] = true
		case "private_channel":
			want[PrivateChannel] = true
		case "im":
			want[IM] = true
		case "mpim":
			want[MPIM] = true
		default:
			return errorResponse("invalid_types")
		}
	}
	user := userOrSelf(c, p)
	excludeArchived := truthy(p.Get("exclude_archived"))
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []conversationJSON
	for _, id := range sortedKeys(s.convs) {
		conv := s.convs[id]
		if !want[conv.Kind] || !slices.Contains(conv.Members, user) || (excludeArchived && conv.Archived) {
			continue
		}
		list = append(list, s.conversationJSONLocked(conv, c.user.ID))
	}
	return paged("channels", list, p)
}

// conversationsMembers follows https://api.slack.com/methods/conversations.members.
func (s *Server) conversationsMembers(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	if conv == nil {
		return errResp
	}
	return paged("members", conv.Members, p)
}

// conversationsHistory follows https://api.slack.com/methods/conversations.history:
// top-level messages (and thread broadcasts) newest first, between
// "oldest" and "latest" (exclusive unless "inclusive"), at most "limit",
// with has_more and a next_cursor to continue.
//
// The cursor is ours to choose: it is the ts of the last message returned,
// base64-encoded, and the next page continues strictly before it with the
// same oldest bound (clients repeat the other arguments, as the page
// says).
func (s *Server) conversationsHistory(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	if conv == nil {
		return errResp
	}
	limit, errCode := limitParam(p, 100, 999)
	if errCode != "" {
		return errorResponse(errCode)
	}
	oldest, latest := p.Get("oldest"), p.Get("latest")
	inclusive := truthy(p.Get("inclusive"))
	inclLatest := inclusive
	if cur := p.Get("cursor"); cur != "" {
		raw, err := base64.StdEncoding.DecodeString(cur)
		if err != nil || !strings.HasPrefix(string(raw), "before:") {
			return errorResponse("invalid_cursor")
		}
		// Only the upper bound moves; it is the last message already
		// returned, so it is never included again.
		latest, inclLatest = strings.TrimPrefix(string(raw), "before:"), false
	}
	return s.historyPage(conv, oldest, latest, inclusive, inclLatest, limit)
}

// historyPage selects messages with oldest <(=) ts <(=) latest, newest
// first; inclOldest and inclLatest say whether each bound is inclusive.
func (s *Server) historyPage(conv *conversation, oldest, latest string, inclOldest, inclLatest bool, limit int) any {
	var out []Message
	hasMore := false
	for i := len(conv.messages) - 1; i >= 0; i-- {
		m := conv.messages[i]
		if m.ThreadTS != "" && m.ThreadTS != m.TS && !m.broadcast() {
			continue // replies live in conversations.replies
		}
		if latest != "" && (tsLess(latest, m.TS) || (!inclLatest && m.TS == latest)) {
			continue
		}
		if oldest != "" && (tsLess(m.TS, oldest) || (!inclOldest && m.TS == oldest)) {
			break
		}
		if len(out) == limit {
			hasMore = true
			break
		}
		out = append(out, s.threadMessageLocked(conv, m))
	}
	return messagesPage(out, hasMore, "before:")
}

// conversationsReplies follows https://api.slack.com/methods/conversations.replies:
// "ts" names "either a thread's parent message or a message in the
// thread"; the answer is the parent, then its replies oldest first ("the
// earliest messages in the time range are returned first") between
// "oldest" and "latest" (exclusive unless "inclusive"), at most "limit"
// (default 10) messages a page, with has_more and a next_cursor. The
// parent heads the first page whatever the time range, as the thread it
// stands for, and counts towards the limit; later pages hold only
// replies. A message nobody answered is a thread of one.
//
// The cursor, ours to choose, is the ts of the last reply returned; the
// next page continues strictly after it.
func (s *Server) conversationsReplies(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv, errResp := s.channelLocked(c, p)
	if conv == nil {
		return errResp
	}
	limit, errCode := limitParam(p, 10, 1000)
	if errCode != "" {
		return errorResponse(errCode)
	}
	ts := p.Get("ts")
	m := conv.find(ts)
	if m == nil {
		return errorResponse("thread_not_found")
	}
	if m.ThreadTS != "" {
		ts = m.ThreadTS
	}
	oldest, latest := p.Get("oldest"), p.Get("latest")
	inclOldest, inclusive := truthy(p.Get("inclusive")), truthy(p.Get("inclusive"))
	var out []Message
	if cur := p.Get("cursor"); cur != "" {
		raw, err := base64.StdEncoding.DecodeString(cur)
		if err != nil || !strings.HasPrefix(string(raw), "after:") {
			return errorResponse("invalid_cursor")
		}
		oldest, inclOldest = strings.TrimPrefix(string(raw), "after:"), false
	} else if parent := conv.find(ts); parent != nil {
		out = append(out, s.threadMessageLocked(conv, parent))
	}
	hasMore := false
	for _, m := range conv.messages {
		if m.ThreadTS != ts || m.TS == ts {
			continue
		}
		if oldest != "" && (tsLess(m.TS, oldest) || (!inclOldest && m.TS == oldest)) {
			continue
		}
		if latest != "" && (tsLess(latest, m.TS) || (!inclusive && m.TS == latest)) {
			break
		}
		if len(out) >= limit {
			hasMore = true
			break
		}
		out = append(out, s.threadMessageLocked(conv, m))
	}
	return messagesPage(out, hasMore, "after:")
}

// messagesPage answers a page of history or replies; when there is more,
// the cursor is the last ts returned after the prefix that says which way
// the next page goes.
func messagesPage(out []Message, hasMore bool, cursorPrefix string) any {
	next := ""
	if hasMore {
		next = base64.StdEncoding.EncodeToString([]byte(cursorPrefix + out[len(out)-1].TS))
	}
	return ok(response{
		"messages":          nonNil(out),
		"has_more":          hasMore,
		"response_metadata": map[string]string{"next_cursor": next},
	})
}

// threadMessageLocked renders a stored message for history and replies:
// a thread's parent carries thread_ts, reply_count, reply_users_count,
// reply_users and latest_reply as they are now
// (https://api.slack.com/messaging/retrieving#finding_threads), so a
// deleted reply no longer counts.
func (s *Server) threadMessageLocked(conv *conversation, m *Message) Message {
	cp := m.clone()
	cp.Channel = ""
	cp.ReplyCount, cp.ReplyUsers, cp.ReplyUsersCount, cp.LatestReply = 0, nil, 0, ""
	for _, r := range conv.messages {
		if r.ThreadTS != m.TS || r.TS == m.TS {
			continue
		}
		cp.ThreadTS = m.TS
		cp.ReplyCount++
		cp.LatestReply = r.TS
		if who := firstNonEmpty(r.User, r.BotID); who != "" && !slices.Contains(cp.ReplyUsers, who) {
			cp.ReplyUsers = append(cp.ReplyUsers, who)
		}
	}
	cp.ReplyUsersCount = len(cp.ReplyUsers)
	return cp
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// conversationsOpen follows https://api.slack.com/methods/conversations.open:
// "users" names one person (an IM) or several (an MPIM, the caller
// included); an existing conversation is returned with already_open.
func (s *Server) conversationsOpen(c caller, p url.Values) any {
	if ch := p.Get("channel"); ch != "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		conv := s.convs[ch]
		if conv == nil || !slices.Contains(conv.Members, c.user.ID) {
			return errorResponse("channel_not_found")
		}
		return ok(response{"channel": map[string]string{"id": conv.ID}, "already_open": true})
	}
	ids := strings.Split(p.Get("users"), ",")
	if p.Get("users") == "" {
		return errorResponse("users_list_not_supplied")
	}
	if len(ids) > 8 {
		return errorResponse("too_many_users")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	members := []string{c.user.ID}
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if s.users[id] == nil {
			return errorResponse("user_not_found")
		}
		if !slices.Contains(members, id) {
			members = append(members, id)
		}
	}
	kind := IM
	if len(members) > 2 {
		kind = MPIM
	}
	before := len(s.convs)
	conv := s.openLocked(c.user.ID, members[1:], kind)
	return s.openResponse(conv, c.user.ID, p, len(s.convs) == before)
}

// openLocked finds or creates the IM or MPIM of user with others, and
// announces a new one to each member's connections
// (https://api.slack.com/events/im_created,
// https://api.slack.com/events/mpim_open).
func (s *Server) openLocked(user string, others []string, kind ConversationKind) *conversation {
	members := append([]string{user}, others...)
	for _, id := range sortedKeys(s.convs) {
		conv := s.convs[id]
		if conv.Kind == kind && sameSet(conv.Members, members) {
			return conv
		}
	}
	conv := &conversation{Conversation: Conversation{Kind: kind, Members: members, Creator: user, Created: time.Now().Unix()}}
	if kind == IM {
		conv.ID = s.newID("D")
	} else {
		conv.ID = s.newID("C")
		names := make([]string, 0, len(members))
		for _, m := range members {
			names = append(names, s.users[m].Name)
		}
		conv.Name = "mpdm-" + strings.Join(names, "--") + "-1"
	}
	s.convs[conv.ID] = conv
	for _, m := range members {
		var ev map[string]any
		if kind == IM {
			ev = map[string]any{"type": "im_created", "user": m, "channel": s.conversationJSONLocked(conv, m)}
		} else {
			ev = map[string]any{"type": "mpim_open", "user": m, "channel": conv.ID}
		}
		for rc := range s.conns {
			if rc.user == m {
				rc.sendLocked(ev)
			}
		}
	}
	return conv
}

func (s *Server) openResponse(conv *conversation, viewer string, p url.Values, already bool) any {
	r := ok(response{"channel": map[string]string{"id": conv.ID}})
	if truthy(p.Get("return_im")) {
		r["channel"] = s.conversationJSONLocked(conv, viewer)
	}
	if already {
		r["already_open"] = true
		r["no_op"] = true
	}
	return r
}

// conversationsMark follows https://api.slack.com/methods/conversations.mark:
// the mark "is broadcast via the message server to all open connections
// for the calling user" (markLocked).
func (s *Server) conversationsMark(c caller, p url.Values) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	conv := s.convs[p.Get("channel")]
	if conv == nil || !slices.Contains(conv.Members, c.user.ID) {
		return errorResponse("channel_not_found")
	}
	if p.Get("ts") == "" {
		return errorResponse("invalid_timestamp")
	}
	s.markLocked(conv, c.user.ID, p.Get("ts"))
	return ok(nil)
}

// channelLocked finds the "channel" argument among the conversations the
// caller may see; otherwise it returns the channel_not_found answer.
func (s *Server) channelLocked(c caller, p url.Values) (*conversation, any) {
	conv := s.convs[p.Get("channel")]
	if conv == nil || !s.visibleLocked(conv, c.user.ID) {
		return nil, errorResponse("channel_not_found")
	}
	return conv, nil
}

// messageLocked finds the channel and the message at the ts in the named
// argument, or returns the answer for what is missing.
func (s *Server) messageLocked(c caller, p url.Values, tsArg string) (*conversation, *Message, any) {
	conv, errResp := s.channelLocked(c, p)
	if conv == nil {
		return nil, nil, errResp
	}
	m := conv.find(p.Get(tsArg))
	if m == nil {
		return nil, nil, errorResponse("message_not_found")
	}
	return conv, m, nil
}

// paged answers one page of a list under key, with the next cursor.
func paged[T any](key string, all []T, p url.Values) any {
	page, next, errCode := paginate(all, p, 100)
	if errCode != "" {
		return errorResponse(errCode)
	}
	return ok(response{key: nonNil(page), "response_metadata": map[string]string{"next_cursor": next}})
}

// paginate cuts a list with "limit" and an offset cursor. Slack's cursors
// are opaque; ours is a base64 offset.
func paginate[T any](all []T, p url.Values, def int) ([]T, string, string) {
	limit, errCode := limitParam(p, def, 1000)
	if errCode != "" {
		return nil, "", errCode
	}
	start := 0
	if cur := p.Get("cursor"); cur != "" {
		raw, err := base64.StdEncoding.DecodeString(cur)
		n, convErr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || convErr != nil || n < 0 || n > len(all) {
			return nil, "", "invalid_cursor"
		}
		start = n
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = base64.StdEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return all[start:end], next, ""
}

func limitParam(p url.Values, def, maxLimit int) (int, string) {
	v := p.Get("limit")
	if v == "" || v == "0" {
		return def, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, "invalid_limit"
	}
	return min(n, maxLimit), ""
}

func truthy(v string) bool { return v == "true" || v == "1" }

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// nonNil makes empty lists render as [] rather than null, as Slack does.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
