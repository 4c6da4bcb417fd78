package slack

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"maunium.net/go/mautrix/id"

	"github.com/isthmus-bridge/isthmus/bridge"
)

// convInfo is what a session knows of one conversation.
type convInfo struct {
	ID       string
	Name     string
	Topic    string
	IM       bool
	MPIM     bool
	Other    string   // the other person of an IM
	Members  []string // nil until fetched
	Archived bool     // guarded by the cache's mutex once cached
}

func (c *convInfo) isDM() bool { return c.IM || c.MPIM }

// workspaceCache holds conversations and profiles a session looked up, so
// that each message does not cost a users.info call. user_change events
// refresh profiles.
type workspaceCache struct {
	mu       sync.Mutex
	convs    map[string]*convInfo
	profiles map[string]*bridge.Profile
	// marks is the user's read marker per conversation, as last sent to
	// or heard from Slack (see handle_state.go).
	marks map[string]string
}

func newWorkspaceCache() *workspaceCache {
	return &workspaceCache{convs: map[string]*convInfo{}, profiles: map[string]*bridge.Profile{}, marks: map[string]string{}}
}

func convFromSlack(c *slack.Channel) *convInfo {
	ci := &convInfo{ID: c.ID, Name: c.Name, Topic: c.Topic.Value, IM: c.IsIM, MPIM: c.IsMpIM, Other: c.User, Archived: c.IsArchived}
	if ci.Topic == "" {
		ci.Topic = c.Purpose.Value
	}
	return ci
}

// conv returns a conversation, asking conversations.info the first time.
func (s *Session) conv(ctx context.Context, id string) (*convInfo, error) {
	s.cache.mu.Lock()
	c := s.cache.convs[id]
	s.cache.mu.Unlock()
	if c == nil {
		ch, err := s.api.GetConversationInfoContext(ctx, &slack.GetConversationInfoInput{ChannelID: id})
		if err != nil {
			return nil, s.checkAuth(ctx, err)
		}
		c = convFromSlack(ch)
		s.cache.mu.Lock()
		s.cache.convs[id] = c
		s.cache.mu.Unlock()
	}
	if s.app && c.isDM() {
		return nil, errNotBridged
	}
	return c, nil
}

// members returns a conversation's member IDs, asking
// conversations.members the first time.
func (s *Session) members(ctx context.Context, c *convInfo) ([]string, error) {
	s.cache.mu.Lock()
	m := c.Members
	s.cache.mu.Unlock()
	if m != nil {
		return m, nil
	}
	if c.IM {
		m = []string{s.md.UserID, c.Other}
	} else {
		cursor := ""
		for {
			page, next, err := s.api.GetUsersInConversationContext(ctx, &slack.GetUsersInConversationParameters{ChannelID: c.ID, Cursor: cursor, Limit: 500})
			if err != nil {
				return nil, s.checkAuth(ctx, err)
			}
			m = append(m, page...)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	s.cache.mu.Lock()
	c.Members = m
	s.cache.mu.Unlock()
	return m, nil
}

// profile returns a user's display profile, asking users.info the first
// time. A failed lookup gives no profile rather than failing the event:
// the ghost then keeps the profile it had.
func (s *Session) profile(ctx context.Context, user string) *bridge.Profile {
	s.cache.mu.Lock()
	p, ok := s.cache.profiles[user]
	s.cache.mu.Unlock()
	if ok {
		return p
	}
	u, err := s.api.GetUserInfoContext(ctx, user)
	if err != nil {
		zerolog.Ctx(ctx).Debug().Str("slack_user", user).Str("error", safeError(err)).Msg("No Slack profile")
		return nil
	}
	return s.storeProfile(u)
}

// storeProfile caches and returns the profile of a Slack user object
// (https://api.slack.com/types/user): the display name the Slack app shows,
// and the avatar, which Slack serves without authentication.
func (s *Session) storeProfile(u *slack.User) *bridge.Profile {
	name := firstOf(u.Profile.DisplayName, u.Profile.RealName, u.RealName, u.Name)
	avatar := firstOf(u.Profile.ImageOriginal, u.Profile.Image192, u.Profile.Image72)
	p := &bridge.Profile{Name: name, AvatarURL: avatar}
	if avatar != "" {
		p.AvatarID = firstOf(u.Profile.AvatarHash, avatar)
	}
	s.cache.mu.Lock()
	s.cache.profiles[u.ID] = p
	s.cache.mu.Unlock()
	return p
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (s *Session) sender(ctx context.Context, user string) bridge.Sender {
	return bridge.Sender{
		ID:      userKey(s.md.TeamID, user),
		Matrix:  s.net.matrixAccount(s.md.TeamID, user),
		Profile: s.profile(ctx, user),
	}
}

// portalKey is the portal of a conversation: shared for channels, the
// receiver's own for DMs and group DMs.
func (s *Session) portalKey(c *convInfo) bridge.PortalKey {
	k := bridge.PortalKey{Network: networkID, Chat: chatKey(s.md.TeamID, c.ID)}
	if c.isDM() {
		k.Receiver = string(s.user.MXID)
	}
	return k
}

func (s *Session) queue(ctx context.Context, ev *bridge.RemoteEvent) error {
	return s.net.core.QueueRemoteEvent(ctx, ev)
}

// syncAndCatchUp runs after every (re)connect: conversations seen before
// get what was said while the session was away (conversations.history from
// the stored cursor); new ones get their portal, members and the last
// messages (config backfill).
func (s *Session) syncAndCatchUp(ctx context.Context) {
	log := zerolog.Ctx(ctx)
	convs, err := s.listConversations(ctx)
	if err != nil {
		log.Err(err).Msg("Failed to list Slack conversations")
		return
	}
	s.flushCursors(ctx)
	cursors, err := s.net.cursors(ctx, s.user.MXID, s.md.TeamID)
	if err != nil {
		log.Err(err).Msg("Failed to read Slack cursors")
		return
	}
	for _, c := range convs {
		if ctx.Err() != nil {
			return
		}
		var err error
		ts, seen := cursors[c.ID]
		switch {
		case seen:
			err = s.catchUp(ctx, c, ts)
		case c.Archived:
			// Archived before this login saw it: no portal for it.
			continue
		default:
			err = s.syncConversation(ctx, c)
		}
		if err != nil {
			log.Err(err).Str("channel", c.ID).Msg("Failed to sync Slack conversation")
		}
	}
	s.subscribePresence(ctx)
}

// listConversations pages through users.conversations
// (https://api.slack.com/methods/users.conversations).
func (s *Session) listConversations(ctx context.Context) ([]*convInfo, error) {
	var out []*convInfo
	cursor := ""
	for {
		chans, next, err := s.api.GetConversationsForUserContext(ctx, &slack.GetConversationsForUserParameters{
			// Archived channels too: one archived while the session was
			// away has its archive message to catch up on.
			Types: s.conversationTypes(), Limit: 200, Cursor: cursor,
		})
		if err != nil {
			return nil, s.checkAuth(ctx, err)
		}
		for i := range chans {
			c := convFromSlack(&chans[i])
			s.cache.mu.Lock()
			if old := s.cache.convs[c.ID]; old != nil {
				c.Members = old.Members
			}
			s.cache.convs[c.ID] = c
			s.cache.mu.Unlock()
			out = append(out, c)
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// conversationTypes are what a session bridges: everything for a user,
// channels for the app's bot (a DM portal needs a receiver).
func (s *Session) conversationTypes() []string {
	if s.app {
		return []string{"public_channel", "private_channel"}
	}
	return []string{"public_channel", "private_channel", "mpim", "im"}
}

// chatInfo describes a conversation for its portal.
func (s *Session) chatInfo(ctx context.Context, c *convInfo) (*bridge.ChatInfo, error) {
	members, err := s.members(ctx, c)
	if err != nil {
		return nil, err
	}
	info := &bridge.ChatInfo{IsDM: c.isDM(), Invite: s.invitees(members)}
	name := c.Name
	if c.IM {
		if p := s.profile(ctx, c.Other); p != nil {
			name = p.Name
		}
	}
	info.Name = &name
	if !c.IM {
		topic := c.Topic
		info.Topic = &topic
	}
	info.Members = make([]bridge.Sender, 0, len(members))
	for _, m := range members {
		if !s.net.isAppBot(s.md.TeamID, m) {
			info.Members = append(info.Members, s.sender(ctx, m))
		}
	}
	return info, nil
}

// invitees are the Matrix users logged into this workspace who are in the
// conversation: this session's user always (the app's bot has none),
// others for shared channels.
func (s *Session) invitees(members []string) []id.UserID {
	var out []id.UserID
	if s.user.MXID != "" {
		out = append(out, s.user.MXID)
	}
	for _, m := range members {
		if mx := s.net.matrixAccount(s.md.TeamID, m); mx != "" && !slices.Contains(out, mx) {
			out = append(out, mx)
		}
	}
	return out
}

// syncConversation creates a conversation's portal with its members and
// bridges its last messages, then starts its cursor.
func (s *Session) syncConversation(ctx context.Context, c *convInfo) error {
	info, err := s.chatInfo(ctx, c)
	if err != nil {
		return err
	}
	if err := s.queue(ctx, &bridge.RemoteEvent{Kind: bridge.RemoteChatInfo, Portal: s.portalKey(c), ChatInfo: info, CreatePortal: true}); err != nil {
		return err
	}
	limit := max(s.net.cfg.Backfill, 1)
	hist, _, _, err := s.history(ctx, slack.GetConversationHistoryParameters{ChannelID: c.ID, Limit: limit})
	if err != nil {
		return s.checkAuth(ctx, err)
	}
	newest := "0"
	if len(hist) > 0 {
		newest = hist[0].Timestamp
	}
	if s.net.cfg.Backfill == 0 {
		hist = nil
	}
	slices.Reverse(hist) // history is newest first
	for i := range hist {
		if err := s.onMessage(ctx, c, &hist[i].Msg); err != nil {
			return err
		}
	}
	return s.net.setCursor(ctx, s.user.MXID, s.md.TeamID, c.ID, newest)
}

// Thread replies are not in conversations.history: catch-up finds the
// threads that moved while the session was away by their parents, whose
// latest_reply says when the thread last got a reply
// (https://api.slack.com/messaging/retrieving#finding_threads). A parent
// posted before the cursor is found only if it is among the
// threadLookbackMessages messages before the cursor and at most
// threadLookback older than it: reading further back would cost every
// catch-up of a busy conversation pages of history for threads that
// rarely wake up.
const (
	threadLookback         = 7 * 24 * time.Hour
	threadLookbackMessages = 200
)

// catchUp bridges what was posted in a conversation after ts, top-level
// messages and thread replies together, oldest first, through the same
// path as live messages. Messages bridged already (live events that raced
// the catch-up) are dropped by the core's message map.
func (s *Session) catchUp(ctx context.Context, c *convInfo, since string) error {
	missed, parents, err := s.missedHistory(ctx, c, since)
	if err != nil {
		return err
	}
	if !s.app {
		// The app's bot token may not read channel threads
		// (https://api.slack.com/methods/conversations.replies): replies
		// reach it only live.
		for _, p := range parents {
			replies, err := s.missedReplies(ctx, c, p, since)
			if err != nil {
				return err
			}
			missed = append(missed, replies...)
		}
	}
	missed = sortByTS(missed)
	if len(missed) > 0 {
		zerolog.Ctx(ctx).Info().Str("channel", c.ID).Int("count", len(missed)).Int("threads", len(parents)).
			Msg("Catching up on missed Slack messages")
	}
	for i := range missed {
		if err := s.onMessage(ctx, c, &missed[i].Msg); err != nil {
			return err
		}
	}
	return nil
}

// missedHistory reads conversations.history after since, and before it as
// far as the thread lookback: it returns the messages after since and the
// thread parents (of either) with replies after since.
func (s *Session) missedHistory(ctx context.Context, c *convInfo, since string) (missed, parents []slack.Message, err error) {
	oldest := since
	if t := tsTime(since); since != "" && since != "0" && t.Unix() > int64(threadLookback/time.Second) {
		oldest = slackTS(t.Add(-threadLookback))
	}
	p := slack.GetConversationHistoryParameters{ChannelID: c.ID, Oldest: oldest, Limit: 200}
	before := 0
	for {
		page, more, next, err := s.history(ctx, p)
		if err != nil {
			return nil, nil, s.checkAuth(ctx, err)
		}
		for _, m := range page {
			if tsAfter(m.Timestamp, since) {
				missed = append(missed, m)
			} else {
				before++
			}
			if threadMovedSince(&m.Msg, since) {
				parents = append(parents, m)
			}
		}
		if !more || next == "" || before >= threadLookbackMessages {
			return missed, parents, nil
		}
		p.Cursor = next
	}
}

// threadMovedSince says whether m is a thread's parent with replies after
// since. A parent without latest_reply counts: nothing says it did not.
func threadMovedSince(m *slack.Msg, since string) bool {
	if m.ReplyCount == 0 || m.ThreadTimestamp != m.Timestamp {
		return false
	}
	return m.LatestReply == "" || tsAfter(m.LatestReply, since)
}

// missedReplies reads the replies of a thread posted after since
// (https://api.slack.com/methods/conversations.replies), oldest first. The
// parent, which Slack returns too, and replies also sent to the channel,
// which history has, are left out.
func (s *Session) missedReplies(ctx context.Context, c *convInfo, parent slack.Message, since string) ([]slack.Message, error) {
	var out []slack.Message
	p := slack.GetConversationRepliesParameters{ChannelID: c.ID, Timestamp: parent.Timestamp, Oldest: since, Limit: 200}
	for {
		page, more, next, err := s.replies(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("replies of %s: %w", parent.Timestamp, s.checkAuth(ctx, err))
		}
		for _, m := range page {
			if tsAfter(m.Timestamp, since) && inThreadOnly(&m.Msg) {
				out = append(out, m)
			}
		}
		if !more || next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}

// sortByTS orders messages oldest first and drops repeats of a ts.
func sortByTS(msgs []slack.Message) []slack.Message {
	slices.SortStableFunc(msgs, func(a, b slack.Message) int {
		switch {
		case tsAfter(a.Timestamp, b.Timestamp):
			return 1
		case tsAfter(b.Timestamp, a.Timestamp):
			return -1
		}
		return 0
	})
	return slices.CompactFunc(msgs, func(a, b slack.Message) bool { return a.Timestamp == b.Timestamp })
}
